"""What Caffe's ``upgrade_proto`` does to old nets, step by step, with Caffe's log lines.

``upgrade_net_as_needed`` follows Caffe 1.0's ``UpgradeNetAsNeeded`` in its order:

1. V0 -> V1 (``layers { layer { ... } }``; :mod:`tunewiz.caffe.upgrade_v0`),
2. old data-transform fields -> ``transform_param`` (V1 layers only;
   :mod:`tunewiz.caffe.upgrade_v1`),
3. V1 -> current (``layers`` -> ``layer``; :mod:`tunewiz.caffe.upgrade_v1`),
4. ``input``/``input_dim``/``input_shape`` -> a first layer ``name: "input"
   type: "Input"`` with one ``input_param.shape`` per input (``input_dim`` taken
   four at a time); the input fields are cleared.  An ``input`` without any
   shape or dim (an old caffemodel) is only cleared.
5. ``BatchNorm`` layers with exactly three ``param`` entries: each entry gets
   ``lr_mult: 0`` and ``decay_mult: 0``, other settings kept (Caffe 1.0 master
   ``UpgradeNetBatchNorm``; its log shows the three entries still there).

Each step adds Caffe's log lines as :class:`Note` s (without glog's prefix;
:mod:`tunewiz.caffe.upgrade_report`).
Where Caffe dies (``LOG(FATAL)``/``CHECK``) we raise :class:`UpgradeError` with
Caffe's text.  One deliberate difference: a net that mixes ``layer`` and ``layers``
is refused (Caffe silently drops the ``layer`` entries after an error line).
"""
from __future__ import annotations

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.upgrade_report import Note, UpgradeError, UpgradeReport
from tunewiz.caffe.upgrade_v0 import upgrade_v0_net
from tunewiz.caffe.upgrade_v1 import net_needs_data_upgrade, upgrade_net_data_transformation, upgrade_v1_net
from tunewiz.errors import TunewizError

MIXED_REASON = ("Input NetParameter to be upgraded already specifies 'layer' fields; "
                "these will be ignored for the upgrade.")


def net_needs_v0_upgrade(net: caffe_pb2.NetParameter) -> bool:
    """Caffe's NetNeedsV0ToV1Upgrade: some ``layers`` entry holds a V0 ``layer``."""
    return any(layer.HasField("layer") for layer in net.layers)


def net_needs_v1_upgrade(net: caffe_pb2.NetParameter) -> bool:
    """Caffe's NetNeedsV1ToV2Upgrade: the net has ``layers`` entries."""
    return len(net.layers) > 0


def net_needs_input_upgrade(net: caffe_pb2.NetParameter) -> bool:
    """Caffe's NetNeedsInputUpgrade: the net has ``input`` fields."""
    return len(net.input) > 0


def net_needs_batchnorm_upgrade(net: caffe_pb2.NetParameter) -> bool:
    """Caffe's NetNeedsBatchNormUpgrade: a BatchNorm layer declares exactly 3 ``param``."""
    return any(layer.type == "BatchNorm" and len(layer.param) == 3 for layer in net.layer)


def net_needs_upgrade(net: caffe_pb2.NetParameter) -> bool:
    """Caffe's NetNeedsUpgrade (1.0): any of the five steps applies."""
    return (net_needs_v0_upgrade(net) or net_needs_v1_upgrade(net) or net_needs_data_upgrade(net)
            or net_needs_input_upgrade(net) or net_needs_batchnorm_upgrade(net))


def net_format(net: caffe_pb2.NetParameter) -> str:
    """How the net is written: "V0", "V1" or "current"."""
    if net_needs_v0_upgrade(net):
        return "V0"
    return "V1" if net_needs_v1_upgrade(net) else "current"


def upgrade_net_input(net: caffe_pb2.NetParameter, param_file: str = "") -> None:
    """Caffe's UpgradeNetInput (in place): input fields -> a first ``Input`` layer."""
    has_shape, has_dim = len(net.input_shape) > 0, len(net.input_dim) > 0
    if has_shape or has_dim:
        _check_input_counts(net, param_file)
        layer = caffe_pb2.LayerParameter(name="input", type="Input")
        layer.input_param.SetInParent()
        for i, name in enumerate(net.input):
            layer.top.append(name)
            shape = layer.input_param.shape.add()
            if has_shape:
                shape.CopyFrom(net.input_shape[i])
            else:
                shape.dim.extend(net.input_dim[4 * i: 4 * i + 4])
        others = list(net.layer)
        del net.layer[:]
        net.layer.add().CopyFrom(layer)
        net.layer.extend(others)
    net.ClearField("input")
    net.ClearField("input_shape")
    net.ClearField("input_dim")


def _check_input_counts(net: caffe_pb2.NetParameter, param_file: str) -> None:
    n = len(net.input)
    if len(net.input_shape) > 0 and len(net.input_shape) != n:
        raise UpgradeError(f"{param_file or 'net'}: {n} input(s) but {len(net.input_shape)} input_shape "
                           "entries; give one input_shape per input")
    if len(net.input_shape) == 0 and len(net.input_dim) != 4 * n:
        raise UpgradeError(f"{param_file or 'net'}: {n} input(s) need {4 * n} input_dim values "
                           f"(4 per input: num, channels, height, width), found {len(net.input_dim)}")


