"""V0 nets (``layers { layer { type: "conv" ... } }``) to V1, as Caffe's ``UpgradeV0Net``.

Caffe's steps (``upgrade_proto.cpp``), re-implemented here:

1. ``UpgradeV0PaddingLayers``: every V0 ``"padding"`` layer is dropped; the conv or
   pool layer that reads its output gets the padding layer's ``pad`` and reads the
   padding layer's input instead.  A padding layer feeding any other layer type,
   or a conv/pool with more than one bottom, is fatal in Caffe (here an
   :class:`~tunewiz.caffe.upgrade.UpgradeError`).
2. ``UpgradeV0LayerParameter``: each layer keeps only ``bottom``/``top`` of the
   connection and takes ``name``, ``type`` (string -> V1 enum), ``blobs``,
   ``blobs_lr``, ``weight_decay`` and the flat V0 settings, each routed into the
   ``*_param`` sub-message of its layer type.  A setting that does not belong to
   the layer's type is dropped with Caffe's error "Unknown parameter X for layer
   type T" and the net is "not fully compatible" (Caffe continues anyway).
   ``scale``/``meanfile``/``cropsize``/``mirror`` always go to ``transform_param``.
3. ``UpgradeV0Net`` keeps only the net's ``name``, ``input``, ``input_dim`` and
   ``force_backward``; every other net-level field is dropped, as in Caffe.
"""
from __future__ import annotations

from tunewiz.caffe import caffe_pb2

# V0 type string -> V1 enum name (Caffe's UpgradeV0LayerType).
V0_TYPES: dict[str, str] = {
    "accuracy": "ACCURACY", "bnll": "BNLL", "concat": "CONCAT", "conv": "CONVOLUTION",
    "data": "DATA", "dropout": "DROPOUT", "euclidean_loss": "EUCLIDEAN_LOSS",
    "flatten": "FLATTEN", "hdf5_data": "HDF5_DATA", "hdf5_output": "HDF5_OUTPUT",
    "im2col": "IM2COL", "images": "IMAGE_DATA", "infogain_loss": "INFOGAIN_LOSS",
    "innerproduct": "INNER_PRODUCT", "lrn": "LRN",
    "multinomial_logistic_loss": "MULTINOMIAL_LOGISTIC_LOSS", "pool": "POOLING",
    "relu": "RELU", "sigmoid": "SIGMOID", "softmax": "SOFTMAX",
    "softmax_loss": "SOFTMAX_LOSS", "split": "SPLIT", "tanh": "TANH",
    "window_data": "WINDOW_DATA",
}

_CONV, _IP, _POOL = "convolution_param", "inner_product_param", "pooling_param"
_SOURCES = {"data": "data_param", "hdf5_data": "hdf5_data_param", "images": "image_data_param",
            "window_data": "window_data_param"}

# V0 field -> (name in Caffe's error text, {V0 type: (V1 sub-message, field)}), in Caffe's order.
_ROUTES: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "num_output": ("num_output", {"conv": (_CONV, "num_output"), "innerproduct": (_IP, "num_output")}),
    "biasterm": ("biasterm", {"conv": (_CONV, "bias_term"), "innerproduct": (_IP, "bias_term")}),
    "weight_filler": ("weight_filler", {"conv": (_CONV, "weight_filler"), "innerproduct": (_IP, "weight_filler")}),
    "bias_filler": ("bias_filler", {"conv": (_CONV, "bias_filler"), "innerproduct": (_IP, "bias_filler")}),
    "pad": ("pad", {"conv": (_CONV, "pad"), "pool": (_POOL, "pad")}),
    "kernelsize": ("kernelsize", {"conv": (_CONV, "kernel_size"), "pool": (_POOL, "kernel_size")}),
    "group": ("group", {"conv": (_CONV, "group")}),
    "stride": ("stride", {"conv": (_CONV, "stride"), "pool": (_POOL, "stride")}),
    "pool": ("pool", {"pool": (_POOL, "pool")}),
    "dropout_ratio": ("dropout_ratio", {"dropout": ("dropout_param", "dropout_ratio")}),
    "local_size": ("local_size", {"lrn": ("lrn_param", "local_size")}),
    "alpha": ("alpha", {"lrn": ("lrn_param", "alpha")}),
    "beta": ("beta", {"lrn": ("lrn_param", "beta")}),
    "k": ("k", {"lrn": ("lrn_param", "k")}),
    "source": ("source", {**{t: (m, "source") for t, m in _SOURCES.items()},
                          "infogain_loss": ("infogain_loss_param", "source")}),
    "scale": ("scale", None),
    "meanfile": ("meanfile", None),
    "batchsize": ("batchsize", {t: (m, "batch_size") for t, m in _SOURCES.items()}),
    "cropsize": ("cropsize", None),
    "mirror": ("mirror", None),
    "rand_skip": ("rand_skip", {"data": ("data_param", "rand_skip"), "images": ("image_data_param", "rand_skip")}),
    "shuffle_images": ("shuffle", {"images": ("image_data_param", "shuffle")}),
    "new_height": ("new_height", {"images": ("image_data_param", "new_height")}),
    "new_width": ("new_width", {"images": ("image_data_param", "new_width")}),
    "concat_dim": ("concat_dim", {"concat": ("concat_param", "concat_dim")}),
    "det_fg_threshold": ("det_fg_threshold", {"window_data": ("window_data_param", "fg_threshold")}),
    "det_bg_threshold": ("det_bg_threshold", {"window_data": ("window_data_param", "bg_threshold")}),
    "det_fg_fraction": ("det_fg_fraction", {"window_data": ("window_data_param", "fg_fraction")}),
    "det_context_pad": ("det_context_pad", {"window_data": ("window_data_param", "context_pad")}),
    "det_crop_mode": ("det_crop_mode", {"window_data": ("window_data_param", "crop_mode")}),
    "hdf5_output_param": ("hdf5_output_param", {"hdf5_output": ("hdf5_output_param", None)}),
}
# V0 data-transform fields: always moved to transform_param, whatever the type.
_TRANSFORM = {"scale": "scale", "meanfile": "mean_file", "cropsize": "crop_size", "mirror": "mirror"}


