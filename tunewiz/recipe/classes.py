"""Change the number of classes in one step (train_val and deploy together).

Caffe matches weights by layer NAME only (``Net::CopyTrainedLayersFrom``):

* a renamed output layer is not in the pretrained caffemodel, so it starts from its
  ``weight_filler`` (Caffe logs ``Ignoring source layer fc8`` and nothing else);
* a layer that keeps its name is copied — and when ``num_output`` changed, Caffe stops
  with ``Cannot copy param 0 weights from layer 'fc8'; shape mismatch ... rename the layer``.

So the default renames the layer ``<name>_<run>`` (fc8 -> fc8_flickr, as Caffe's
flickr example), renames its top the same way, and rewires every later layer that
read the old top (loss, accuracy, softmax) in both files.  The new layer learns
faster than the copied ones: ``param { lr_mult: 10 decay_mult: 1 } param { lr_mult: 20
decay_mult: 0 }`` (flickr style) unless the caller gives other multipliers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tunewiz.caffe import caffe_pb2
from tunewiz.recipe.layers import LayerRef, RecipeError, iter_named, layers_of
from tunewiz.recipe.output_layer import OutputLayer, find_output_layer

FLICKR_MULTS = ((10.0, 1.0), (20.0, 0.0))
_SENSIBLE = {"gaussian", "xavier", "msra", "uniform", "positive_unitball"}


@dataclass
class ClassesPlan:
    """What the class change did, and what it means for the weights."""

    output: OutputLayer
    new_name: str
    num_classes: int
    renamed: bool
    rewired: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def consequence(self) -> str:
        old = self.output.name
        if self.renamed:
            return (f"'{old}' is renamed '{self.new_name}': Caffe finds no '{self.new_name}' in the pretrained "
                    f"weights, so it starts fresh from its weight_filler (and 'Ignoring source layer {old}' "
                    "is expected); every other layer is copied by name")
        if self.output.num_output not in (None, self.num_classes):
            return (f"'{old}' keeps its name but changes from {self.output.num_output} to {self.num_classes} "
                    f"outputs: copying its weights fails with a shape mismatch — rename it to learn it fresh")
        return f"'{old}' keeps its name and shape, so its pretrained weights are copied too"


def check_class_count(num_classes: int, where: str = "--classes") -> None:
    """A classifier needs at least two classes.  The count checked here was given (``where``: the flag or
    field that gave it); the data's own count is checked where it is read (``data_edits.classes_from_db``),
    so this message never blames the data."""
    if num_classes < 2:
        raise RecipeError(f"{where} {num_classes}: {where} must be at least 2 (a classifier needs two classes or "
                          "more); give the number of classes in the data, or leave it out to count them")


def default_name(old: str, run: str) -> str:
    """Caffe's example naming: ``fc8`` + run ``flickr`` -> ``fc8_flickr``."""
    return f"{old}_{run}" if run else f"{old}_new"


def change_classes(train_val: caffe_pb2.NetParameter, num_classes: int, *, run: str = "",
                   deploy: caffe_pb2.NetParameter | None = None, output: str | OutputLayer | None = None,
                   new_name: str | None = None,
                   mults: tuple[tuple[float, float], ...] | None = FLICKR_MULTS) -> ClassesPlan:
    """Edit ``train_val`` (and ``deploy``) in place; return the plan.

    ``mults=None`` keeps the file's multipliers on the output layer; ``output`` is a layer name, one
    already found (with its reason), or None to find the main head.
    """
    check_class_count(num_classes)
    out = output if isinstance(output, OutputLayer) else find_output_layer(train_val, output)
    name = new_name or default_name(out.name, run)
    plan = ClassesPlan(out, name, num_classes, renamed=name != out.name)
    if plan.renamed and any(True for _ in iter_named(train_val, name)):
        raise RecipeError(f"a layer named '{name}' already exists in the net; choose another with --rename")
    old_top = _edit_layers(train_val, out.name, name, num_classes, mults, plan, "train_val")
    plan.rewired += _rewire(train_val, out.name, old_top, name if plan.renamed else old_top, "train_val")
    if deploy is not None:
        if not any(True for _ in iter_named(deploy, out.name)):
            plan.warnings.append(f"the deploy prototxt has no layer '{out.name}'; it was left unchanged")
        else:
            d_top = _edit_layers(deploy, out.name, name, num_classes, None, plan, "deploy")
            plan.rewired += _rewire(deploy, out.name, d_top, name if plan.renamed else d_top, "deploy")
    if not plan.renamed and out.num_output not in (None, num_classes):
        plan.warnings.append(plan.consequence)
    return plan