def upgrade_net_batchnorm(net: caffe_pb2.NetParameter) -> None:
    """Caffe's UpgradeNetBatchNorm (1.0): BatchNorm's 3 ``param`` -> lr_mult 0, decay_mult 0."""
    for layer in net.layer:
        if layer.type == "BatchNorm" and len(layer.param) == 3:
            for spec in layer.param:
                spec.lr_mult = 0.0
                spec.decay_mult = 0.0


def _refuse_mixed(net: caffe_pb2.NetParameter, param_file: str) -> None:
    if len(net.layers) > 0 and len(net.layer) > 0:
        raise UpgradeError(
            f"{param_file or 'net'}: mixes {len(net.layer)} 'layer' and {len(net.layers)} 'layers' entries. "
            f"Caffe: \"{MIXED_REASON}\" Write every layer in one style: upgrade the old 'layers' part "
            "on its own (tunewiz upgrade-net-text) and paste the result in place."
        )


def upgrade_net_as_needed(net: caffe_pb2.NetParameter, param_file: str = "") -> UpgradeReport:
    """Caffe's UpgradeNetAsNeeded, in place; returns the notes Caffe would have logged."""
    _refuse_mixed(net, param_file)
    report = UpgradeReport(source_format=net_format(net))
    info = lambda text: report.notes.append(Note("info", text))  # noqa: E731
    warn = lambda text: report.notes.append(Note("warning", text))  # noqa: E731
    error = lambda text: report.notes.append(Note("error", text))  # noqa: E731

    def fail(text: str) -> None:
        raise UpgradeError(f"{param_file or 'net'}: {text}")

    if net_needs_v0_upgrade(net):
        report.steps.append("V0")
        info(f"Attempting to upgrade input file specified using deprecated V0LayerParameter: {param_file}")
        upgraded, ok = upgrade_v0_net(net, fail, error)
        net.CopyFrom(upgraded)
        if ok:
            info("Successfully upgraded file specified using deprecated V0LayerParameter")
        else:
            report.success = False
            error("Warning: had one or more problems upgrading V0NetParameter to NetParameter "
                  "(see above); continuing anyway.")
        warn("Note that future Caffe releases will not support V0NetParameter; use "
             "./build/tools/upgrade_net_proto_text for prototxt and ./build/tools/upgrade_net_proto_binary "
             "for model weights upgrade this and any other net protos to the new format.")
    if net_needs_data_upgrade(net):
        report.steps.append("data")
        info(f"Attempting to upgrade input file specified using deprecated transformation parameters: {param_file}")
        upgrade_net_data_transformation(net)
        info("Successfully upgraded file specified using deprecated data transformation parameters.")
        warn("Note that future Caffe releases will only support transform_param messages for "
             "transformation fields.")
    if net_needs_v1_upgrade(net):
        report.steps.append("V1")
        info(f"Attempting to upgrade input file specified using deprecated V1LayerParameter: {param_file}")
        upgraded, ok = upgrade_v1_net(net, error)
        net.CopyFrom(upgraded)
        if ok:
            info("Successfully upgraded file specified using deprecated V1LayerParameter")
        else:
            report.success = False
            error("Warning: had one or more problems upgrading V1LayerParameter (see above); continuing anyway.")
    if net_needs_input_upgrade(net):
        report.steps.append("input")
        info(f"Attempting to upgrade input file specified using deprecated input fields: {param_file}")
        upgrade_net_input(net, param_file)
        info("Successfully upgraded file specified using deprecated input fields.")
        warn("Note that future Caffe releases will only support input layers and not input fields.")
    if net_needs_batchnorm_upgrade(net):
        report.steps.append("batchnorm")
        info(f"Attempting to upgrade batch norm layers using deprecated params: {param_file}")
        upgrade_net_batchnorm(net)
        info("Successfully upgraded batch norm layers using deprecated params.")
    return report


def upgrade_net_param(net: caffe_pb2.NetParameter, param_file: str = "",
                      notes: list[Note] | None = None) -> caffe_pb2.NetParameter:
    """Upgrade ``net`` in place as Caffe does on read, and return it.

    Caffe's log lines are appended to ``notes`` when a list is given.
    """
    report = upgrade_net_as_needed(net, param_file)
    if notes is not None:
        notes.extend(report.notes)
    return net


def upgraded_copy(net: caffe_pb2.NetParameter,
                  param_file: str = "") -> tuple[caffe_pb2.NetParameter, UpgradeReport]:
    """A copy of ``net`` upgraded as Caffe does on read, and what the upgrade did.

    ``net`` itself stays as written: a V1 prototxt can be written back in its own style, a
    caffemodel keeps its stored form, a caller's message is never changed under it.  An error
    names ``param_file`` (once).
    """
    copy = caffe_pb2.NetParameter()
    copy.CopyFrom(net)
    try:
        report = upgrade_net_as_needed(copy, param_file)
    except TunewizError as exc:
        text = str(exc)
        raise type(exc)(text if param_file in text else f"{param_file}: {text}") from None
    return copy, report
