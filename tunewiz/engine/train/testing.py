"""Caffe's ``Solver::Test``: run a TEST net test_iter times and log the mean of each output.

For each output blob element: score = sum over test_iter forwards, printed as
"    Test net output #i: name = score / test_iter" (+ " (* w = w*mean loss)" for loss outputs).
With test_compute_loss the net loss is averaged too ("Test loss: ...").  A stop request between
two batches interrupts the test ("Test interrupted."), a snapshot request writes one; the solver
serves both (:meth:`~tunewiz.engine.train.solver.Solver.serve_requests`).
"""
from __future__ import annotations

import numpy as np
import torch

from tunewiz.engine.numbers import F32, fmt
from tunewiz.engine.train import nets as tn
from tunewiz.runs import events as ev


def run_test(solver, index: int):
    """Generator over ``solver.test_nets[index]``: yields snapshot events; returns a TestDone, or None
    when a stop interrupted it."""
    sp, log, net = solver.sp, solver.log, solver.test_nets[index]
    log.info("testing", f"Iteration {solver.iter}, Testing net (#{index})")
    scores: list[tuple[str, np.ndarray]] | None = None
    loss = F32(0)
    n = sp.test_iter[index]
    for _ in range(n):
        if (yield from solver.serve_requests()):
            log.info("test_interrupted", "Test interrupted.")
            return None
        try:
            with torch.no_grad():
                blobs = net.forward()
                iter_loss = F32(net.loss(blobs).item())
        except Exception as exc:
            _out_of_memory(exc, solver, index, net)
            raise
        if sp.test_compute_loss:
            loss = F32(loss + iter_loss)
        values = [(name, blobs[name].detach().reshape(-1).cpu().numpy().astype(F32)) for name in net.output_names]
        if scores is None:
            scores = [(name, v.copy()) for name, v in values]
        else:
            for (_, acc), (_, v) in zip(scores, values):
                acc += v
    return _report(solver, index, net, scores or [], loss, n)


def _out_of_memory(exc, solver, index: int, net) -> None:
    """An allocation that failed in a test: the advice of ``batchsplit.after_oom`` for the TEST batch."""
    from tunewiz.engine.checks import batchsplit
    from tunewiz.engine.checks.memcheck import allocation_error
    from tunewiz.engine.checks.memory import is_allocation_failure

    if not is_allocation_failure(exc):
        return
    batch = tn.batch_size(net)
    try:
        b, k = batchsplit.after_oom(batch)
        advice = (f"Use batch_size {b} in the TEST data layer with test_iter {solver.sp.test_iter[index] * k} "
                  "in the solver, to test as many images.")
    except batchsplit.BatchTooSmall as cant:
        advice = f"{cant}."
    raise allocation_error(exc, f"while testing net #{index} with batch_size {batch}", solver.device, advice) from None


def _report(solver, index, net, scores, loss, n) -> ev.TestDone:
    log, sp = solver.log, solver.sp
    test_loss = None
    if sp.test_compute_loss:
        test_loss = float(F32(loss / F32(n)))
        log.info("test_loss", f"Test loss: {fmt(test_loss)}")
    means = [(name, (acc / F32(n)).astype(F32)) for name, acc in scores]
    log_outputs(log, "test_output", "Test", net, means)
    outputs = {}
    for name, values in means:
        for j, mean in enumerate(values):
            outputs[name if len(values) == 1 else f"{name}[{j}]"] = float(mean)
    return ev.TestDone(solver.iter, index, outputs, test_loss)


def log_outputs(log, key: str, label: str, net, values: list) -> None:
    """ "    <label> net output #k: name = v" (+ " (* w = w*v loss)" for loss outputs), as Caffe prints them."""
    k = 0
    for name, array in values:
        weight = tn.loss_weight_of(net, name)
        for value in array:
            extra = f" (* {fmt(weight)} = {fmt(F32(F32(weight) * F32(value)))} loss)" if weight else ""
            log.info(key, f"    {label} net output #{k}: {name} = {fmt(value)}{extra}")
            k += 1


def outputs_dict(net, blobs) -> dict:
    """``{name: value}`` of a net's output blobs (``name[j]`` for blobs with several values)."""
    out = {}
    for name in net.output_names:
        values = blobs[name].detach().reshape(-1).cpu().numpy()
        for j, v in enumerate(values):
            out[name if len(values) == 1 else f"{name}[{j}]"] = float(v)
    return out
