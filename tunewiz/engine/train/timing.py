"""``caffe time`` and ``caffe test`` on PyTorch: per-layer forward/backward milliseconds, scoring a model.

time: one warm-up forward/backward ("Initial loss"), then ``iterations`` timed passes. Forward time
of a layer = its module call (forward hooks); backward time = from the moment the gradient of its
outputs is ready until the next such moment (autograd runs layers in reverse order), so the per-layer
backward figures add up to the whole backward pass.  On CUDA every mark synchronizes the device.

test: ``iterations`` forwards of the TEST net; "Batch i, name = value" per output, then
"Loss: mean" and "name = mean (* w = w*mean loss)" as Caffe's ``test()`` prints.
"""
from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import torch

from tunewiz.engine.numbers import F32, fmt


def _now(device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


class LayerClock:
    """Forward/backward time per layer of a Net, accumulated over passes."""

    def __init__(self, net) -> None:
        self.net = net
        self.device = net.device
        self.active = True
        self.forward_ms: dict[str, float] = defaultdict(float)
        self.backward_ms: dict[str, float] = defaultdict(float)
        self._start: dict[str, float] = {}
        self._marks: list[tuple[float, str]] = []
        for layer in net.layers:
            net.add_hooks(layer, self._pre(layer.name), self._post(layer.name))

    def _pre(self, name):
        def hook(module, args):
            if not self.active:
                return
            self._start[name] = _now(self.device)
        return hook

    def _post(self, name):
        def hook(module, args, outputs):
            if not self.active:
                return
            self.forward_ms[name] += (_now(self.device) - self._start[name]) * 1000
            outs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
            for out in outs:
                if isinstance(out, torch.Tensor) and out.requires_grad:
                    out.register_hook(self._grad_ready(name))
                    break
        return hook

    def _grad_ready(self, name):
        def hook(grad):
            self._marks.append((_now(self.device), name))
        return hook

    def backward(self, loss: torch.Tensor) -> float:
        """Run backward and share its time among layers; returns the total in ms."""
        self._marks = []
        t0 = _now(self.device)
        loss.backward()
        t1 = _now(self.device)
        marks = sorted(self._marks) + [(t1, None)]
        for (t, name), (t_next, _) in zip(marks, marks[1:]):
            self.backward_ms[name] += (t_next - t) * 1000
        return (t1 - t0) * 1000

    def close(self) -> None:
        self.active = False


def time_net(net, iterations: int, log) -> dict:
    """Caffe's ``time()``; returns {'forward_ms', 'backward_ms', 'layers': {name: (fwd, bwd)}} averages."""
    log.info("caffe.cpp:352", "Performing Forward")
    blobs = net.forward()
    loss = net.loss(blobs)
    log.info("caffe.cpp:357", f"Initial loss: {fmt(float(loss.detach()))}")
    log.info("caffe.cpp:358", "Performing Backward")
    if loss.requires_grad:
        loss.backward()
    clock = LayerClock(net)
    log.info("caffe.cpp:368", "*** Benchmark begins ***")
    log.info("caffe.cpp:369", f"Testing for {iterations} iterations.")
    total_f = total_b = 0.0
    t_all = time.perf_counter()
    for j in range(iterations):
        for p in net.parameters():
            p.grad = None
        t0 = _now(net.device)
        blobs = net.forward()
        loss = net.loss(blobs)
        fwd = (_now(net.device) - t0) * 1000
        bwd = clock.backward(loss) if loss.requires_grad else 0.0
        total_f, total_b = total_f + fwd, total_b + bwd
        log.info("caffe.cpp:397", f"Iteration: {j + 1} forward-backward time: {fmt(round(fwd + bwd))} ms.")
    clock.close()
    n = max(iterations, 1)
    log.info("caffe.cpp:400", "Average time per layer: ")
    layers = {}
    for layer in net.layers:
        f, b = clock.forward_ms[layer.name] / n, clock.backward_ms[layer.name] / n
        layers[layer.name] = (f, b)
        log.info("caffe.cpp:403", f"{layer.name:>10}\tforward: {f:.6f} ms.")
        log.info("caffe.cpp:406", f"{layer.name:>10}\tbackward: {b:.6f} ms.")
    log.info("caffe.cpp:409", f"Average Forward pass: {total_f / n:.6f} ms.")
    log.info("caffe.cpp:411", f"Average Backward pass: {total_b / n:.6f} ms.")
    log.info("caffe.cpp:413", f"Average Forward-Backward: {(total_f + total_b) / n:.6f} ms.")
    log.info("caffe.cpp:415", f"Total Time: {(time.perf_counter() - t_all) * 1000:.6f} ms.")
    log.info("caffe.cpp:416", "*** Benchmark ends ***")
    return {"forward_ms": total_f / n, "backward_ms": total_b / n, "layers": layers}


class TestOutputs:
    """Caffe's ``test()`` sums: each output's values and the net loss, batch by batch, in float32.

    ``add(blobs)`` folds one forward in and returns its ``(name, value)`` pairs (Caffe's "Batch i" lines);
    ``means()`` is ``{"loss": mean, "outputs": {name: mean}}`` over the batches added."""

    def __init__(self, net) -> None:
        self.net, self.batches = net, 0
        self.loss = F32(0)
        self.sums: list[tuple[str, np.float32]] = []

    def add(self, blobs) -> list[tuple[str, float]]:
        self.loss = F32(self.loss + F32(float(self.net.loss(blobs))))
        values = [(name, value) for name in self.net.output_names
                  for value in blobs[name].detach().reshape(-1).cpu().numpy().astype(F32)]
        if not self.batches:
            self.sums = [(name, F32(0)) for name, _ in values]
        self.sums = [(name, F32(total + value)) for (name, total), (_, value) in zip(self.sums, values)]
        self.batches += 1
        return [(name, float(value)) for name, value in values]

    def means(self) -> dict:
        n = F32(max(self.batches, 1))
        return {"loss": float(F32(self.loss / n)),
                "outputs": {name: float(F32(total / n)) for name, total in self.sums}}


def log_batch(log, index: int, values: list[tuple[str, float]]) -> None:
    """Caffe's per-batch lines: ``Batch i, name = value``."""
    for name, value in values:
        log.info("caffe.cpp:313", f"Batch {index}, {name} = {fmt(value)}")


def log_means(log, net, means: dict) -> None:
    """Caffe's closing lines: ``Loss: mean`` then ``name = mean (* w = w*mean loss)``."""
    from tunewiz.engine.train.nets import loss_weight_of

    log.info("caffe.cpp:318", f"Loss: {fmt(means['loss'])}")
    for name, mean in means["outputs"].items():
        weight = loss_weight_of(net, name)
        extra = f" (* {fmt(weight)} = {fmt(F32(F32(weight) * F32(mean)))} loss)" if weight else ""
        log.info("caffe.cpp:330", f"{name} = {fmt(mean)}{extra}")


def score_net(net, iterations: int, log) -> dict:
    """Caffe's ``test()``: mean of every output over ``iterations`` batches (and of the loss)."""
    log.info("caffe.cpp:290", f"Running for {iterations} iterations.")
    outputs = TestOutputs(net)
    for i in range(iterations):
        with torch.no_grad():
            log_batch(log, i, outputs.add(net.forward()))
    means = outputs.means()
    log_means(log, net, means)
    return means
