"""The ONNX model of an exported program: torch.onnx's dynamo exporter, values named as the deploy's blobs.

The model is translated from the same ``torch.export`` program the ``.pt2`` holds, so both carry one set of
semantics (the engine's).  Opset :data:`OPSET`; the weights are initializers inside the file.  The
exporter's own naming is replaced afterwards: it can give an inner value a blob's name ("log" is both a
Log layer's top and the exporter's name for its aten.log node), so inner values that clash are renamed
first, then the graph inputs and outputs take the blob names, and the batch axis is called "batch".
When the exporter has no ONNX form for an op, the error names the Caffe layer the op came from.
"""
from __future__ import annotations

import contextlib
import io
import logging
import warnings

from tunewiz.export.errors import ExportError
from tunewiz.export.extra import OPSET
from tunewiz.export.program import LAYER_KEY

BATCH = "batch"


def onnx_model(program, inputs: list[str], outputs: list[str]):
    """The ``onnx.ModelProto`` of ``program`` with inputs/outputs named ``inputs``/``outputs``."""
    import torch

    quiet = io.StringIO()
    previous = logging.getLogger("torch.onnx").level
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" and progress
    try:
        with contextlib.redirect_stdout(quiet), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's own deprecations inside the exporter
            exported = torch.onnx.export(program, (), None, opset_version=OPSET, dynamo=True, verbose=False)
    except Exception as exc:  # torch.onnx's ConversionError and what it wraps
        raise _conversion_error(exc) from None
    finally:
        logging.getLogger("torch.onnx").setLevel(previous)
    model = exported.model_proto
    _name_values(model, inputs, outputs)
    _name_batch(model)
    return model


def _conversion_error(exc: Exception) -> ExportError:
    """Name the Caffe layer of the graph node the exporter was translating (found in its traceback)."""
    node, op = _failed_node(exc)
    cause = f"ONNX has no form for {op}" if op else (str(exc).strip().splitlines() or ["?"])[0]
    if node is not None and LAYER_KEY in node.meta.get("custom", {}):
        layer = node.meta["custom"][LAYER_KEY]
        return ExportError(f"layer '{layer}': cannot be written as ONNX ({cause}); "
                           "--torch OUT.pt2 exports it as a torch.export program")
    return ExportError(f"the net cannot be written as ONNX ({cause}); --torch OUT.pt2 exports it as a "
                       "torch.export program")


def _failed_node(exc: BaseException):
    """The fx node (and its op) a failed translation was at: the ``node`` local of the exporter's frames."""
    import torch.fx

    seen, found = set(), (None, None)
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            node = tb.tb_frame.f_locals.get("node")
            if isinstance(node, torch.fx.Node):
                found = (node, str(node.target))
            tb = tb.tb_next
        exc = exc.__cause__ or exc.__context__
    return found


def _name_values(model, inputs: list[str], outputs: list[str]) -> None:
    graph = model.graph
    rename = dict(zip([v.name for v in graph.input], inputs))
    rename.update(zip([v.name for v in graph.output], outputs))
    wanted = set(rename.values())
    inner = {n for node in graph.node for n in (*node.input, *node.output)} | {t.name for t in graph.initializer}
    used = inner | wanted
    for name in sorted(inner - set(rename)):
        if name in wanted:  # an inner value with a blob's name: give it a free one
            fresh, k = f"{name}__inner", 1
            while fresh in used:
                fresh, k = f"{name}__inner{k}", k + 1
            used.add(fresh)
            rename[name] = fresh
    for node in graph.node:
        node.input[:] = [rename.get(n, n) for n in node.input]
        node.output[:] = [rename.get(n, n) for n in node.output]
    for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
        value.name = rename.get(value.name, value.name)


def _name_batch(model) -> None:
    """The exporter's symbol for the batch (e.g. "s31") becomes "batch" wherever it is a whole axis."""
    graph = model.graph
    first = graph.input[0].type.tensor_type.shape.dim[0]
    symbol = first.dim_param
    if not symbol:
        return
    for value in (*graph.input, *graph.output, *graph.value_info):
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param == symbol:
                dim.dim_param = BATCH
