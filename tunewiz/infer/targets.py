"""What a scoring pass reads from a net: the score blob, the label blob, and the data layer behind the labels.

The score and label blobs are the bottoms of the net's Accuracy layer (the last one, when there are several:
a net's final classifier comes last, as GoogLeNet's ``loss3``); without an Accuracy layer, those of its last
SoftmaxWithLoss.  Every Accuracy layer on the same score blob adds its ``top_k``.  The labels must come from a
Data or ImageData layer: its database (or list) gives the number of records in one pass of the set.
"""
from __future__ import annotations

from dataclasses import dataclass

from tunewiz.errors import TunewizError

_ADD_ACCURACY = ('add one, e.g. layer { name: "accuracy" type: "Accuracy" bottom: "<scores>" bottom: "label" '
                 'top: "accuracy" include { phase: TEST } }')


class TargetError(TunewizError):
    """A net that cannot be scored class by class."""


@dataclass(frozen=True)
class Target:
    """The layer read (Accuracy or SoftmaxWithLoss), its score and label blobs, and how it reads them."""

    layer: str
    type: str
    score: str
    label: str
    axis: int
    ignore_label: int | None
    top_ks: tuple  # the top_k of every Accuracy layer on ``score``
    data_layer: str  # the Data/ImageData layer whose top is ``label``


def find_target(net, where: str = "the net") -> Target:
    """The Target of a built ``tunewiz.engine.net.net.Net`` (its phase's layers)."""
    pairs = list(zip(net.layers, net.wirings))
    accuracies = [(layer, w) for layer, w in pairs if w.type == "Accuracy" and len(w.bottoms) >= 2]
    losses = [(layer, w) for layer, w in pairs if w.type == "SoftmaxWithLoss" and len(w.bottoms) >= 2]
    if not accuracies and not losses:
        raise TargetError(f"{where}: no Accuracy or SoftmaxWithLoss layer with a score and a label bottom in its "
                          f"{_phase(net)} phase, so there is nothing to compare predictions with; {_ADD_ACCURACY}.")
    layer, wiring = (accuracies or losses)[-1]
    lp = layer.param
    if wiring.type == "Accuracy":
        axis = lp.accuracy_param.axis
        ignore = lp.accuracy_param.ignore_label if lp.accuracy_param.HasField("ignore_label") else None
    else:
        axis = lp.softmax_param.axis
        ignore = lp.loss_param.ignore_label if lp.loss_param.HasField("ignore_label") else None
    score, label = wiring.bottoms[0], wiring.bottoms[1]
    ndim = len(net.blob_shapes[score])
    axis = axis + ndim if axis < 0 else axis
    if axis < 1:
        raise TargetError(f"{where}: layer '{wiring.name}' ({wiring.type}) reads its classes on axis {axis}, the "
                          "batch's axis; scoring record by record needs the classes on axis 1 or later.")
    top_ks = tuple(sorted({int(a.param.accuracy_param.top_k) for a, w in accuracies if w.bottoms[0] == score}))
    return Target(wiring.name, wiring.type, score, label, axis, ignore, top_ks or (1,),
                  _data_layer(net, label, wiring, where))


def _data_layer(net, label: str, wiring, where: str) -> str:
    for layer, w in zip(net.layers, net.wirings):
        if label in w.tops:
            if not hasattr(getattr(layer, "feed", None), "source"):  # none, or one that samples (WindowData)
                raise TargetError(
                    f"{where}: the labels of layer '{wiring.name}' ({wiring.type}), blob '{label}', come from layer "
                    f"'{w.name}' ({w.type}); scoring one pass of a validation set needs them from a Data or "
                    "ImageData layer, whose database or list gives the number of records.")
            return w.name
    raise TargetError(f"{where}: no layer makes blob '{label}', the label bottom of layer '{wiring.name}'.")


def feed_of(net, target: Target):
    """The data feed of the target's data layer."""
    return net.layer_by_name(target.data_layer).feed


def _phase(net) -> str:
    return "TEST" if net.phase == 1 else "TRAIN"
