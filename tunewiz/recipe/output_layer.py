"""Find the output layer: the last layer with parameters that feeds the loss.

The search runs on the TRAIN phase.  It starts at the main loss (the last layer whose
type ends in ``Loss`` or that sets ``loss_weight``) and walks its bottoms back (except
the label) through parameter-free layers (ReLU, Dropout, Flatten, Reshape, ...) to the
nearest layer with learnable blobs.  In-place layers are handled like Caffe does: the
producer of a blob for layer *i* is the last layer before *i* that writes it.

When the net has no loss (a deploy file) or the walk finds no layer with parameters,
the fallback is the last layer with parameters, and the reason says so.  The caller
may always name another layer.
"""
from __future__ import annotations

from dataclasses import dataclass

from tunewiz.caffe import caffe_pb2
from tunewiz.recipe.layers import LayerRef, RecipeError, layers_of, param_layer_names

TRAIN = caffe_pb2.TRAIN


@dataclass
class OutputLayer:
    """The chosen layer and why it was chosen."""

    name: str
    type: str
    num_output: int | None
    reason: str


def _is_loss(ref: LayerRef) -> bool:
    return ref.type.endswith("Loss") or any(w for w in ref.msg.loss_weight)


def _producer(refs: list[LayerRef], pos: int, blob: str) -> int | None:
    """Position in ``refs`` of the last layer before ``pos`` with ``blob`` among its tops."""
    for j in range(pos - 1, -1, -1):
        if blob in refs[j].tops:
            return j
    return None


def _label_blobs(refs: list[LayerRef]) -> set[str]:
    """Tops 2.. of data layers (``label``): never walked back through."""
    out = set()
    for r in refs:
        if r.type in ("Data", "ImageData", "HDF5Data", "MemoryData", "WindowData", "Input", "DummyData"):
            out.update(r.tops[1:])
    return out


def _walk_back(refs: list[LayerRef], pos: int, labels: set[str]) -> tuple[list[int], list[str]]:
    """Breadth-first from layer ``pos``: nearest layers with parameters, and the path names."""
    frontier, seen, found, path = [pos], set(), [], []
    while frontier and not found:
        nxt = []
        for p in frontier:
            for blob in refs[p].bottoms:
                if blob in labels:
                    continue
                j = _producer(refs, p, blob)
                if j is None or j in seen:
                    continue
                seen.add(j)
                if refs[j].n_param_blobs():
                    found.append(j)
                elif refs[j].type not in ("Data", "ImageData", "Input"):
                    path.append(refs[j].name)
                    nxt.append(j)
        frontier = nxt
    return sorted(set(found)), path


def _num_output(ref: LayerRef) -> int | None:
    sub = ref.output_param()
    return int(sub.num_output) if sub is not None else None


def _describe(ref: LayerRef) -> str:
    n = _num_output(ref)
    return f"{ref.type} '{ref.name}'" + (f" with {n} outputs" if n is not None else "")


def find_output_layer(net: caffe_pb2.NetParameter, name: str | None = None) -> OutputLayer:
    """The layer to replace for new classes: ``name`` if given, else found as described above."""
    refs = layers_of(net, TRAIN)
    if name is not None:
        return _named(net, refs, name)
    losses = [i for i, r in enumerate(refs) if _is_loss(r)]
    labels = _label_blobs(refs)
    if losses:
        main = _main_loss(refs, losses)
        found, path = _walk_back(refs, main, labels)
        if found:
            ref = refs[found[-1]]
            via = f" through {', '.join(path)}" if path else ""
            why = (f"{_describe(ref)} is the last layer with parameters that feeds the loss "
                   f"'{refs[main].name}' ({refs[main].type}){via}")
            if len(found) > 1:
                others = ", ".join(refs[i].name for i in found[:-1])
                why += f"; the loss is also fed by {others} — name another with --output-layer if needed"
            return OutputLayer(ref.name, ref.type, _num_output(ref), why)
    with_params = [r for r in refs if r.n_param_blobs()]
    if not with_params:
        raise RecipeError("the net has no layer with parameters, so there is no output layer to replace; "
                          "is this the right prototxt?")
    ref = with_params[-1]
    cause = ("the net has no loss layer" if not losses
             else f"no layer with parameters feeds the loss '{refs[losses[-1]].name}'")
    why = f"{cause}, so the last layer with parameters was taken: {_describe(ref)}; name another if this is wrong"
    return OutputLayer(ref.name, ref.type, _num_output(ref), why)


def heads_of_losses(net: caffe_pb2.NetParameter) -> list[OutputLayer]:
    """For every loss of the TRAIN net (file order), the nearest layer with parameters feeding it;
    each head once (GoogLeNet: loss1/classifier, loss2/classifier, loss3/classifier)."""
    refs = layers_of(net, TRAIN)
    labels = _label_blobs(refs)
    heads: list[OutputLayer] = []
    for i, loss in enumerate(refs):
        if not _is_loss(loss):
            continue
        found, path = _walk_back(refs, i, labels)
        if not found or any(h.name == refs[found[-1]].name for h in heads):
            continue
        ref = refs[found[-1]]
        via = f" through {', '.join(path)}" if path else ""
        heads.append(OutputLayer(ref.name, ref.type, _num_output(ref),
                                 f"{_describe(ref)} feeds the loss '{loss.name}' ({loss.type}){via}"))
    return heads


def _main_loss(refs: list[LayerRef], losses: list[int]) -> int:
    """The loss with the largest weight; the last one on ties (GoogLeNet's loss3)."""
    def weight(i: int) -> float:
        w = list(refs[i].msg.loss_weight)
        return w[0] if w else 1.0

    return max(losses, key=lambda i: (weight(i), i))


def _named(net, refs: list[LayerRef], name: str) -> OutputLayer:
    match = [r for r in layers_of(net) if r.name == name]
    if not match:
        from difflib import get_close_matches

        names = param_layer_names(net)
        close = get_close_matches(name, names, n=3)
        hint = f" did you mean {', '.join(close)}?" if close else f" layers with parameters: {', '.join(names)}"
        raise RecipeError(f"no layer named '{name}' in the net;{hint}")
    ref = match[0]
    if ref.output_param() is None:
        raise RecipeError(f"layer '{name}' is a {ref.type}; only InnerProduct or Convolution layers have a "
                          "num_output to set to the class count")
    return OutputLayer(ref.name, ref.type, _num_output(ref), f"{_describe(ref)}, named by you")
