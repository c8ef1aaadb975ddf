"""Caffe's ``Solver::Test``: run a TEST net test_iter times and log the mean of each output.

For each output blob element: score = sum over test_iter forwards, printed as
"    Test net output #i: name = score / test_iter" (+ " (* w = w*mean loss)" for loss outputs).
With test_compute_loss the net loss is averaged too ("Test loss: ...").  A stop request between
two batches interrupts the test ("Test interrupted."), a snapshot request writes one.
"""
from __future__ import annotations

import numpy as np
import torch

from tunewiz.engine import events as ev
from tunewiz.engine import trainnets as tn
from tunewiz.engine.caffelog import fmt

F32 = np.float32


def run_test(trainer, index: int, net):
    """Generator: yields snapshot events; returns a TestDone, or None when interrupted."""
    sp, log, it = trainer.sp, trainer.log, trainer.st.iter
    log.info("testing", f"Iteration {it}, Testing net (#{index})")
    scores: list[tuple[str, np.ndarray]] | None = None
    loss = F32(0)
    n = sp.test_iter[index]
    for _ in range(n):
        request = trainer._request()
        while request is not None:
            if request == "snapshot":
                yield from trainer._snapshot()
            else:
                trainer.early_exit = True
                break
            request = trainer._request()
        if trainer.early_exit:
            break
        with torch.no_grad():
            blobs = net.forward()
            iter_loss = F32(net.loss(blobs).item())
        if sp.test_compute_loss:
            loss = F32(loss + iter_loss)
        values = [(name, blobs[name].detach().reshape(-1).cpu().numpy().astype(F32)) for name in net.output_names]
        if scores is None:
            scores = [(name, v.copy()) for name, v in values]
        else:
            for (_, acc), (_, v) in zip(scores, values):
                acc += v
    if trainer.early_exit:
        log.info("test_interrupted", "Test interrupted.")
        return None
    return _report(trainer, index, net, scores or [], loss, n)


def _report(trainer, index, net, scores, loss, n):
    log, sp = trainer.log, trainer.sp
    test_loss = None
    if sp.test_compute_loss:
        test_loss = float(F32(loss / F32(n)))
        log.info("test_loss", f"Test loss: {fmt(test_loss)}")
    outputs, k = {}, 0
    for name, acc in scores:
        weight = tn.loss_weight_of(net, name)
        for j, total in enumerate(acc):
            mean = F32(total / F32(n))
            extra = f" (* {fmt(weight)} = {fmt(F32(F32(weight) * mean))} loss)" if weight else ""
            log.info("test_output", f"    Test net output #{k}: {name} = {fmt(mean)}{extra}")
            outputs[name if len(acc) == 1 else f"{name}[{j}]"] = float(mean)
            k += 1
    return ev.TestDone(trainer.st.iter, index, outputs, test_loss)
