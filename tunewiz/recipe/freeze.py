"""Freeze the first layers of a net: "freeze through layer X".

Caffe's update for a parameter blob is ``local_rate = base_lr * lr_mult`` and
``local_decay = weight_decay * decay_mult`` (``SGDSolver::ApplyUpdate``,
``Regularize``); ``lr_mult: 0`` therefore keeps a blob bit for bit (the reference
run ``training/sgd_lrmult`` shows it).  Freezing sets ``lr_mult: 0 decay_mult: 0`` on
every learnable blob of every layer up to and including X (file order, all phases);
layers after X get the multipliers they had in ``reference`` (the file as it was
before freezing) back.  A V1 file is written back with ``blobs_lr: 0`` /
``weight_decay: 0`` (see ``tunewiz.recipe.layers``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from difflib import get_close_matches

from tunewiz.caffe import caffe_pb2
from tunewiz.recipe.layers import RecipeError, layers_of, param_layer_names


@dataclass
class FreezePlan:
    """Which layers are frozen and how many parameters still learn."""

    through: str
    frozen: list[str]
    trainable: list[str]
    trainable_params: int | None = None
    total_params: int | None = None
    changes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"frozen (lr_mult 0, decay_mult 0): {', '.join(self.frozen) or 'none'}; " \
               f"learning: {', '.join(self.trainable) or 'none'}"
        if self.trainable_params is not None:
            text += f"; {self.trainable_params:,} of {self.total_params:,} parameters stay trainable"
        return text


def freeze_through(net: caffe_pb2.NetParameter, through: str,
                   reference: caffe_pb2.NetParameter | None = None,
                   param_counts: dict[str, list[int]] | None = None) -> FreezePlan:
    """Freeze layers up to ``through`` in place; unfreeze later ones to ``reference``'s values.

    ``param_counts`` (layer name -> element count per blob, e.g. from shape inference)
    lets the plan count the trainable parameters.
    """
    names = param_layer_names(net)
    cut = _position(net, names, through)
    ref_layers = {r.name: r for r in layers_of(reference)} if reference is not None else {}
    frozen, trainable, changes = names[: cut + 1], names[cut + 1:], []
    if not trainable:
        raise RecipeError(f"--freeze-through {through}: that freezes every layer with parameters, so nothing "
                          f"would learn; freeze through an earlier layer (e.g. {names[-2] if len(names) > 1 else '?'})")
    for ref in layers_of(net):
        n = ref.n_param_blobs()
        if not n:
            continue
        if ref.name in frozen:
            want = [(0.0, 0.0)] * n
            if ref.multipliers() != want:
                ref.set_multipliers(want)
                changes.append(f"{ref.name}: frozen (lr_mult 0, decay_mult 0 on {n} blob{'s' * (n > 1)})")
        elif ref.name in ref_layers and ref.multipliers() != ref_layers[ref.name].multipliers():
            ref.restore_multipliers(ref_layers[ref.name].raw_multipliers())
            changes.append(f"{ref.name}: learning again with the file's multipliers {ref.multipliers()}")
    learning = set(trainable_layers(net))
    kept = [n for n in trainable if n not in learning]
    if kept:
        changes.append(f"kept frozen as in the file (lr_mult 0): {', '.join(kept)}")
    plan = FreezePlan(names[cut], frozen, [n for n in trainable if n in learning], changes=_unique(changes))
    if param_counts is not None:
        _count(net, plan, param_counts)
    return plan


def trainable_layers(net: caffe_pb2.NetParameter) -> list[str]:
    """Layers with at least one blob whose lr_mult is not 0."""
    return [r.name for r in layers_of(net) if any(lr != 0 for lr, _ in r.multipliers())]


def _position(net, names: list[str], through: str) -> int:
    if through in names:
        return names.index(through)
    all_names = [r.name for r in layers_of(net)]
    if through in all_names:
        # A layer without parameters (pool2, relu5): freeze everything before it.
        idx = all_names.index(through)
        before = [r.name for r in layers_of(net)[: idx + 1] if r.n_param_blobs()]
        if not before:
            raise RecipeError(f"--freeze-through {through}: no layer with parameters comes before it")
        return names.index(before[-1])
    close = get_close_matches(through, all_names, n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"layers with parameters: {', '.join(names)}"
    raise RecipeError(f"--freeze-through {through}: the net has no layer of that name; {hint}")


def _count(net, plan: FreezePlan, param_counts: dict[str, list[int]]) -> None:
    total = trainable = 0
    seen = set()
    for ref in layers_of(net):
        if ref.name in seen or ref.name not in param_counts:
            continue
        seen.add(ref.name)
        for count, (lr, _) in zip(param_counts[ref.name], ref.multipliers()):
            total += count
            trainable += count if lr != 0 else 0
    plan.total_params, plan.trainable_params = total, trainable


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
