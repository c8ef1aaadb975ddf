"""What a protobuf text-format error means, in our words, with a hint.

protobuf says ``Message type "caffe.LayerParameter" has no field named "lr_mul"``; we say
``unknown field "lr_mul" in LayerParameter`` and add the nearest valid names (``did you mean:
lr_mult?``), the fix for a V1 field written in a current layer, or how to quote a string.  Both the
prototxt reader (its error line) and the file sniffer (which of net or solver a broken file meant)
ask this module, so they agree on what is close.
"""
from __future__ import annotations

import difflib
import re

from tunewiz.caffe import caffe_pb2

UNKNOWN_FIELD = re.compile(r'Message type "([\w.]+)" has no field named "(\w+)"\.?')
_UNKNOWN_ENUM = re.compile(r'Enum type "([\w.]+)" has no value (named|with number) "?([\w-]+)"?\.?')
_V1_FIELDS = {  # a V1 field written inside a current ``layer { }``
    "blobs_lr": "blobs_lr is V1 syntax: inside layer { } write param { lr_mult: … } (one per blob)",
    "weight_decay": "weight_decay is V1 syntax: inside layer { } write param { decay_mult: … } (one per blob)",
}


def _message_class(full_name: str):
    obj = caffe_pb2
    for part in full_name.removeprefix("caffe.").split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _nearest(word: str, names: list[str], what: str) -> str:
    close = difflib.get_close_matches(word, names, n=3, cutoff=0.5)
    if close:
        return "did you mean: " + ", ".join(close) + "?"
    listed = ", ".join(names[:12]) + (" …" if len(names) > 12 else "")
    return f"valid {what}: {listed}"


def explain(reason: str) -> tuple[str, str]:
    """(our wording of protobuf's reason, a hint)."""
    reason = reason.strip().rstrip(".")
    field = UNKNOWN_FIELD.search(reason)
    if field:
        owner, name = field.group(1).split(".")[-1], field.group(2)
        cls = _message_class(field.group(1))
        if owner == "LayerParameter" and name in _V1_FIELDS:
            return f'unknown field "{name}" in {owner}', _V1_FIELDS[name]
        names = [f.name for f in cls.DESCRIPTOR.fields] if cls is not None else []
        return f'unknown field "{name}" in {owner}', _nearest(name, names, "fields") if names else ""
    enum = _UNKNOWN_ENUM.search(reason)
    if enum:
        owner, value = enum.group(1).split(".", 1)[-1], enum.group(3)
        enum_type = _message_class(enum.group(1))
        names = list(enum_type.keys()) if enum_type is not None else []
        return f"unknown value {value} for enum {owner}", _nearest(value.upper(), names, "values") if names else ""
    if reason.startswith("Expected string but found"):
        return reason, 'text values go in double quotes, e.g. type: "Convolution"'
    return reason, ""


def nearest_names(reason: str) -> list[str]:
    """The close valid names for an unknown field/value error (empty when there are none)."""
    hint = explain(reason)[1]
    return hint.removeprefix("did you mean: ").rstrip("?").split(", ") if hint.startswith("did you mean") else []
