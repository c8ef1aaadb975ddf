"""``AdamSolver`` (Caffe's ``adam_solver.cpp``): bias-corrected first and second moments."""
from __future__ import annotations

import math

import torch

from tunewiz.engine.solvers.blas import axpby, powx
from tunewiz.engine.numbers import f32
from tunewiz.engine.solvers.sgd import SGD


class Adam(SGD):
    """Adam (m = first set, v = second set), t = iter + 1:
    m = (1 - beta1) * diff + beta1 * m;   v = (1 - beta2) * diff^2 + beta2 * v;
    diff = local_rate * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + delta),
    with beta1 = momentum, beta2 = momentum2.
    """

    type_name = "Adam"
    history_sets = 2

    def compute_update_value(self, i: int, diff: torch.Tensor, local_rate: float) -> None:
        m = self.history[i]
        v = self.history[len(self.params) + i]
        beta1, beta2 = f32(self.sp.momentum), f32(self.sp.momentum2)
        t = self.iteration + 1
        correction = f32(math.sqrt(1.0 - math.pow(beta2, t)) / (1.0 - math.pow(beta1, t)))
        axpby(f32(1.0 - beta1), diff, beta1, m)
        axpby(f32(1.0 - beta2), diff * diff, beta2, v)
        update = powx(v, 0.5).add_(f32(self.sp.delta))
        diff.copy_(m.div(update).mul_(f32(local_rate * correction)))
