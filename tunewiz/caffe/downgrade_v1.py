"""Write a current net back in V1 form (``layers``, enum types, ``blobs_lr``, ``weight_decay``).

Caffe has no downgrade; this is the inverse of ``UpgradeV1Net`` + ``UpgradeNetInput``
(:mod:`tunewiz.caffe.upgrade_v1`, :mod:`tunewiz.caffe.upgrade`), so that a user who
wrote V1 files gets their edits (e.g. freezing a layer with ``blobs_lr: 0``) back
in the same style.  Guarantee: for a net that came from V1,
``upgrade(downgrade_to_v1(upgrade(v1)))`` equals ``upgrade(v1)``.

Per layer, position by position (the inverse of the V1 upgrade)::

    blobs_lr(i)        = param[i].lr_mult     (1 where unset but a later one is set)
    weight_decay(i)    = param[i].decay_mult  (1 where unset but a later one is set)
    param(i)           = param[i].name        ("" where unset but a later one is set)
    blob_share_mode(i) = param[i].share_mode  (STRICT where unset but a later one is set)

``Input`` layers become the net-level ``input`` + ``input_dim`` (4-D shapes, as
old Caffe wrote them) or ``input_shape``.  The transform fields stay in
``transform_param``, which V1 layers also accept.  A layer that V1 cannot express
(a type without a V1 enum such as ``BatchNorm``, or ``phase``, ``propagate_down``,
a ``*_param`` V1 lacks) raises :class:`DowngradeError` naming the layer.
"""
from __future__ import annotations

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.upgrade_v1 import SHARED_PARAMS, V1_TYPE_NAMES
from tunewiz.errors import TunewizError

_V1 = caffe_pb2.V1LayerParameter
_V1_ENUM_OF_TYPE = {name: enum for enum, name in V1_TYPE_NAMES.items() if name}
_COPIED = {"name", "type", "bottom", "top", "include", "exclude", "blobs", "param", "loss_weight"}

# (ParamSpec field, V1 repeated field, value written for an unset entry before a set one)
_PARAM_COLUMNS = (
    ("name", "param", ""),
    ("share_mode", "blob_share_mode", 0),
    ("lr_mult", "blobs_lr", 1.0),
    ("decay_mult", "weight_decay", 1.0),
)


class DowngradeError(TunewizError):
    """A net that the V1 format cannot express."""


def _fail(layer: caffe_pb2.LayerParameter, what: str) -> None:
    raise DowngradeError(
        f"layer '{layer.name}' (type {layer.type or '?'}) cannot be written in V1 form: {what}. "
        "Write the net in the current format instead (without the V1 option)."
    )


def _check_fields(layer: caffe_pb2.LayerParameter) -> None:
    for fd, _ in layer.ListFields():
        if fd.name not in _COPIED and fd.name not in SHARED_PARAMS:
            _fail(layer, f"V1 layers have no field '{fd.name}'")
    if layer.type not in _V1_ENUM_OF_TYPE:
        _fail(layer, f"V1 has no layer type \"{layer.type}\"")


def _param_columns(layer: caffe_pb2.LayerParameter, v1: caffe_pb2.V1LayerParameter) -> None:
    for spec_field, v1_field, filler in _PARAM_COLUMNS:
        present = [i for i, p in enumerate(layer.param) if p.HasField(spec_field)]
        if not present:
            continue
        values = getattr(v1, v1_field)
        for i in range(present[-1] + 1):
            p = layer.param[i]
            values.append(getattr(p, spec_field) if p.HasField(spec_field) else filler)


def downgrade_layer(layer: caffe_pb2.LayerParameter) -> caffe_pb2.V1LayerParameter:
    """One current ``layer`` -> a V1 ``layers`` entry (inverse of UpgradeV1LayerParameter)."""
    _check_fields(layer)
    v1 = _V1()
    v1.bottom.extend(layer.bottom)
    v1.top.extend(layer.top)
    if layer.HasField("name"):
        v1.name = layer.name
    v1.include.extend(layer.include)
    v1.exclude.extend(layer.exclude)
    if layer.HasField("type"):
        v1.type = _V1.LayerType.Value(_V1_ENUM_OF_TYPE[layer.type])
    v1.blobs.extend(layer.blobs)
    _param_columns(layer, v1)
    v1.loss_weight.extend(layer.loss_weight)
    for name in SHARED_PARAMS:
        if layer.HasField(name):
            getattr(v1, name).CopyFrom(getattr(layer, name))
    return v1


def _inputs_to_fields(net: caffe_pb2.NetParameter, inputs: list[caffe_pb2.LayerParameter]) -> None:
    shapes = [s for layer in inputs for s in layer.input_param.shape]
    tops = [t for layer in inputs for t in layer.top]
    for layer in inputs:
        extra = [fd.name for fd, _ in layer.ListFields() if fd.name not in ("name", "type", "top", "input_param")]
        if extra or len(layer.input_param.shape) != len(layer.top):
            _fail(layer, "only an Input layer with one shape per top and no other settings "
                         "can become V1 input fields")
    net.input.extend(tops)
    if all(len(s.dim) == 4 for s in shapes):
        for s in shapes:
            net.input_dim.extend(s.dim)
    else:
        for s in shapes:
            net.input_shape.add().CopyFrom(s)


def downgrade_to_v1(net: caffe_pb2.NetParameter) -> caffe_pb2.NetParameter:
    """A V1-form copy of ``net`` (``net`` is left unchanged)."""
    if len(net.layers) > 0 and len(net.layer) == 0:
        out = caffe_pb2.NetParameter()
        out.CopyFrom(net)
        return out
    if len(net.layers) > 0:
        raise DowngradeError("the net mixes 'layer' and 'layers' entries; upgrade it first")
    inputs = [layer for layer in net.layer if layer.type == "Input"]
    if len(net.input) > 0 and inputs:
        raise DowngradeError("the net has both input fields and Input layers; upgrade it first")
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    del out.layer[:]
    _inputs_to_fields(out, inputs)
    for layer in net.layer:
        if layer.type != "Input":
            out.layers.add().CopyFrom(downgrade_layer(layer))
    return out
