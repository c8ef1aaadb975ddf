"""Caffe's six solvers with Caffe's update rules, exactly (``sgd_solver.cpp`` and friends).

One update (``SGDSolver::ApplyUpdate``), after the forward/backward passes have summed the
gradients of all ``iter_size`` sub-batches into each param's ``.grad`` (Caffe's diff):

1. ``ClipGradients``: if clip_gradients >= 0 and ||diff||_2 over ALL learnable params (the summed
   gradient, before normalisation and weight decay) > clip_gradients, every diff is scaled by
   clip_gradients / ||diff||_2 (and Caffe logs "Gradient clipping: scaling down gradients ...").
2. per param, in Caffe's learnable-param order:
   ``Normalize``: diff *= 1 / iter_size (only when iter_size > 1);
   ``Regularize``: local_decay = weight_decay * decay_mult;
   L2: diff += local_decay * w;  L1: diff += local_decay * sign(w);
   ``ComputeUpdateValue(rate)`` with local_rate = rate * lr_mult (rules in each class below).
3. ``Net::Update``: w -= diff.

The element-wise steps round as Caffe's BLAS calls do on the CPU (``tunewiz.engine.blas``: ``axpy`` with
one rounding like OpenBLAS's FMA kernel, ``axpby`` = ``sscal`` then ``axpy``, ``sdot`` for the clip norm).

A param with lr_mult 0 gets local_rate 0: its update is 0 and (for SGD) its history stays zero,
but it still owns history blobs, as in Caffe's solverstate.  History layout is Caffe's: one blob per
param, and for AdaDelta/Adam all first-moment blobs followed by all second-moment blobs.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

F32 = np.float32

from tunewiz.engine.blas import axpby, axpy, sdot
from tunewiz.errors import TunewizError


class SolverError(TunewizError):
    """Solver settings Caffe refuses (with the fix)."""


def f32(x: float) -> float:
    """A value as a C++ ``float`` holds it."""
    return float(np.float32(x))


#: the old ``solver_type`` enum (SolverParameter.SolverType) -> ``type`` string
SOLVER_TYPE_NAMES = {0: "SGD", 1: "Nesterov", 2: "AdaGrad", 3: "RMSProp", 4: "AdaDelta", 5: "Adam"}


class Solver:
    """SGD: history = momentum * history + local_rate * diff;  diff = history;  w -= diff."""

    type_name = "SGD"
    #: number of history blobs per learnable param (AdaDelta/Adam: 2)
    history_sets = 1

    def __init__(self, sp, params: Sequence) -> None:
        self.sp = sp
        self.params = list(params)
        self.iteration = 0  # Caffe's iter_ at the update (the trainer sets it; Adam's t = iter + 1)
        self.check()
        self.history: list[torch.Tensor] = [
            torch.zeros_like(info.param.data) for _ in range(self.history_sets) for info in self.params
        ]

    def check(self) -> None:
        """Caffe's CHECKs for this solver (as clear errors)."""
        reg = self.sp.regularization_type
        if reg not in ("L1", "L2"):
            raise SolverError(f"unknown regularization_type '{reg}' in the solver; use \"L2\" or \"L1\".")

    # -- one update -------------------------------------------------------------------------------
    @torch.no_grad()
    def apply_update(self, rate: float) -> str | None:
        """Clip, normalize, regularize, compute the update and apply it.  Returns Caffe's clip log line."""
        diffs = [self._diff(info) for info in self.params]
        line = clip_gradients(diffs, self.sp.clip_gradients)
        for i, info in enumerate(self.params):
            diff = diffs[i]
            normalize(diff, self.sp.iter_size)
            regularize(diff, info.param.data, self.sp.weight_decay, info.decay_mult, self.sp.regularization_type)
            local_rate = f32(f32(rate) * f32(info.lr_mult))
            self.compute_update_value(i, diff, local_rate)
            info.param.data.sub_(diff)
        return line

    @staticmethod
    def _diff(info) -> torch.Tensor:
        grad = info.param.grad
        if grad is None:
            return torch.zeros_like(info.param.data)
        return grad.detach().clone()

    def compute_update_value(self, i: int, diff: torch.Tensor, local_rate: float) -> None:
        """history = momentum * history + local_rate * diff;  diff = history."""
        h = self.history[i]
        axpby(local_rate, diff, f32(self.sp.momentum), h)
        diff.copy_(h)

    # -- state ------------------------------------------------------------------------------------
    def history_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(h.shape) for h in self.history]

    def set_history(self, arrays: Sequence[np.ndarray], source: str = "the solverstate") -> None:
        """Restore history blobs (Caffe: ``CHECK_EQ(state.history_size(), history_.size())``)."""
        if len(arrays) != len(self.history):
            raise SolverError(
                f"{source} holds {len(arrays)} history blobs but this net with solver {self.type_name} needs "
                f"{len(self.history)} (Caffe: 'Incorrect length of history blobs'). It was written for "
                f"another net or solver type; resume with the matching net and solver, or start from "
                f"--weights instead.")
        for k, (h, a) in enumerate(zip(self.history, arrays)):
            a = np.asarray(a, dtype=np.float32)
            if a.size != h.numel():
                info = self.params[k % len(self.params)]
                raise SolverError(
                    f"{source}: history blob #{k} has {a.size} values but param {info.index} of layer "
                    f"'{info.layer_name}' has shape {tuple(h.shape)} ({h.numel()}); the solverstate belongs "
                    f"to another net.")
            h.copy_(torch.from_numpy(a.reshape(tuple(h.shape))).to(h.device))


