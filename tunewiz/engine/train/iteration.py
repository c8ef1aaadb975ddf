"""One training iteration's passes (``Solver::Step``'s inner loop) and what its display prints.

``forward_backward``: iter_size forward/backward passes whose gradients add up in the params' ``.grad``
(Caffe's diffs); the loss is the float32 mean of the sub-batch losses.  A loss that is NaN or infinite
stops the run before the update (:class:`TrainingDiverged`, naming the last good snapshot); an
allocation that fails gets the batch_size/iter_size advice of :func:`tunewiz.engine.devices.out_of_memory`.
"""
from __future__ import annotations

import numpy as np

from tunewiz.engine.numbers import F32, fmt
from tunewiz.engine.train.nets import batch_size
from tunewiz.engine.train.testing import log_outputs
from tunewiz.errors import TunewizError


class TrainingDiverged(TunewizError):
    """The loss became NaN or infinite."""


def forward_backward(solver):
    """The iteration's passes over ``solver.net``: (mean loss as float32, the last sub-batch's blobs)."""
    from tunewiz.engine.devices import out_of_memory

    sp, net = solver.sp, solver.net
    total = F32(0)
    try:
        for _ in range(sp.iter_size):
            blobs = net.forward()
            loss = net.loss(blobs)
            if loss.requires_grad:  # a net with nothing to learn (Caffe runs it too)
                loss.backward()
            total = F32(total + F32(loss.item()))
    except Exception as exc:
        if out_of_memory(exc):
            raise out_of_memory(exc, sp=sp, batch=batch_size(net), device=solver.device) from None
        raise
    total = solver.world.mean_loss(F32(total / F32(sp.iter_size)))  # every rank sees a NaN of any rank
    if not np.isfinite(total):
        solver.log.error("iteration", f"Iteration {solver.iter}, loss = {fmt(total)}")
        raise _diverged(total, solver.iter, solver.state.last_snapshot, sp.base_lr)
    return total, blobs


def _diverged(loss, it: int, last: str | None, base_lr: float) -> TrainingDiverged:
    keep = f" The last good snapshot is {last}." if last else " No snapshot was written before it."
    return TrainingDiverged(
        f"the loss became {fmt(loss)} at iteration {it}: training diverged and was stopped "
        f"before this update.{keep} Lower base_lr in the solver (e.g. to {fmt(base_lr / 10)}) "
        f"or set clip_gradients, then start again.")


def log_train_outputs(log, net, blobs) -> None:
    """ "    Train net output #k: name = v" for the last sub-batch, as the display prints them."""
    log_outputs(log, "train_output", "Train", net,
                [(n, blobs[n].detach().reshape(-1).cpu().numpy().astype(F32)) for n in net.output_names])
