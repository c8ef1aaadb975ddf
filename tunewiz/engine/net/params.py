"""A net's learnable params as Caffe's ``Net::AppendParam`` lists them, shared params included.

Each blob of each layer becomes a :class:`ParamInfo` (layer order, then blob order) unless its
``param { name: ... }`` names a param an earlier layer owns: then the layer's blob becomes the owner's
``nn.Parameter``, with Caffe's checks (STRICT: same shape, PERMISSIVE: same count) and lr_mult /
decay_mult that must agree where both layers set them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from tunewiz.caffe import caffe_pb2
from tunewiz.engine.layers.base import Layer, NetError


@dataclass
class ParamInfo:
    """One learnable param (Caffe's learnable_params entry)."""

    layer_name: str
    index: int
    param: nn.Parameter
    lr_mult: float
    decay_mult: float
    lr_set: bool = field(default=False, repr=False)
    decay_set: bool = field(default=False, repr=False)


def append_params(layer: Layer, owners: dict, infos: list[ParamInfo]) -> bool:
    """Caffe's AppendParam for each blob of ``layer`` (new owners go to ``infos`` and, when named, to
    ``owners``); True if a param needs backward."""
    lp = layer.param
    need = False
    for j in range(len(layer.blobs)):
        spec = lp.param[j] if j < len(lp.param) else caffe_pb2.ParamSpec()
        lr = layer.fixed_lr_mult if layer.fixed_lr_mult is not None else spec.lr_mult
        need |= lr != 0
        if not spec.name or spec.name not in owners:
            info = ParamInfo(layer.name, j, layer.blobs[j], float(lr), float(spec.decay_mult),
                             spec.HasField("lr_mult"), spec.HasField("decay_mult"))
            infos.append(info)
            if spec.name:
                owners[spec.name] = (layer.name, j, info)
            continue
        owner_layer, _owner_index, info = owners[spec.name]
        share(layer, j, spec, owner_layer, info)
    return need


def share(layer: Layer, j: int, spec, owner_layer: str, info: ParamInfo) -> None:
    """Make blob ``j`` of ``layer`` the owner's param, after Caffe's shape and multiplier checks."""
    mine, theirs = tuple(layer.blobs[j].shape), tuple(info.param.shape)
    what = f"Cannot share param '{spec.name}' owned by layer '{owner_layer}' with layer '{layer.name}'"
    if spec.share_mode == caffe_pb2.ParamSpec.PERMISSIVE:
        if layer.blobs[j].numel() != info.param.numel():
            raise NetError(f"{what}; count mismatch. Owner layer param shape is {theirs}; "
                           f"sharing layer expects shape {mine}")
        if mine != theirs:
            raise NetError(f"{what}: PERMISSIVE sharing between different shapes ({theirs} vs {mine}) "
                           "is not supported by tunewiz; give both layers the same shape")
    elif mine != theirs:
        raise NetError(f"{what}; shape mismatch. Owner layer param shape is {theirs}; "
                       f"sharing layer shape is {mine}")
    for name, attr, flag in (("lr_mult", "lr_mult", "lr_set"), ("decay_mult", "decay_mult", "decay_set")):
        if spec.HasField(name):
            if getattr(info, flag):
                if getattr(spec, name) != getattr(info, attr):
                    raise NetError(f"Shared param '{spec.name}' has mismatched {name} "
                                   f"(layer '{layer.name}' vs owner '{owner_layer}')")
            else:
                setattr(info, attr, float(getattr(spec, name)))
                setattr(info, flag, True)
    layer.blobs[j] = info.param
