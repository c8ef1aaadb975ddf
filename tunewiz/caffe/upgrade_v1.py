"""V1 nets (``layers { type: CONVOLUTION blobs_lr ... }``) to the current form.

Two of Caffe's steps (``upgrade_proto.cpp``), re-implemented here:

* ``UpgradeNetDataTransformation``: in every V1 ``DATA`` / ``IMAGE_DATA`` /
  ``WINDOW_DATA`` layer, ``scale``, ``mean_file``, ``crop_size`` and ``mirror``
  move from ``data_param`` / ``image_data_param`` / ``window_data_param`` into
  ``transform_param`` (the old field is cleared).  Only V1 ``layers`` are looked at.
* ``UpgradeV1Net`` / ``UpgradeV1LayerParameter``: each ``layers`` entry becomes a
  ``layer`` with the same ``name``, ``bottom``, ``top``, ``include``, ``exclude``,
  ``blobs`` (copied unchanged, so legacy 4-D ``num/channels/height/width`` dims stay),
  ``loss_weight`` and every ``*_param`` sub-message; the enum ``type`` becomes
  Caffe's string (table :data:`V1_TYPE_NAMES`); and parameter settings become
  ``param`` entries, position by position::

      param[i].name       = param(i)            (V1 ``param``, the share name)
      param[i].share_mode = blob_share_mode(i)
      param[i].lr_mult    = blobs_lr(i)
      param[i].decay_mult = weight_decay(i)     (set even when 0)

  so ``param`` has max(len(param), len(blob_share_mode), len(blobs_lr),
  len(weight_decay)) entries.  Every other net-level field is kept.
"""
from __future__ import annotations

from tunewiz.caffe import caffe_pb2

_V1 = caffe_pb2.V1LayerParameter

# V1LayerParameter.LayerType name -> current type string (Caffe's UpgradeV1LayerType).
V1_TYPE_NAMES: dict[str, str] = {
    "NONE": "", "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL",
    "CONCAT": "Concat", "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution",
    "DECONVOLUTION": "Deconvolution", "DATA": "Data", "DROPOUT": "Dropout",
    "DUMMY_DATA": "DummyData", "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise",
    "EXP": "Exp", "FLATTEN": "Flatten", "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output",
    "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col", "IMAGE_DATA": "ImageData",
    "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN",
    "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "MVN": "MVN", "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence",
    "SOFTMAX": "Softmax", "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice",
    "TANH": "TanH", "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
}

# V1 layer type -> its data parameter holding the old transform fields.
_DATA_PARAMS = {"DATA": "data_param", "IMAGE_DATA": "image_data_param", "WINDOW_DATA": "window_data_param"}
_TRANSFORM_FIELDS = ("scale", "mean_file", "crop_size", "mirror")

# The *_param sub-messages V1 and current layers share (same name, same message type).
SHARED_PARAMS: tuple[str, ...] = tuple(
    f.name for f in _V1.DESCRIPTOR.fields
    if f.name.endswith("_param") and f.message_type is not None
)


def v1_type_string(type_value: int) -> str:
    """Caffe's UpgradeV1LayerType: V1 enum value -> type string."""
    return V1_TYPE_NAMES[_V1.LayerType.Name(type_value)]


def net_needs_data_upgrade(net: caffe_pb2.NetParameter) -> bool:
    """Caffe's NetNeedsDataUpgrade: a V1 data layer still has transform fields in its data param."""
    for layer in net.layers:
        sub = _DATA_PARAMS.get(_V1.LayerType.Name(layer.type))
        if sub and any(getattr(layer, sub).HasField(f) for f in _TRANSFORM_FIELDS):
            return True
    return False


def upgrade_net_data_transformation(net: caffe_pb2.NetParameter) -> None:
    """Caffe's UpgradeNetDataTransformation (in place): transform fields -> transform_param."""
    for layer in net.layers:
        sub = _DATA_PARAMS.get(_V1.LayerType.Name(layer.type))
        if not sub:
            continue
        data = getattr(layer, sub)
        transform = layer.transform_param
        data.SetInParent()  # Caffe calls mutable_*_param() on both: present from now on
        transform.SetInParent()
        for field in _TRANSFORM_FIELDS:
            if data.HasField(field):
                setattr(transform, field, getattr(data, field))
                data.ClearField(field)


def upgrade_v1_layer(v1: caffe_pb2.V1LayerParameter, error) -> tuple[caffe_pb2.LayerParameter, bool]:
    """Caffe's UpgradeV1LayerParameter; returns (layer, is_fully_compatible)."""
    layer = caffe_pb2.LayerParameter()
    layer.bottom.extend(v1.bottom)
    layer.top.extend(v1.top)
    if v1.HasField("name"):
        layer.name = v1.name
    layer.include.extend(v1.include)
    layer.exclude.extend(v1.exclude)
    if v1.HasField("type"):
        layer.type = v1_type_string(v1.type)
    layer.blobs.extend(v1.blobs)
    _upgrade_param_specs(v1, layer)
    layer.loss_weight.extend(v1.loss_weight)
    for name in SHARED_PARAMS:
        if v1.HasField(name):
            getattr(layer, name).CopyFrom(getattr(v1, name))
    ok = True
    if v1.HasField("layer"):
        error("Input NetParameter has V0 layer -- ignoring.")
        ok = False
    return layer, ok


def _param(layer: caffe_pb2.LayerParameter, i: int) -> caffe_pb2.ParamSpec:
    while len(layer.param) <= i:
        layer.param.add()
    return layer.param[i]


def _upgrade_param_specs(v1: caffe_pb2.V1LayerParameter, layer: caffe_pb2.LayerParameter) -> None:
    for i, name in enumerate(v1.param):
        _param(layer, i).name = name
    for i, mode in enumerate(v1.blob_share_mode):
        # V1 DimCheckMode and ParamSpec DimCheckMode: STRICT = 0, PERMISSIVE = 1 in both.
        _param(layer, i).share_mode = caffe_pb2.ParamSpec.DimCheckMode.Value(_V1.DimCheckMode.Name(mode))
    for i, lr in enumerate(v1.blobs_lr):
        _param(layer, i).lr_mult = lr
    for i, decay in enumerate(v1.weight_decay):
        _param(layer, i).decay_mult = decay


def upgrade_v1_net(net: caffe_pb2.NetParameter, error) -> tuple[caffe_pb2.NetParameter, bool]:
    """Caffe's UpgradeV1Net: a copy of the net with ``layers`` turned into ``layer``.

    Caffe drops any ``layer`` entries already present (after an error line);
    :func:`tunewiz.caffe.upgrade.upgrade_net_as_needed` refuses such nets before
    getting here.
    """
    ok = True
    if len(net.layer) > 0:
        error("Input NetParameter to be upgraded already specifies 'layer' fields; "
              "these will be ignored for the upgrade.")
        ok = False
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    del out.layers[:]
    del out.layer[:]
    for i, v1 in enumerate(net.layers):
        layer, layer_ok = upgrade_v1_layer(v1, error)
        out.layer.add().CopyFrom(layer)
        if not layer_ok:
            error(f"Upgrade of input layer {i} failed.")
            ok = False
    return out, ok
