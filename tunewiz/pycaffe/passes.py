"""Forward and backward over a range of layers, as Caffe's ``Net::ForwardFromTo`` / ``BackwardFromTo``.

Forward: the bottoms of the first layer run (and every Input top) are read from the net's blobs (copies,
so a later write to ``.data`` never changes what autograd saved), each layer runs through the engine's
``run_layers``, and every top is copied back into its blob.  What each layer read and wrote is kept in a
:class:`Pass` for the backward.

Backward from layer ``start`` down to layer ``end``: Caffe's Backward reads the diff of each top that no
later layer in the range consumes (a net output's diff: what the user set, or a loss top's ``loss_weight``,
which Caffe's ``SetLossWeights`` stores there), and writes:

* every bottom's diff, for the bottoms a layer propagates to (``bottom_need_backward``); for an in-place
  blob, the diff of its first version, as Caffe's shared buffer holds last;
* param diffs, ADDED to what they hold (Caffe accumulates them until ``ClearParamDiffs``), for params with
  ``lr_mult != 0`` (Caffe's ``param_propagate_down``).

The chain rule itself is torch's autograd over the graph the forward built (``torch.autograd.grad`` with
the seeds above, so nothing below layer ``end`` is computed).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from tunewiz.engine import precision as precision_mod
from tunewiz.pycaffe import fast
from tunewiz.pycaffe.errors import PycaffeError


@dataclass
class Pass:
    """What a forward over layers ``start``..``end`` read and wrote, per layer."""

    start: int
    end: int
    bottoms: dict[int, list[torch.Tensor]] = field(default_factory=dict)
    tops: dict[int, list[torch.Tensor]] = field(default_factory=dict)


def _first_reads(engine, start: int, end: int) -> list[str]:
    """Blobs read by layers in the range before any layer in it writes them."""
    written: set[str] = set()
    reads: list[str] = []
    for wiring in engine.wirings[start:end + 1]:
        reads += [b for b in wiring.bottoms if b not in written and b not in reads]
        written.update(wiring.tops)
    return reads


def _input_tops(engine) -> list[str]:
    return [t for layer, w in zip(engine.layers, engine.wirings) if layer.param.type == "Input" for t in w.tops]


def forward(net, start: int, end: int, *, keep_data_layers: bool = False, record: bool = True) -> Pass:
    """Run layers ``start``..``end`` of ``net`` (a ``tunewiz.pycaffe.net.Net``) and store every top.

    ``keep_data_layers``: data layers give the tops their blobs hold instead of a new batch (``reshape``).
    A whole-net pass of a net that needs no backward runs the prepared inference path (``fast``)."""
    if record and not keep_data_layers and fast.usable(net, start, end):
        return fast.forward(net, Pass(start, end), _input_tops(net._engine))
    engine, device = net._engine, net._engine.device
    for blob in net._param_blobs():
        blob.push()
    feeds = _input_tops(engine)
    if keep_data_layers:
        feeds = [t for layer, w in zip(engine.layers, engine.wirings) if layer.is_data for t in w.tops]
    inputs = {t: net.blobs[t].tensor(device) for t in feeds}
    values = {}
    for name in _first_reads(engine, start, end):
        value = net.blobs[name].tensor(device)
        values[name] = value.requires_grad_() if name in engine._grad_inputs and record else value
    done = Pass(start, end)
    with precision_mod.autocast(engine.precision, device), torch.set_grad_enabled(record):
        for i in range(start, end + 1):
            done.bottoms[i] = [values[b] for b in engine.wirings[i].bottoms]
            engine.run_layers(values, inputs, i, i)
            done.tops[i] = [values[t] for t in engine.wirings[i].tops]
    for i in range(start, end + 1):
        for name in engine.wirings[i].tops:
            net.blobs[name].store(values[name].float())
    for blob in net._param_blobs():
        blob.pull()
    return done


def backward(net, done: Pass | None, start: int, end: int) -> None:
    """Caffe's ``BackwardFromTo(start, end)`` over the graph of the last forward (see the module docstring)."""
    if done is None or start > done.end or end < done.start:
        raise PycaffeError("backward needs a forward over the same layers first (call net.forward())")
    start, end = min(start, done.end), max(end, done.start)
    seeds, grads = _seeds(net, done, start, end)
    if not seeds:
        return
    wanted = _wanted(net, done, start, end)
    for blob in net._param_blobs():
        blob.push()
    with torch.enable_grad():
        got = torch.autograd.grad(seeds, [t for t, _ in wanted], grads, retain_graph=True, allow_unused=True)
    for (tensor, targets), grad in zip(wanted, got):
        for target in targets:
            if isinstance(target, str):
                net.blobs[target].store_diff(grad if grad is not None else torch.zeros_like(tensor))
            elif grad is not None:
                target.accumulate(grad)
    for blob in net._param_blobs():
        blob.pull()


def _seeds(net, done: Pass, start: int, end: int):
    """Each top that no later layer of the range reads, with the diff its blob holds."""
    engine = net._engine
    read_later: set[int] = set()
    seeds, grads = [], []
    for i in range(start, end - 1, -1):
        for name, tensor in zip(engine.wirings[i].tops, done.tops[i]):
            if id(tensor) not in read_later and tensor.requires_grad:
                seeds.append(tensor)
                grads.append(torch.as_tensor(net.blobs[name]._diff, dtype=tensor.dtype).to(tensor.device))
        read_later.update(id(t) for t in done.bottoms[i])
    return seeds, grads


def _wanted(net, done: Pass, start: int, end: int) -> list[tuple[torch.Tensor, list]]:
    """(tensor, [blob names and ParamBlobs that get its gradient]) in the order Caffe writes the diffs."""
    engine = net._engine
    by_id: dict[int, tuple[torch.Tensor, list]] = {}
    learnable = {id(info.param) for info in engine.learnable_params() if info.lr_mult != 0}
    for i in range(start, end - 1, -1):
        wiring = engine.wirings[i]
        if not wiring.need_backward:
            continue
        for name, tensor, need in zip(wiring.bottoms, done.bottoms[i], wiring.bottom_need_backward):
            if need and tensor.requires_grad:
                by_id.setdefault(id(tensor), (tensor, []))[1].append(name)
        for blob in net._layer_param_blobs(i):
            if id(blob.param) in learnable and blob.param.requires_grad and id(blob.param) not in by_id:
                by_id[id(blob.param)] = (blob.param, [blob])
    return list(by_id.values())
