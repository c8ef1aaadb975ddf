"""``AdaGradSolver`` (Caffe's ``adagrad_solver.cpp``): a per-element rate from the summed squared gradients."""
from __future__ import annotations

import torch

from tunewiz.engine.numbers import f32
from tunewiz.engine.solvers.blas import powx
from tunewiz.engine.solvers.sgd import SGD, SolverError


class AdaGrad(SGD):
    """AdaGrad: history += diff^2;  diff = local_rate * diff / (sqrt(history) + delta).

    Caffe: ``CHECK_EQ(0, momentum) << "Momentum cannot be used with AdaGrad."``
    """

    type_name = "AdaGrad"

    def check(self) -> None:
        super().check()
        if self.sp.momentum != 0:
            raise SolverError("Momentum cannot be used with AdaGrad: remove 'momentum' from the solver.")

    def compute_update_value(self, i: int, diff: torch.Tensor, local_rate: float) -> None:
        h = self.history[i]
        h.add_(powx(diff, 2.0))
        update = powx(h, 0.5).add_(f32(self.sp.delta))
        diff.copy_(diff.div(update).mul_(local_rate))  # axpby(local_rate, update, 0, diff)
