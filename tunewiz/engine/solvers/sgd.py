"""``SGDSolver`` (Caffe's ``sgd_solver.cpp``): the update every solver shares, and plain SGD's rule.

One update (``SGDSolver::ApplyUpdate``), after the forward/backward passes have summed the
gradients of all ``iter_size`` sub-batches into each param's ``.grad`` (Caffe's diff):

1. ``ClipGradients``: if clip_gradients >= 0 and ||diff||_2 over ALL learnable params (the summed
   gradient, before normalisation and weight decay) > clip_gradients, every diff is scaled by
   clip_gradients / ||diff||_2 (and Caffe logs "Gradient clipping: scaling down gradients ...").
2. per param, in Caffe's learnable-param order:
   ``Normalize``: diff *= 1 / iter_size (only when iter_size > 1);
   ``Regularize``: local_decay = weight_decay * decay_mult;
   L2: diff += local_decay * w;  L1: diff += local_decay * sign(w);
   ``ComputeUpdateValue(rate)`` with local_rate = rate * lr_mult (the rule of each solver class).
3. ``Net::Update``: w -= diff.

The element-wise steps round as Caffe's BLAS calls do on the CPU (``tunewiz.engine.solvers.blas``: ``axpy`` with
one rounding like OpenBLAS's FMA kernel, ``axpby`` = ``sscal`` then ``axpy``, ``sdot`` for the clip norm).

A param with lr_mult 0 gets local_rate 0: its update is 0 and (for SGD) its history stays zero,
but it still owns history blobs, as in Caffe's solverstate.  History layout is Caffe's: one blob per
param, and for AdaDelta/Adam all first-moment blobs followed by all second-moment blobs; the solver
puts it into a solverstate (:meth:`SGD.history_arrays`) and takes it back (:meth:`SGD.set_history`).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from tunewiz.engine.solvers.blas import axpby, axpy, sdot
from tunewiz.engine.numbers import F32, f32, fmt
from tunewiz.errors import TunewizError


class SolverError(TunewizError):
    """Solver settings Caffe refuses (with the fix)."""


class SGD:
    """SGD: history = momentum * history + local_rate * diff;  diff = history;  w -= diff."""

    type_name = "SGD"
    #: number of history blobs per learnable param (AdaDelta/Adam: 2)
    history_sets = 1

    def __init__(self, sp, params: Sequence) -> None:
        self.sp = sp
        self.params = list(params)
        self.iteration = 0  # Caffe's iter_ at the update (Adam's t = iter + 1)
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
    def apply_update(self, rate: float, iteration: int = 0) -> str | None:
        """Clip, normalize, regularize, compute the update and apply it at Caffe's ``iter_`` = ``iteration``.

        Returns Caffe's clip log line (or None)."""
        self.iteration = iteration
        diffs = [_diff(info) for info in self.params]
        line = clip_gradients(diffs, self.sp.clip_gradients)
        for i, info in enumerate(self.params):
            diff = diffs[i]
            normalize(diff, self.sp.iter_size)
            regularize(diff, info.param.data, self.sp.weight_decay, info.decay_mult, self.sp.regularization_type)
            local_rate = f32(f32(rate) * f32(info.lr_mult))
            self.compute_update_value(i, diff, local_rate)
            info.param.data.sub_(diff)
        return line

    def compute_update_value(self, i: int, diff: torch.Tensor, local_rate: float) -> None:
        """history = momentum * history + local_rate * diff;  diff = history."""
        h = self.history[i]
        axpby(local_rate, diff, f32(self.sp.momentum), h)
        diff.copy_(h)

    # -- state in a solverstate -------------------------------------------------------------------
    def history_arrays(self) -> list[np.ndarray]:
        """The history blobs in Caffe's order, as float32 arrays (``SnapshotSolverState``)."""
        return [h.detach().cpu().numpy().astype(np.float32) for h in self.history]

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


def _diff(info) -> torch.Tensor:
    grad = info.param.grad
    if grad is None:
        return torch.zeros_like(info.param.data)
    return grad.detach().clone()


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
    return (f"Gradient clipping: scaling down gradients (L2 norm {fmt(l2norm)} > {fmt(clip)}) "
            f"by scale factor {fmt(scale)}")


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
