"""Bring an old net definition up to date before the engine builds it.

V0/V1 nets (``layers { type: CONVOLUTION }``) go through ``tunewiz.caffe.upgrade.upgrade_net_param``
(Caffe's ``UpgradeNetAsNeeded``).  The deprecated input fields (``input`` + ``input_shape`` /
``input_dim``) become one ``Input`` layer named "input" placed first, as Caffe's
``UpgradeNetInput`` does (4 ``input_dim`` values per input).
"""
from __future__ import annotations

from tunewiz.caffe import caffe_pb2
from tunewiz.errors import TunewizError


def needs_v1_upgrade(net_param: caffe_pb2.NetParameter) -> bool:
    return len(net_param.layers) > 0


def upgraded(net_param: caffe_pb2.NetParameter) -> caffe_pb2.NetParameter:
    """A current-format copy of ``net_param`` (the input itself when nothing is old)."""
    try:
        from tunewiz.caffe import upgrade
    except ImportError:
        upgrade = None
    if upgrade is not None:
        if not upgrade.net_needs_upgrade(net_param):
            return net_param
        copy = caffe_pb2.NetParameter()
        copy.CopyFrom(net_param)
        return upgrade.upgrade_net_param(copy)
    if needs_v1_upgrade(net_param):
        net_param = _v1_upgrade(net_param)
    if len(net_param.input) or len(net_param.input_shape) or len(net_param.input_dim):
        net_param = upgrade_input_fields(net_param)
    return net_param


def _v1_upgrade(net_param: caffe_pb2.NetParameter) -> caffe_pb2.NetParameter:
    try:
        from tunewiz.caffe.upgrade import upgrade_net_param
    except ImportError:
        raise TunewizError(
            f"net '{net_param.name}' uses the old V1 format ('layers' entries); upgrade it first with "
            "Caffe's upgrade_net_proto_text / upgrade_net_proto_binary") from None
    result = upgrade_net_param(net_param)
    if isinstance(result, tuple):
        result = result[0]
    return result if result is not None else net_param


def upgrade_input_fields(net_param: caffe_pb2.NetParameter) -> caffe_pb2.NetParameter:
    """Caffe's UpgradeNetInput: input fields -> a first ``Input`` layer named "input"."""
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net_param)
    has_shape, has_dim = len(out.input_shape) > 0, len(out.input_dim) > 0
    if has_shape or has_dim:
        layer = caffe_pb2.LayerParameter(name="input", type="Input")
        for i, name in enumerate(out.input):
            layer.top.append(name)
            shape = layer.input_param.shape.add()
            if has_shape:
                shape.CopyFrom(out.input_shape[i])
            else:
                shape.dim.extend(out.input_dim[4 * i:4 * i + 4])
        layers = [layer] + list(out.layer)
        del out.layer[:]
        for lp in layers:
            out.layer.add().CopyFrom(lp)
    out.ClearField("input")
    out.ClearField("input_shape")
    out.ClearField("input_dim")
    return out
