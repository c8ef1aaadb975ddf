"""``NesterovSolver`` (Caffe's ``nesterov_solver.cpp``): SGD with Nesterov's momentum."""
from __future__ import annotations

import torch

from tunewiz.engine.solvers.blas import axpby
from tunewiz.engine.numbers import f32
from tunewiz.engine.solvers.sgd import SGD


class Nesterov(SGD):
    """Nesterov: saved = history;  history = momentum * history + local_rate * diff;
    diff = (1 + momentum) * history - momentum * saved."""

    type_name = "Nesterov"

    def compute_update_value(self, i: int, diff: torch.Tensor, local_rate: float) -> None:
        h = self.history[i]
        momentum = f32(self.sp.momentum)
        saved = h.clone()
        axpby(local_rate, diff, momentum, h)
        diff.copy_(axpby(f32(1.0 + momentum), h, -momentum, saved))
