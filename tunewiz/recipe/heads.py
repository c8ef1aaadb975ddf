"""Every classifier head of a net, changed together; Accuracy layers kept valid for the new class count.

A net may train several heads, one per loss (GoogLeNet: ``loss1/classifier``, ``loss2/classifier``
with loss_weight 0.3 and ``loss3/classifier``).  Each loss is walked back to the nearest layer with
parameters (:mod:`tunewiz.recipe.output_layer`); every head found is renamed and resized
(:func:`tunewiz.recipe.classes.change_classes`), else the first forward after the fine-tune would
meet a 1000-way auxiliary head and labels of another numbering.

Caffe's ``AccuracyLayer`` checks ``top_k <= classes``: a ``top_k: 5`` accuracy with 3 classes stops
Caffe at set-up, and ``top_k == classes`` counts every image as right.  Such a layer is removed
(its top is only reported, nothing reads it), and the report says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tunewiz.caffe import caffe_pb2
from tunewiz.recipe.classes import FLICKR_MULTS, ClassesPlan, change_classes, default_name
from tunewiz.recipe.layers import RecipeError, layers_of
from tunewiz.recipe.output_layer import OutputLayer, find_output_layer, heads_of_losses

TRAIN = caffe_pb2.TRAIN


@dataclass
class HeadsPlan:
    """One :class:`ClassesPlan` per head, and the Accuracy layers that were changed."""

    heads: list[ClassesPlan] = field(default_factory=list)
    accuracy: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        for cp in self.heads:
            out += [cp.output.reason, cp.consequence] + cp.changes + cp.rewired
        return out + self.accuracy

    @property
    def warnings(self) -> list[str]:
        return [w for cp in self.heads for w in cp.warnings]


def find_heads(net: caffe_pb2.NetParameter, names: tuple[str, ...] = ()) -> list[OutputLayer]:
    """The heads to change: those named, else the layer each loss is fed by (at least the main one)."""
    if names:
        return [find_output_layer(net, name) for name in names]
    found = heads_of_losses(net)
    return found or [find_output_layer(net)]


def change_heads(train_val: caffe_pb2.NetParameter, num_classes: int, *, run: str = "",
                 deploy: caffe_pb2.NetParameter | None = None, outputs: tuple[str, ...] = (),
                 renames: tuple[str, ...] = (), mults=FLICKR_MULTS) -> HeadsPlan:
    """Rename and resize every head (in place, both files); fix the Accuracy layers; return the plan."""
    heads = find_heads(train_val, outputs)
    if renames and len(renames) != len(heads):
        names = ", ".join(h.name for h in heads)
        raise RecipeError(f"--rename gives {len(renames)} name(s) for {len(heads)} head(s) ({names}); give one "
                          "new name per head, comma separated in that order, or leave --rename out")
    for head in heads:
        _check_not_shared(train_val, head.name)
    plan = HeadsPlan()
    for i, head in enumerate(heads):
        new = renames[i] if renames else default_name(head.name, run)
        in_deploy = deploy is not None and any(r.name == head.name for r in layers_of(deploy))
        aux = len(heads) > 1 and not in_deploy  # GoogLeNet's deploy has loss3 only: nothing to say
        plan.heads.append(change_classes(train_val, num_classes, run=run, deploy=None if aux else deploy,
                                         output=head, new_name=new, mults=mults))
    plan.accuracy = fix_accuracy(train_val, num_classes)
    if deploy is not None:
        plan.accuracy += fix_accuracy(deploy, num_classes, "deploy")
    return plan


def _param_names(ref) -> set[str]:
    """The share names of a layer's blobs (V1: ``param: "name"``; V2: ``param { name: … }``)."""
    names = list(ref.msg.param) if ref.v1 else [p.name for p in ref.msg.param]
    return {n for n in names if n}


def _check_not_shared(net: caffe_pb2.NetParameter, name: str) -> None:
    """A head whose blobs are shared by name with another layer cannot change shape alone."""
    shared = _param_names(next(r for r in layers_of(net) if r.name == name))
    others = [r.name for r in layers_of(net) if r.name != name and shared & _param_names(r)]
    if others:
        raise RecipeError(f"head '{name}' shares its weights (param name {', '.join(sorted(shared))}) with "
                          f"{', '.join(others)}: resizing it alone would break the sharing; remove the param name "
                          "from both, or name another head with --output-layer")


def fix_accuracy(net: caffe_pb2.NetParameter, num_classes: int, label: str = "train_val") -> list[str]:
    """Remove Accuracy layers whose ``top_k`` is not below the class count; the report lines."""
    lines = []
    for ref in reversed(layers_of(net)):
        if ref.type != "Accuracy":
            continue
        k = ref.msg.accuracy_param.top_k if not ref.v1 else ref.msg.accuracy_param.top_k
        if k < num_classes:
            continue
        readers = [r.name for r in layers_of(net) if set(r.bottoms) & set(ref.tops)]
        if readers:
            raise RecipeError(f"{label}: Accuracy layer '{ref.name}' has top_k {k}, not below the {num_classes} "
                              f"classes, and {', '.join(readers)} read(s) its output; lower its top_k by hand")
        seq = net.layers if ref.v1 else net.layer
        del seq[ref.index]
        lines.append(f"{label}: Accuracy layer '{ref.name}' removed: top_k {k} with {num_classes} classes "
                     f"{'counts every image as right' if k == num_classes else 'stops Caffe (top_k must be <= classes)'}")
    return list(reversed(lines))
