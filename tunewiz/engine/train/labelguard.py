"""The label guard: a label outside [0, C) (and not ignore_label) stops before the loss layer runs.

Checked before a SoftmaxWithLoss, Accuracy, MultinomialLogisticLoss or InfogainLoss layer runs (so before
a GPU's device-side assert), the message names the label, the record it came from and the layer.
"""
from __future__ import annotations

import torch

from tunewiz.errors import TunewizError


class LabelError(TunewizError):
    """A label the output layer cannot take."""


_LABEL_LAYERS = {"SoftmaxWithLoss": "softmax_param", "Accuracy": "accuracy_param",
                 "MultinomialLogisticLoss": None, "InfogainLoss": "infogain_loss_param"}


def install_label_guard(net) -> None:
    """Check every labelled loss/accuracy layer's labels before it runs."""
    producers = {top: w.name for w in net.wirings for top in w.tops}
    feeds = net.feeds()
    for layer, wiring in zip(net.layers, net.wirings):
        if layer.param.type in _LABEL_LAYERS and len(wiring.bottoms) >= 2:
            net.add_hooks(layer, _label_hook(layer, producers.get(wiring.bottoms[0], "?"), feeds))


def _label_hook(layer, producer: str, feeds):
    lp = layer.param
    sub = _LABEL_LAYERS[lp.type]
    axis = getattr(getattr(lp, sub), "axis", 1) if sub else 1
    ignore = lp.loss_param.ignore_label if lp.loss_param.HasField("ignore_label") else None
    if lp.type == "Accuracy" and lp.accuracy_param.HasField("ignore_label"):
        ignore = lp.accuracy_param.ignore_label

    def hook(module, args):
        scores, labels = args[0], args[1]
        classes = int(scores.shape[axis % scores.dim()])
        flat = labels.detach().reshape(-1)
        bad = (flat < 0) | (flat >= classes) | (flat != torch.floor(flat))
        if ignore is not None:
            bad &= flat != ignore
        if bool(bad.any()):
            i = int(torch.nonzero(bad)[0])
            value = float(flat[i])
            raise LabelError(
                f"label {value:g} (item {i} of the batch{_record(feeds, i)}) does not fit layer '{lp.name}' "
                f"({lp.type}): its input '{producer}' has {classes} outputs, so labels must be 0..{classes - 1}"
                f"{'' if ignore is None else f' or ignore_label {ignore}'}. Fix the labels in the data, or set "
                f"num_output of layer '{producer}' to at least {int(value) + 1}.")
    return hook


def _record(feeds, i: int) -> str:
    for feed in feeds:
        for attr in ("last_keys", "batch_keys", "keys"):
            keys = getattr(feed, attr, None)
            if callable(keys):
                try:
                    keys = keys()
                except TypeError:
                    keys = None
            if keys is not None and i < len(keys):
                key = keys[i]
                key = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
                return f", record '{key}'"
    return ""
