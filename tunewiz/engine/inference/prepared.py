"""A net prepared for forward-only passes, and the cache that keeps one per net while its weights stay.

``infer(net, inputs, keep)`` is what ``classify``, ``forward``, pycaffe's ``Net.forward`` (of a net that
needs no backward) and the wizard's quick try run.  On a CPU net with torch's numerics it runs the
:mod:`plan`'s steps with :mod:`kernels`' calls; elsewhere (a GPU, Caffe's numerics, another precision)
the net's own forward without an autograd graph.

The prepared net holds folded, packed copies of the weights, so it is made again when they change: the
cache key is every parameter's storage and version counter (torch bumps it on each in-place write:
``copy_trained_layers``, a solver's update).  Writes through a numpy view do not bump it; whoever hands
such views out (pycaffe's ``ParamBlob.data``) calls :func:`forget`.
"""
from __future__ import annotations

import torch

from tunewiz.engine.inference import kernels
from tunewiz.engine.inference.plan import Step, plan


def _call(step: Step, net):
    layers = net.layers
    layer = layers[step.index]
    if step.kind == "conv":
        return kernels.Conv(layer, [layers[j] for j in step.folded], step.relu, step.add is not None)
    if step.kind == "ip":
        return kernels.InnerProduct(layer, step.relu)
    if step.kind == "alias":
        count = len(step.tops)
        return lambda x: (x,) * count
    if step.kind == "lrn":
        return kernels.lrn_across(layer)
    if step.kind == "pool":
        return kernels.pooling(layer)
    return kernels.torch_forward(layer)


class PreparedNet:
    """The steps of one net's forward-only pass, with their kernels made (weights folded and packed)."""

    def __init__(self, net, keep=frozenset()):
        self.net = net
        self.steps = plan(list(net.layers), net.wirings, frozenset(keep))
        self.calls = [None if step.kind == "data" else _call(step, net) for step in self.steps]

    def run(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every blob the steps make, by name (a fused layer's hidden blob is not among them)."""
        net, blobs = self.net, {}
        for step, call in zip(self.steps, self.calls):
            if call is None:
                layer = net.layers[step.index]
                outs = net._data_tops(layer, list(step.tops), inputs, layer.run)
            else:
                outs = call(*[blobs[b] for b in step.bottoms])
            for name, value in zip(step.tops, outs):
                blobs[name] = value
        return blobs


def _key(net, keep) -> tuple:
    params = net.__dict__.get("_prepared_params")
    if params is None:  # a net's parameters never change after it is built; listing them costs more than a pass
        params = net.__dict__["_prepared_params"] = list(net.parameters())
    return frozenset(keep), tuple((p.data_ptr(), p._version) for p in params)


def prepared(net, keep=()) -> PreparedNet:
    """The net's prepared pass for ``keep``, made again when a weight changed since the last one."""
    key = _key(net, keep)
    cached = net.__dict__.get("_prepared")
    if cached is None or cached[0] != key:
        cached = (key, PreparedNet(net, keep))
        net.__dict__["_prepared"] = cached
    return cached[1]


def forget(net) -> None:
    """Drop the net's prepared pass (its weights were written where torch cannot see it)."""
    net.__dict__.pop("_prepared", None)


def preparable(net) -> bool:
    """Whether ``infer`` runs the prepared steps: a CPU net, fp32, every layer on torch's kernels."""
    return net.device.type == "cpu" and net.precision == "fp32" and net.numerics == "torch"


def infer(net, inputs: dict[str, torch.Tensor] | None = None, keep=()) -> dict[str, torch.Tensor]:
    """One forward-only pass of ``net`` (an engine Net): every blob by name (see the module docstring)."""
    with torch.no_grad():
        if not preparable(net):
            return net.forward(inputs or {})
        return prepared(net, keep).run(inputs or {})
