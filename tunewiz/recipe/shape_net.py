"""A TRAIN net for shape inference only: data layers replaced by ``Input`` layers.

The engine builds a net on the ``meta`` device (no memory) from shapes alone; a Data
layer would open its database to learn the shape, so each Data/ImageData layer of
the TRAIN phase becomes ``Input`` with shape (batch_size, C, H, W) for ``data`` and
(batch_size,) for ``label``, where C x H x W is the image size after the crop
(Caffe's ``DataTransformer::InferBlobShape``: crop_size x crop_size when cropping).
"""
from __future__ import annotations

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.upgrade import upgraded_copy


def infer_chw(net) -> tuple[int, int, int] | None:
    """C x H x W of the first image of the TRAIN data layer's database (None when there is none)."""
    from tunewiz.recipe.data_edits import data_layers, summarize_db

    ref = next((r for r in data_layers(net) if r.in_phase(caffe_pb2.TRAIN) and r.type == "Data"), None)
    if ref is None:
        return None
    s = summarize_db(ref.msg.data_param.source, first_only=True)
    return s.channels, s.height, s.width


def input_net(net, chw: tuple[int, int, int] | None) -> caffe_pb2.NetParameter:
    """A V2 copy of ``net`` whose data layers are Input layers of the given image size."""
    out, _ = upgraded_copy(net)
    chw = chw or infer_chw(net)
    if chw is None:
        return out
    c, h, w = chw
    for layer in out.layer:
        if layer.type not in ("Data", "ImageData"):
            continue
        batch = layer.data_param.batch_size if layer.type == "Data" else layer.image_data_param.batch_size
        crop = layer.transform_param.crop_size
        hh, ww = (crop, crop) if crop else (h, w)
        tops = list(layer.top)
        layer.ClearField("data_param")
        layer.ClearField("image_data_param")
        layer.ClearField("transform_param")
        layer.type = "Input"
        layer.input_param.shape.add().dim.extend([batch, c, hh, ww])
        if len(tops) > 1:
            layer.input_param.shape.add().dim.extend([batch])
    return out


def build_meta(net, chw: tuple[int, int, int] | None = None):
    """The engine's Net for TRAIN on the meta device."""
    from tunewiz.engine.net.net import Net

    return Net(input_net(net, chw), caffe_pb2.TRAIN, device="meta")