def _is_repeated(fd) -> bool:
    flag = getattr(fd, "is_repeated", None)
    return bool(flag) if flag is not None else fd.label == fd.LABEL_REPEATED


def assign(msg, field: str, value) -> None:
    """Caffe's ``set_x``/``add_x``/``mutable_x()->CopyFrom`` on a field by name."""
    fd = msg.DESCRIPTOR.fields_by_name[field]
    if _is_repeated(fd):
        getattr(msg, field).append(value)
    elif fd.message_type is not None:
        getattr(msg, field).CopyFrom(value)
    else:
        setattr(msg, field, value)


def upgrade_v0_type(type_name: str, fail) -> int:
    """Caffe's UpgradeV0LayerType: V0 string -> V1LayerParameter.LayerType value."""
    if type_name not in V0_TYPES:
        fail(f"Unknown layer name: {type_name}")
    return caffe_pb2.V1LayerParameter.LayerType.Value(V0_TYPES[type_name])


def upgrade_v0_padding_layers(net: caffe_pb2.NetParameter, fail) -> caffe_pb2.NetParameter:
    """Caffe's UpgradeV0PaddingLayers: fold each "padding" layer into the conv/pool after it."""
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    del out.layers[:]
    last_top = {name: -1 for name in net.input}
    for i, conn in enumerate(net.layers):
        v0 = conn.layer
        if v0.type != "padding":
            out.layers.add().CopyFrom(conn)
        for j, blob in enumerate(conn.bottom):
            if blob not in last_top:
                fail(f"Unknown blob input {blob} to layer {j}")
            src_index = last_top[blob]
            if src_index == -1 or net.layers[src_index].layer.type != "padding":
                continue
            src = net.layers[src_index]
            if v0.type not in ("conv", "pool"):
                fail(f"Padding layer input to non-convolutional / non-pooling layer type {v0.type}")
            if len(conn.bottom) != 1:
                fail("Conv Layer takes a single blob as input.")
            if len(src.bottom) != 1:
                fail("Padding Layer takes a single blob as input.")
            if len(src.top) != 1:
                fail("Padding Layer produces a single blob as output.")
            target = out.layers[len(out.layers) - 1]
            target.layer.pad = src.layer.pad
            target.bottom[j] = src.bottom[0]
        for blob in conn.top:
            last_top[blob] = i
    return out


def upgrade_v0_layer(conn: caffe_pb2.V1LayerParameter, fail, error) -> tuple[caffe_pb2.V1LayerParameter, bool]:
    """Caffe's UpgradeV0LayerParameter; returns (V1 layer, is_fully_compatible)."""
    layer = caffe_pb2.V1LayerParameter()
    layer.bottom.extend(conn.bottom)
    layer.top.extend(conn.top)
    ok = True
    if not conn.HasField("layer"):
        return layer, ok
    v0 = conn.layer
    if v0.HasField("name"):
        layer.name = v0.name
    if v0.HasField("type"):
        layer.type = upgrade_v0_type(v0.type, fail)
    layer.blobs.extend(v0.blobs)
    layer.blobs_lr.extend(v0.blobs_lr)
    layer.weight_decay.extend(v0.weight_decay)
    for field, (shown, routes) in _ROUTES.items():
        if not v0.HasField(field):
            continue
        value = getattr(v0, field)
        if routes is None:
            assign(layer.transform_param, _TRANSFORM[field], value)
        elif v0.type in routes:
            sub, target = routes[v0.type]
            if target is None:
                getattr(layer, sub).CopyFrom(value)
            else:
                assign(getattr(layer, sub), target, value)
        else:
            error(f"Unknown parameter {shown} for layer type {v0.type}")
            ok = False
    return layer, ok


def upgrade_v0_net(net: caffe_pb2.NetParameter, fail, error) -> tuple[caffe_pb2.NetParameter, bool]:
    """Caffe's UpgradeV0Net: padding folded, layers upgraded, net-level fields kept
    only for ``name``, ``input``, ``input_dim``, ``force_backward``.  Returns a new
    net and whether every V0 setting found a place."""
    padded = upgrade_v0_padding_layers(net, fail)
    out = caffe_pb2.NetParameter()
    if padded.HasField("name"):
        out.name = padded.name
    ok = True
    for conn in padded.layers:
        layer, layer_ok = upgrade_v0_layer(conn, fail, error)
        out.layers.add().CopyFrom(layer)
        ok &= layer_ok
    out.input.extend(padded.input)
    out.input_dim.extend(padded.input_dim)
    if padded.HasField("force_backward"):
        out.force_backward = padded.force_backward
    return out, ok
