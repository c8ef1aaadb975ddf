"""What stops an export before anything is traced: layers whose numbers an exported file cannot hold.

A deploy is exported as it runs at TEST.  Refused, each naming the layer, its type and why:

* ``Python`` layers run the user's own code, which neither ONNX nor ``torch.export`` can carry;
* data layers other than ``Input`` read batches from a source (the export's inputs are Input tops);
* loss and Accuracy layers need labels: a deploy has none;
* BatchNorm with ``use_global_stats: false`` uses each batch's statistics and updates its blobs;
* Dropout and STOCHASTIC pooling in the TRAIN phase draw random numbers on every pass;
* BatchReindex whose item indices are an input: a written file is checked on random inputs, which are no
  item indices.

Filter exports: its tops' item count follows the selector's values, which ONNX (NonZero) and torch.export
(a data-dependent size) both carry.

Anything else the tracer cannot follow is refused while tracing (``program``), and any difference in
the numbers after writing (``verify``).
"""
from __future__ import annotations

from tunewiz.caffe import caffe_pb2
from tunewiz.export.errors import ExportError, layer_error


def refusal(layer) -> str | None:
    """Why ``layer`` (a built engine layer) cannot be exported, or None."""
    kind = layer.param.type
    if kind == "Python":
        module, name = layer.param.python_param.module, layer.param.python_param.layer
        return (f"a Python layer runs your own code ({module}.{name}), which an ONNX file or a torch.export "
                "program cannot carry; export a net without it")
    if layer.is_data and kind != "Input":
        return ("a data layer reads its batches from a source; export the deploy net, whose inputs are "
                "Input layers")
    if layer.is_loss or kind == "Accuracy":
        return "needs labels; export the deploy net (no loss or accuracy layers)"
    if kind == "BatchNorm" and not layer.use_global_stats:
        return ("uses the statistics of each batch and updates its blobs (use_global_stats: false); "
                "a deploy uses the stored ones: set batch_norm_param { use_global_stats: true }")
    if layer.phase == caffe_pb2.TRAIN and _random(layer):
        return "draws random numbers on every pass in the TRAIN phase; export it in the TEST phase"
    return None


def _random(layer) -> bool:
    if layer.param.type == "Dropout":
        return layer.ratio > 0
    return layer.param.type == "Pooling" and layer.method == caffe_pb2.PoolingParameter.STOCHASTIC


def _index_input(layer, inputs: list[str]) -> str | None:
    if layer.param.type == "BatchReindex" and layer.param.bottom[1] in inputs:
        return (f"picks items by the values of input '{layer.param.bottom[1]}', and a written file is checked "
                "on random inputs, which are no item indices; export the net without it")
    return None


def check_exportable(net, inputs: list[str], outputs: list[str]) -> None:
    """Raise ExportError for the first layer that cannot be exported, or for inputs/outputs that cannot
    carry the deploy's blob names."""
    for layer in net.layers:
        why = refusal(layer) or _index_input(layer, inputs)
        if why:
            raise layer_error(layer, why)
    if not inputs:
        raise ExportError("the net has no Input layer: an exported net takes its blobs from Input tops "
                          "(input_param { shape { dim: ... } })")
    both = [name for name in outputs if name in inputs]
    if both:
        raise ExportError(f"blob '{both[0]}' is both an input and an output (an in-place layer on an Input top); "
                          "an exported file names each of its values once: give that layer another top")
