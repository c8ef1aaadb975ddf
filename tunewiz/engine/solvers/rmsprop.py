"""``RMSPropSolver`` (Caffe's ``rmsprop_solver.cpp``): a per-element rate from a running mean of squared gradients."""
from __future__ import annotations

import torch

from tunewiz.engine.solvers.blas import axpby, powx
from tunewiz.engine.numbers import f32
from tunewiz.engine.solvers.sgd import SGD, SolverError


class RMSProp(SGD):
    """RMSProp: history = (1 - rms_decay) * diff^2 + rms_decay * history;
    diff = local_rate * diff / (sqrt(history) + delta).

    Caffe: momentum must be 0 ("Momentum cannot be used with RMSProp."), 0 <= rms_decay < 1.
    """

    type_name = "RMSProp"

    def check(self) -> None:
        super().check()
        if self.sp.momentum != 0:
            raise SolverError("Momentum cannot be used with RMSProp: remove 'momentum' from the solver.")
        if not 0 <= self.sp.rms_decay < 1:
            raise SolverError(f"rms_decay should lie between 0 and 1 (got {self.sp.rms_decay:g}).")

    def compute_update_value(self, i: int, diff: torch.Tensor, local_rate: float) -> None:
        h = self.history[i]
        decay = f32(self.sp.rms_decay)
        axpby(f32(1.0 - decay), powx(diff, 2.0), decay, h)
        update = powx(h, 0.5).add_(f32(self.sp.delta))
        diff.copy_(diff.div(update).mul_(local_rate))
