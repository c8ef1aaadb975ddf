"""``AdaDeltaSolver`` (Caffe's ``adadelta_solver.cpp``): two history sets, squared gradients and squared updates."""
from __future__ import annotations

import torch

from tunewiz.engine.solvers.blas import axpby, powx
from tunewiz.engine.numbers import f32
from tunewiz.engine.solvers.sgd import SGD


class AdaDelta(SGD):
    """AdaDelta (history g = first set, history u = second set):
    g = (1 - momentum) * diff^2 + momentum * g;
    diff = diff * sqrt((u + delta) / (g + delta));
    u = (1 - momentum) * diff^2 + momentum * u;   diff *= local_rate.
    """

    type_name = "AdaDelta"
    history_sets = 2

    def compute_update_value(self, i: int, diff: torch.Tensor, local_rate: float) -> None:
        g = self.history[i]
        u = self.history[len(self.params) + i]
        momentum = f32(self.sp.momentum)
        one_minus = f32(1.0 - momentum)
        delta = f32(self.sp.delta)
        axpby(one_minus, powx(diff, 2.0), momentum, g)
        update = powx((u + delta).div_(g + delta), 0.5)
        diff.mul_(update)
        axpby(one_minus, powx(diff, 2.0), momentum, u)
        diff.mul_(local_rate)
