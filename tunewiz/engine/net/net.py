"""A Caffe net on PyTorch: ``Net(net_param, phase)`` builds every layer and runs them by blob name.

What it follows from Caffe's ``Net``:

* layers are filtered by the NetState (``tunewiz.engine.net.state``) and wired by blob name
  (``tunewiz.engine.net.graph``): in-place tops, implicit splits (a blob read by several layers
  gets the SUM of their gradients, which autograd gives for free), outputs, loss weights;
* ``propagate_down``/``force_backward``/loss reachability decide which bottoms get gradients:
  a bottom that does not need backward is detached, so it gets none, as in Caffe;
* ``net.loss(blobs) = sum over weighted tops of loss_weight * sum(top)`` (Caffe's ``Forward``
  loss), the scalar to call ``.backward()`` on;
* params shared by ``param { name: ... }`` are one ``nn.Parameter`` (owner's), with Caffe's
  checks (``tunewiz.engine.net.params``);
* ``numerics`` ("torch" or "caffe") goes to every layer as it is built, and each layer chooses the
  forward it runs (``Layer.choose_engine``: on the CPU, Caffe's summation order where the layer has
  one); ``choose_engine`` asks every layer again for a net built before the choice was known;
* the forward loop calls each layer's chosen forward (``layer.run``) directly (no nn.Module hooks:
  they cost more than the small layers); ``add_hooks`` puts checks or clocks around one layer's run,
  kept by the net — the layers themselves are never patched;
* ``shard`` = (rank, world size) goes to the data layers of a multi-rank run (:mod:`tunewiz.engine.dist`);
* precision: fp32 with TF32 off unless ``precision=`` says otherwise (``tunewiz.engine.precision``);
* a CPU net keeps the memory its iterations free for the next ones, as Caffe keeps its blobs
  (``tunewiz.engine.host_memory``: glibc would otherwise unmap big blocks and fault them in again);
* ``learnable_params()`` lists owners in layer order then blob order, with lr_mult/decay_mult
  (BatchNorm's blobs are entries with lr_mult 0, as Caffe forces).
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from tunewiz.caffe import caffe_pb2
from tunewiz.engine.net import graph as netgraph
from tunewiz.engine import precision as precision_mod
from tunewiz.engine.host_memory import keep_freed_memory
from tunewiz.engine.net.state import filter_net, make_state, phase_value
from tunewiz.engine.layers.base import Layer, check_numerics
from tunewiz.engine.layers.kernels.caffe_cpu import one_blas_thread
from tunewiz.engine.layers.registry import layer_class
from tunewiz.engine.net.params import ParamInfo, append_params


def prepare(net_param: caffe_pb2.NetParameter, phase, level: int = 0,
            stages: Iterable[str] = ()) -> caffe_pb2.NetParameter:
    """Upgrade old nets (V0/V1, input fields), then filter by the NetState."""
    from tunewiz.caffe.upgrade import upgraded_copy

    net_param, _ = upgraded_copy(net_param)
    return filter_net(net_param, make_state(net_param, phase, level, stages))


def _hooked(inner, layer, before, after):
    def run(*bottoms):
        if before is not None:
            before(layer, bottoms)
        tops = inner(*bottoms)
        if after is not None:
            after(layer, bottoms, tops)
        return tops
    return run


def _cut(t: torch.Tensor) -> torch.Tensor:
    """A bottom that gets no gradient (Caffe: bottom_need_backward false)."""
    return t.detach() if t.requires_grad else t


def automatic_tops(net_param: caffe_pb2.NetParameter) -> set[str]:
    """Caffe's ``AutoTopBlobs``: a loss layer the prototxt gives no top (Caffe's own
    ``pascal_finetune_trainval_test.prototxt`` has one) gets a blob of its own, counted in the loss but not a
    net output; Caffe names it ``(automatic)``, here ``(automatic) LAYER`` so that two never meet."""
    names = set()
    for lp in net_param.layer:
        if not len(lp.top) and layer_class(lp.type, lp.name).is_loss:
            lp.top.append(f"(automatic) {lp.name}")
            names.add(lp.top[0])
    return names


class Net(nn.Module):
    """A Caffe net for one phase (see the module docstring)."""

    def __init__(self, net_param: caffe_pb2.NetParameter, phase=caffe_pb2.TRAIN, *, level: int = 0,
                 stages: Iterable[str] = (), device="cpu", seed: int | None = None, root=None,
                 precision: str = "fp32", numerics: str = "torch", shard: tuple[int, int] | None = None):
        super().__init__()
        check_numerics(numerics)
        precision_mod.apply(precision)
        self.precision = precision
        self.phase = phase_value(phase)
        self.device = torch.device(device)
        if self.device.type == "cpu":
            keep_freed_memory()
        self.net_param = prepare(net_param, self.phase, level, stages)
        self.automatic_tops = automatic_tops(self.net_param)
        self.name = self.net_param.name
        if seed is not None and self.device.type != "meta":
            torch.manual_seed(seed)
        self.layers = nn.ModuleList()
        self.wirings: list[netgraph.Wiring] = []
        self.blob_shapes: dict[str, tuple[int, ...]] = {}
        self._infos: list[ParamInfo] = []
        self._build(seed, root, numerics, shard)
        self.output_names = [b for b in netgraph.outputs(self.wirings) if b not in self.automatic_tops]
        self._plan = self._make_plan()
        self.diff_blobs: dict[str, torch.Tensor] = {}
        self.numerics = self._engines_chosen()
        self._hooks: dict[int, list] = {}  # layer index -> [(before, after)] (add_hooks)
        self._runners: dict[int, object] = {}  # layer index -> what the loop calls instead of layer.run

    # -- building ------------------------------------------------------------------------
    def _build(self, seed, root, numerics: str, shard=None) -> None:
        owners: dict[str, tuple[int, int, ParamInfo]] = {}
        param_needs: list[bool] = []
        context = {"seed": seed, "root": root, "net": self.name, "numerics": numerics, "shard": shard}
        for lp in self.net_param.layer:
            netgraph.check_bottoms(lp, set(self.blob_shapes))
            cls = layer_class(lp.type, lp.name)
            shapes = [self.blob_shapes[b] for b in lp.bottom]
            phase = lp.phase if lp.HasField("phase") else self.phase  # Caffe: a layer's own phase wins
            layer = cls(lp, shapes, phase, self.device, context=context)
            if len(layer.top_shapes) != len(lp.top):
                raise layer.fail(f"makes {len(layer.top_shapes)} tops but the prototxt names {len(lp.top)}")
            netgraph.check_tops(lp, set(self.blob_shapes))
            for top, shape in zip(lp.top, layer.top_shapes):
                self.blob_shapes[top] = tuple(shape)
            wiring = netgraph.Wiring(lp.name, lp.type, list(lp.bottom), list(lp.top),
                                     netgraph.loss_weights(lp, layer.is_loss))
            param_needs.append(append_params(layer, owners, self._infos))
            self.layers.append(layer)
            self.wirings.append(wiring)
        self._backward_flags(param_needs)
        for info in self._infos:
            info.param.requires_grad_(bool(self.net_param.force_backward or info.lr_mult != 0))

    def _backward_flags(self, param_needs: list[bool]) -> None:
        """Caffe's backward analysis, run on the net with Split layers inserted."""
        split_param, origin = netgraph.insert_splits(self.net_param)
        wirings, needs, propagate = [], [], []
        for lp, src in zip(split_param.layer, origin):
            is_loss = src >= 0 and self.layers[src].is_loss
            wirings.append(netgraph.Wiring(lp.name, lp.type, list(lp.bottom), list(lp.top),
                                           netgraph.loss_weights(lp, is_loss)))
            needs.append(param_needs[src] if src >= 0 else False)
            propagate.append(list(lp.propagate_down) if src >= 0 and len(lp.propagate_down) else None)

        def allow(i: int, j: int) -> bool:
            return origin[i] < 0 or self.layers[origin[i]].allow_force_backward(j)

        netgraph.need_backward(wirings, needs, allow, propagate, self.net_param.force_backward)
        self._loss_tops = []
        for w, src in zip(wirings, origin):
            if src >= 0:
                mine = self.wirings[src]
                mine.need_backward, mine.bottom_need_backward = w.need_backward, w.bottom_need_backward
                mine.loss_weights = w.loss_weights
                self._loss_tops += [(t, lw) for t, lw in zip(mine.tops, w.loss_weights) if lw]
            else:
                self._loss_tops += [(w.bottoms[0], lw) for lw in w.loss_weights if lw]

    def _make_plan(self):
        """Per layer: (layer, bottoms with detach flag, tops) — the forward loop's list."""
        plan = []
        for layer, w in zip(self.layers, self.wirings):
            bottoms = [(b, not need) for b, need in zip(w.bottoms, w.bottom_need_backward)]
            plan.append((layer, bottoms, w.tops, w.need_backward))
        self._grad_inputs = {b for w in self.wirings
                             for b, need in zip(w.bottoms, w.bottom_need_backward) if need}
        return plan

    # -- running -------------------------------------------------------------------------
    def forward(self, inputs: dict[str, torch.Tensor] | None = None,
                retain_grad: bool = False) -> dict[str, torch.Tensor]:
        """One forward pass; returns every blob by name (data layers pull their next batch).

        ``inputs`` gives Input tops (and may replace any data layer's tops). With
        ``retain_grad`` the gradient of each blob as Caffe keeps its diff (for an in-place
        blob: the diff of its first version) is in ``net.diff_blobs[name].grad`` after backward.
        """
        with precision_mod.autocast(self.precision, self.device):
            return self._forward(inputs or {}, retain_grad)

    def _forward(self, inputs, retain_grad: bool) -> dict[str, torch.Tensor]:
        self.diff_blobs = {}
        return self.run_layers({}, inputs, retain_grad=retain_grad)

    def run_layers(self, blobs: dict[str, torch.Tensor], inputs=None, start: int = 0, end: int | None = None,
                   retain_grad: bool = False) -> dict[str, torch.Tensor]:
        """Run layers ``start``..``end`` (inclusive; Caffe's ``ForwardFromTo``) on ``blobs``, which holds the
        bottoms of layer ``start`` and gets every top; returns it.  The caller sets autocast."""
        inputs = inputs or {}
        runners = self._runners
        stop = len(self._plan) - 1 if end is None else end
        for i in range(start, stop + 1):
            layer, bottoms, tops, backward = self._plan[i]
            run = runners.get(i) or layer.run
            if layer.is_data:
                outs = self._data_tops(layer, tops, inputs, run)
            elif backward:  # layer.forward directly: nn.Module.__call__ adds hook handling we never use
                outs = run(*[_cut(blobs[b]) if cut else blobs[b] for b, cut in bottoms])
            else:  # Caffe skips this layer's Backward: no diffs for its bottoms or params
                with torch.no_grad():
                    outs = run(*[blobs[b] for b, _ in bottoms])
            for name, value in zip(tops, outs):
                blobs[name] = value
                if retain_grad and name not in self.diff_blobs:
                    if value.requires_grad:
                        value.retain_grad()
                    self.diff_blobs[name] = value
        return blobs

    # -- numerics and hooks ----------------------------------------------------------------
    def choose_engine(self, numerics: str) -> list[str]:
        """Every layer chooses its forward again for ``numerics`` (``Layer.choose_engine``): "caffe" gives
        Caffe's CPU summation order to the layers that have one, on a CPU net; "torch" torch's kernels
        everywhere.  Returns the layers that run Caffe's order."""
        check_numerics(numerics)
        for layer in self.layers:
            layer.choose_engine(numerics)
        self.numerics = self._engines_chosen()
        return [layer.name for layer in self.layers if layer.engine == "caffe"]

    def _engines_chosen(self) -> str:
        """What actually runs: "caffe" when a layer runs Caffe's CPU order (its BLAS then on one thread)."""
        if not any(layer.engine == "caffe" for layer in self.layers):
            return "torch"
        one_blas_thread()
        return "caffe"

    def add_hooks(self, layer: Layer, before=None, after=None) -> None:
        """Call ``before(layer, bottoms)`` / ``after(layer, bottoms, tops)`` around ``layer``'s run."""
        index = next(i for i, known in enumerate(self.layers) if known is layer)
        self._hooks.setdefault(index, []).append((before, after))
        run = lambda *bottoms, _layer=layer: _layer.run(*bottoms)  # noqa: E731 - the engine chosen at call time
        for first, then in self._hooks[index]:
            run = _hooked(run, layer, first, then)
        self._runners[index] = run

    def _data_tops(self, layer: Layer, tops: list[str], inputs, run) -> tuple[torch.Tensor, ...]:
        if all(t in inputs for t in tops):
            outs = [torch.as_tensor(inputs[t]).to(self.device, torch.float32) for t in tops]
        else:
            outs = [o.to(self.device) for o in run()]
        return tuple(o.detach().requires_grad_() if t in self._grad_inputs else o
                     for t, o in zip(tops, outs))

    def loss(self, blobs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Caffe's net loss: sum over weighted tops of ``loss_weight * sum(top)``."""
        total = None
        for top, weight in self._loss_tops:
            value = blobs[top] if blobs[top].dim() == 0 else blobs[top].sum()
            term = value if weight == 1 else weight * value
            total = term if total is None else total + term
        return torch.zeros((), device=self.device) if total is None else total

    def learnable_params(self) -> list[ParamInfo]:
        """Owned params in layer order then blob order (Caffe's learnable_params)."""
        return list(self._infos)

    def feeds(self) -> list:
        """The data feeds of the data layers (for cursor state)."""
        return [layer.feed for layer in self.layers if getattr(layer, "feed", None) is not None]

    def layer_by_name(self, name: str) -> Layer | None:
        for layer in self.layers:
            if layer.name == name:
                return layer
        return None

    def close(self) -> None:
        for feed in self.feeds():
            feed.close()