def _edit_layers(net, old: str, new: str, n: int, mults, plan: ClassesPlan, label: str) -> str:
    """Rename/resize every layer called ``old`` (one per phase); return its old top."""
    old_top, first = "", len(plan.changes)
    for ref in list(iter_named(net, old)):
        sub = ref.output_param()
        if sub is None:
            raise RecipeError(f"{label}: layer '{old}' is a {ref.type} and has no num_output")
        old_top = ref.tops[0] if ref.tops else old
        if new != old:
            ref.msg.name = new
            if ref.tops and ref.tops[0] == old_top:
                ref.msg.top[0] = new
        if sub.num_output != n:
            plan.changes.append(f"{label}: {new}.num_output {sub.num_output} -> {n}")
            sub.num_output = n
        if mults is not None:
            _set_mults(ref, mults, plan, label)
        if label == "train_val":
            _check_filler(ref, sub, plan)
    if new != old:
        plan.changes.insert(first, f"{label}: layer '{old}' renamed '{new}' (top '{old_top}' -> '{new}')")
    return old_top


def _set_mults(ref: LayerRef, mults, plan: ClassesPlan, label: str) -> None:
    n = ref.n_param_blobs()
    want = [tuple(map(float, m)) for m in mults[:n]]
    if ref.multipliers() != want:
        ref.set_multipliers(want)
        text = ", ".join(f"lr_mult {lr:g} decay_mult {dm:g}" for lr, dm in want)
        plan.changes.append(f"{label}: {ref.name} learns faster than the copied layers: {text}")


def _check_filler(ref: LayerRef, sub, plan: ClassesPlan) -> None:
    """Keep a sensible weight filler; replace a missing/constant one with gaussian std 0.01."""
    wf = sub.weight_filler
    if sub.HasField("weight_filler") and wf.type in _SENSIBLE and _not_degenerate(wf):
        return
    before = wf.type if sub.HasField("weight_filler") else "none (constant 0)"
    wf.Clear()
    wf.type, wf.std = "gaussian", 0.01
    plan.changes.append(f"train_val: {ref.name}.weight_filler {before} -> gaussian std 0.01 "
                        "(a fresh layer needs random weights; constant weights never break symmetry)")
    if getattr(sub, "bias_term", True) and not sub.HasField("bias_filler"):
        sub.bias_filler.type, sub.bias_filler.value = "constant", 0.0


def _not_degenerate(wf) -> bool:
    if wf.type == "gaussian":
        return wf.std > 0
    if wf.type == "uniform":
        return wf.max > wf.min
    return True


def _rewire(net, old_layer: str, old_top: str, new_top: str, label: str) -> list[str]:
    """Point every layer after the output layer that reads ``old_top`` at ``new_top``."""
    if old_top == new_top:
        return []
    refs = layers_of(net)
    owners = [r.index for r in refs if r.name in (old_layer, new_top) and new_top in r.tops + [old_top]]
    start = min(owners) if owners else 0
    rewired = []
    for ref in refs:
        if ref.index <= start or ref.name in (old_layer, new_top):
            continue
        touched = False
        for i, b in enumerate(ref.msg.bottom):
            if b == old_top:
                ref.msg.bottom[i] = new_top
                touched = True
        for i, t in enumerate(ref.msg.top):
            if t == old_top and new_top in list(ref.msg.bottom):  # in-place layer on the output
                ref.msg.top[i] = new_top
                touched = True
        if touched:
            rewired.append(f"{label}: {ref.name} ({ref.type}) now reads '{new_top}'")
    return rewired
