"""Numbers as Caffe's C++ holds and prints them: float32 values and ``ostream <<`` text.

Caffe trains in C++ ``float``: :func:`f32` rounds a Python float to the float Caffe would hold, and
:data:`F32` (numpy's float32) keeps step-by-step arithmetic in float32 as Caffe's is.  :func:`fmt`
prints a number as ``std::ostream << value`` does with its default precision (6 significant digits,
like ``%g``), which is how every number in Caffe's log reads.
"""
from __future__ import annotations

import numpy as np

F32 = np.float32


def f32(x: float) -> float:
    """A value as a C++ ``float`` holds it."""
    return float(np.float32(x))


def fmt(x: float) -> str:
    """A number as C++ ``ostream <<`` prints it: 6 significant digits (%g)."""
    return f"{float(x):g}"