class Nesterov(Solver):
    """Nesterov: saved = history;  history = momentum * history + local_rate * diff;
    diff = (1 + momentum) * history - momentum * saved."""

    type_name = "Nesterov"

    def compute_update_value(self, i: int, diff: torch.Tensor, local_rate: float) -> None:
        h = self.history[i]
        momentum = f32(self.sp.momentum)
        saved = h.clone()
        axpby(local_rate, diff, momentum, h)
        diff.copy_(axpby(f32(1.0 + momentum), h, -momentum, saved))


class AdaGrad(Solver):
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
        h.add_(diff * diff)
        update = h.sqrt().add_(f32(self.sp.delta))
        diff.copy_(diff.div(update).mul_(local_rate))  # axpby(local_rate, update, 0, diff)


class RMSProp(Solver):
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
        axpby(f32(1.0 - decay), diff * diff, decay, h)
        update = h.sqrt().add_(f32(self.sp.delta))
        diff.copy_(diff.div(update).mul_(local_rate))


class AdaDelta(Solver):
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
        axpby(one_minus, diff * diff, momentum, g)
        update = (u + delta).div_(g + delta).pow_(0.5)
        diff.mul_(update)
        axpby(one_minus, diff * diff, momentum, u)
        diff.mul_(local_rate)


class Adam(Solver):
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
        update = v.pow(0.5).add_(f32(self.sp.delta))
        diff.copy_(m.div(update).mul_(f32(local_rate * correction)))


# -- the steps shared by every solver -----------------------------------------------------------
def clip_gradients(diffs: list[torch.Tensor], clip: float) -> str | None:
    """If clip >= 0 and l2norm = sqrt(sum over params of sum(diff^2)) > clip: diff *= clip / l2norm."""
    if clip < 0:
        return None
    sumsq = F32(0)
    for d in diffs:  # Blob::sumsq_diff = cblas_sdot, summed param by param in float
        sumsq = F32(sumsq + sdot(d))
    sumsq = float(sumsq)
    l2norm = f32(math.sqrt(sumsq))
    clip = f32(clip)
    if l2norm <= clip:
        return None
    scale = f32(clip / l2norm)
    for d in diffs:
        d.mul_(scale)
    return (f"Gradient clipping: scaling down gradients (L2 norm {fmt_g(l2norm)} > {fmt_g(clip)}) "
            f"by scale factor {fmt_g(scale)}")


def normalize(diff: torch.Tensor, iter_size: int) -> None:
    """diff *= 1 / iter_size (Caffe skips it when iter_size == 1)."""
    if iter_size > 1:
        diff.mul_(f32(1.0 / iter_size))


def regularize(diff: torch.Tensor, w: torch.Tensor, weight_decay: float, decay_mult: float, kind: str) -> None:
    """local_decay = weight_decay * decay_mult;  L2: diff += local_decay * w;  L1: diff += local_decay * sign(w)."""
    local_decay = f32(f32(weight_decay) * f32(decay_mult))
    if not local_decay:
        return
    axpy(local_decay, w if kind == "L2" else torch.sign(w), diff)


def fmt_g(x: float) -> str:
    """A number as C++ ``ostream <<`` prints it (6 significant digits, like %g)."""
    return f"{x:g}"


SOLVERS = {cls.type_name: cls for cls in (Solver, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam)}


def solver_type(sp) -> str:
    """The solver's ``type`` (``solver_type`` enum honoured when ``type`` is not set)."""
    if sp.HasField("solver_type") and not sp.HasField("type"):
        return SOLVER_TYPE_NAMES[int(sp.solver_type)]
    return sp.type or "SGD"


def create_solver(sp, params: Sequence) -> Solver:
    """Caffe's SolverRegistry::CreateSolver."""
    name = solver_type(sp)
    if name not in SOLVERS:
        raise SolverError(
            f"Unknown solver type: {name} in the solver (known types: {', '.join(sorted(SOLVERS))}).")
    return SOLVERS[name](sp, params)
