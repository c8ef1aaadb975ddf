"""The deploy as one ``torch.export`` program: the engine's own forward, traced with a dynamic batch.

:class:`DeployModule` wraps an engine ``Net`` (TEST phase, torch numerics): its forward takes the Input
blobs in the deploy's order and returns the chosen output blobs, so the program holds the engine's
semantics and nothing else.  While it traces, every layer's nodes are annotated with the layer's name
(``torch.fx.traceback.annotate``), pooling layers (Pooling, SPP: those with a ``portable`` flag) take their
portable path (no ceil_mode), and a layer that fixes the batch size, or that the tracer cannot follow, stops
the export naming that layer.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from tunewiz.export.errors import ExportError, layer_error
from tunewiz.errors import TunewizError

#: the example batch the program is traced with (not 0 or 1, which torch.export would fix)
TRACE_BATCH = 2
#: the key of a node's ``meta["custom"]`` that names the Caffe layer it came from
LAYER_KEY = "caffe_layer"


def input_names(net) -> list[str]:
    """The Input tops, in the deploy's order (the exported inputs)."""
    return [t for layer, w in zip(net.layers, net.wirings) if layer.param.type == "Input" for t in w.tops]


class _Trace:
    """What the hooks keep while tracing.  Not attributes of the module: torch.export puts a module's
    attributes back as they were after tracing, and a layer stored there would become a submodule."""

    def __init__(self):
        self.on = False
        self.layer = None  # the layer being traced
        self.batch = None  # the symbolic batch size
        self.annotation = None


class DeployModule(nn.Module):
    """``forward(*inputs) -> tuple of outputs`` over the engine net (see the module docstring)."""

    def __init__(self, net, inputs: list[str], outputs: list[str]):
        super().__init__()
        self.net = net
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.trace = _Trace()
        for layer in net.layers:
            net.add_hooks(layer, self._before, self._after)

    def forward(self, *xs):
        blobs = self.net.forward(dict(zip(self.inputs, xs)))
        return tuple(blobs[name] for name in self.outputs)

    def _before(self, layer, bottoms) -> None:
        trace = self.trace
        if trace.on:
            trace.layer = layer
            trace.annotation = torch.fx.traceback.annotate({LAYER_KEY: layer.name})
            trace.annotation.__enter__()

    def _after(self, layer, bottoms, tops) -> None:
        trace = self.trace
        if not trace.on:
            return
        self._close_annotation()
        if trace.batch is not None and _fixed(trace.batch):
            raise layer_error(layer, "fixes the batch size (its shape depends on the number of images), "
                                     "so it cannot be exported with a dynamic batch")
        trace.layer = None  # an error after the last layer is no layer's

    def _close_annotation(self) -> None:
        if self.trace.annotation is not None:
            self.trace.annotation.__exit__(None, None, None)
            self.trace.annotation = None

    @contextlib.contextmanager
    def traced(self):
        """Trace mode: annotations, the batch check, portable pooling; all undone after."""
        pools = [layer for layer in self.net.layers if hasattr(layer, "portable")]
        trace = self.trace
        trace.on, trace.batch, trace.layer = True, None, None
        for layer in pools:
            layer.portable = True
        try:
            yield trace
        finally:
            self._close_annotation()
            trace.on, trace.batch = False, None
            for layer in pools:
                layer.portable = False


def _fixed(size) -> bool:
    """Whether a traced batch size has been fixed to a number by a guard (the symbol specialized)."""
    from torch.fx.experimental.symbolic_shapes import is_concrete_int

    return not isinstance(size, torch.SymInt) or is_concrete_int(size)


class _BatchProbe(nn.Module):
    """Records the symbolic batch size of the first input as the trace starts, then runs the deploy."""

    def __init__(self, module: DeployModule):
        super().__init__()
        self.module = module

    def forward(self, *xs):
        self.module.trace.batch = xs[0].shape[0]
        return self.module(*xs)


def export_program(module: DeployModule) -> torch.export.ExportedProgram:
    """``torch.export.export`` of the deploy with axis 0 of every input dynamic ("batch")."""
    net = module.net
    examples = tuple(torch.zeros((TRACE_BATCH, *net.blob_shapes[name][1:])) for name in module.inputs)
    batch = torch.export.Dim("batch", min=1)
    shapes = (tuple({0: batch} for _ in examples),)
    probe = _BatchProbe(module)
    try:
        with torch.no_grad(), torch.fx.traceback.preserve_node_meta(), module.traced() as trace:
            program = torch.export.export(probe, examples, dynamic_shapes=shapes)
    except ExportError:
        raise
    except TunewizError as exc:  # the layer's own check: it does not take the traced batch of 2
        if trace.layer is None:
            raise
        reason = str(exc).split("): ", 1)[-1]
        raise layer_error(trace.layer, f"fixes the batch size, so it cannot be exported with a dynamic batch "
                                          f"(with {TRACE_BATCH} images: {reason})") from None
    except Exception as exc:  # the tracer's own errors, many kinds: name the layer it was in
        raise _trace_error(module.trace.layer, exc) from None
    return program


def _trace_error(layer, exc: Exception) -> ExportError:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if layer is None:
        return ExportError(f"torch.export cannot trace the net: {first}")
    return layer_error(layer, f"torch.export cannot trace it ({first}); this layer cannot be exported")
