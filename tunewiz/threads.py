"""How torch's CPU worker threads wait between parallel regions: briefly (no torch import here).

torch's CPU wheels run their intra-op threads on GNU OpenMP, whose idle workers spin for about 300 000
iterations (``GOMP_SPINCOUNT``) after each parallel region before they sleep.  The exact CPU path
(``--numerics caffe``) runs its BLAS calls and copies on a helper thread between torch's small ops
(pooling, ReLU), and a spinning worker takes the core that thread needs: LeNet b64 forward+backward
took 21 ms with the default spin, 16 ms with 10 000 spins, while torch's own kernels
(``--numerics torch``) ran the same (``bench/cpu_speed.py`` measures both).  libgomp reads the
variable once, when torch loads it, so :func:`spin_briefly` runs before the first ``import torch``
(``tunewiz.cli`` and ``tunewiz.engine`` call it); a value the user set is kept.
"""
from __future__ import annotations

import os
import sys

#: libgomp's idle spins before a worker sleeps (its default is 300000)
SPINS = "10000"


def spin_briefly() -> None:
    """Set ``GOMP_SPINCOUNT`` (unless set) while torch is not imported yet; afterwards it does nothing."""
    if "torch" not in sys.modules:
        os.environ.setdefault("GOMP_SPINCOUNT", SPINS)
