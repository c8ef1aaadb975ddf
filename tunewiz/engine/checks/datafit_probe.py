"""What the data-fit check (``tunewiz.engine.checks.datafit``) looks at, read cheaply and never fatally.

* :func:`read_sources`: per Data/ImageData layer of a prepared (upgraded, filtered) net, the C x H x W
  of its first record as the feed reads it (Data: the first Datum, decoded with force_color/force_gray;
  ImageData: the first image after new_height/new_width/is_color) — before crop and mean, which are
  what the check compares against;
* :func:`weight_blobs`: the blob shapes of every layer of caffemodels, read from the headers only
  (the values are skipped, so a 500 MB file costs a walk over its records, not a read);
* :func:`build_at`: the net built on torch's ``meta`` device with the data layers replaced by
  ``Input`` layers of chosen sizes (shapes only, no memory): the net or the error it stops with.

Every probe returns ``None`` (or leaves an entry out) when it cannot read something: the normal
build then reports that problem with its own message, so nothing is said twice.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from tunewiz.caffe import caffe_pb2

DATA_TYPES = ("Data", "ImageData")
# layers whose top has the channels of their bottom: a conv after them still reads the data's channels
SAME_CHANNELS = {"ReLU", "PReLU", "ELU", "Power", "Scale", "Bias", "BatchNorm", "Dropout", "Split", "AbsVal",
                 "Exp", "Log", "TanH", "Sigmoid", "BNLL", "MVN", "LRN", "Threshold", "Clip", "Swish"}


@dataclass
class Source:
    """One data layer and the shape of its first record."""

    index: int  # the layer's position in the prepared net
    layer: caffe_pb2.LayerParameter
    chw: tuple[int, int, int]

    @property
    def crop(self) -> int:
        return int(self.layer.transform_param.crop_size)

    @property
    def image_data(self) -> bool:
        return self.layer.type == "ImageData"

    @property
    def path(self) -> str:
        """The database (Data) or the list file (ImageData), as the prototxt names it; an absolute path
        under the current folder is shown relative to it (shorter commands to copy)."""
        path = self.layer.image_data_param.source if self.image_data else self.layer.data_param.source
        if os.path.isabs(path):
            rel = os.path.relpath(path)
            return path if rel.startswith("..") else rel
        return path

    @property
    def batch(self) -> int:
        return int((self.layer.image_data_param if self.image_data else self.layer.data_param).batch_size)


def read_sources(prepared: caffe_pb2.NetParameter, phase: int, root) -> list[Source] | None:
    """The net's data layers with their first record's C x H x W; None when one cannot be read."""
    from tunewiz.data.feed import make_feed

    sources = []
    for i, lp in enumerate(prepared.layer):
        if lp.type not in DATA_TYPES:
            continue
        probe = caffe_pb2.LayerParameter()
        probe.CopyFrom(lp)
        tp = probe.transform_param
        for name in ("crop_size", "mean_file", "mean_value", "mirror"):  # the record as read, nothing else
            tp.ClearField(name)
        try:  # no worker processes: one record is read in this process
            feed = make_feed(probe, phase, root=None if root is None else str(root), workers=0)
        except Exception:  # noqa: BLE001 - a probe: the real build says what is wrong with this source
            return None
        try:
            c, h, w = (int(d) for d in feed.item_shape)
        finally:
            feed.close()
        sources.append(Source(i, lp, (c, h, w)))
    return sources


def data_consumers(prepared: caffe_pb2.NetParameter, top: str) -> list[caffe_pb2.LayerParameter]:
    """Convolution/Deconvolution layers that read ``top``'s channels (directly or through SAME_CHANNELS)."""
    blobs, found = {top}, []
    for lp in prepared.layer:
        if not len(lp.bottom) or lp.bottom[0] not in blobs:
            continue
        if lp.type in ("Convolution", "Deconvolution"):
            found.append(lp)
        elif lp.type in SAME_CHANNELS:
            blobs.update(lp.top)
    return found


def in_channels(lp: caffe_pb2.LayerParameter, shape) -> int | None:
    """The input channels a conv's stored weight blob 0 was made for (Caffe: C_out x C_in/group x k...;
    Deconvolution: C_in x C_out/group x k...)."""
    if len(shape) < 3:
        return None
    if lp.type == "Deconvolution":
        return int(shape[0])
    return int(shape[1]) * max(1, int(lp.convolution_param.group))


def mean_shape(lp: caffe_pb2.LayerParameter, root) -> tuple[int, ...] | None:
    """C x H x W of the layer's mean_file, or None (no mean_file, or unreadable: the feed reports that)."""
    tp = lp.transform_param
    if not tp.HasField("mean_file"):
        return None
    from tunewiz.caffe.binaryproto import read_mean

    path = tp.mean_file if os.path.isabs(tp.mean_file) or root is None else os.path.join(str(root), tp.mean_file)
    try:
        return tuple(int(d) for d in read_mean(path).shape)
    except Exception:  # noqa: BLE001 - a probe
        return None


# -- caffemodel headers ---------------------------------------------------------------------------------
def weight_blobs(paths) -> dict[str, tuple[str, list]]:
    """``{layer name: (file, [Blob without values])}`` over ``paths`` in order (a later file wins, as
    Caffe's copies do); a file that cannot be read is left out (loading it reports why)."""
    out: dict[str, tuple[str, list]] = {}
    for path in paths:
        try:
            for name, blobs in _layers(str(path)):
                if blobs:
                    out[name] = (str(path), blobs)
        except Exception:  # noqa: BLE001 - a probe
            continue
    return out


def _layers(path: str):
    from tunewiz.caffe.wire import LEN, Source as Bytes, fields

    fd = os.open(path, os.O_RDONLY)
    try:
        src = Bytes(fd=fd, size=os.fstat(fd).st_size)
        entries = []
        for f in fields(src, 0, src.size):
            if f.wire_type != LEN:
                continue
            if f.number == 100:  # NetParameter.layer: name 1, blobs 7
                entries.append(_entry(src, f.value_start, f.end, 1, 7))
            elif f.number == 2:  # NetParameter.layers (V1): name 4, blobs 6, its V0 layer 1 (name 1, blobs 50)
                entries.append(_entry(src, f.value_start, f.end, 4, 6, nested=True))
        return entries
    finally:
        os.close(fd)


def _entry(src, start: int, end: int, name_no: int, blobs_no: int, nested: bool = False):
    from tunewiz.caffe.wire import LEN, fields

    name, blobs = "", []
    for f in fields(src, start, end):
        if f.wire_type != LEN:
            continue
        if f.number == name_no:
            name = src.read(f.value_start, f.end - f.value_start).decode("utf-8", "replace")
        elif f.number == blobs_no:
            blobs.append(_blob_header(src, f.value_start, f.end))
        elif nested and f.number == 1:
            inner_name, inner_blobs = _entry(src, f.value_start, f.end, 1, 50)
            name, blobs = name or inner_name, blobs or inner_blobs
    return name, blobs


def _blob_header(src, start: int, end: int):
    """A Blob with the stored shape fields only (Caffe's ShapeEquals needs nothing else)."""
    import numpy as np

    from tunewiz.caffe.blobs import Blob
    from tunewiz.caffe.wire import fields

    parts = [src.read(f.start, f.end - f.start) for f in fields(src, start, end) if f.number in (1, 2, 3, 4, 7)]
    return Blob(np.empty(0, np.float32), None, caffe_pb2.BlobProto.FromString(b"".join(parts)))


# -- shapes on the meta device ---------------------------------------------------------------------------
def build_at(prepared: caffe_pb2.NetParameter, sources: list[Source], inputs: dict[int, tuple[int, int, int]]):
    """(net, None) or (None, error): the net on 'meta' with each source fed ``inputs[index]`` (C, H, W)."""
    from tunewiz.engine.net.net import Net

    param = caffe_pb2.NetParameter()
    param.CopyFrom(prepared)
    for src in sources:
        layer = param.layer[src.index]
        tops = list(layer.top)
        for name in ("data_param", "image_data_param", "transform_param"):
            layer.ClearField(name)
        layer.type = "Input"
        layer.input_param.shape.add().dim.extend([src.batch, *inputs[src.index]])
        for _ in tops[1:]:
            layer.input_param.shape.add().dim.extend([src.batch])
    try:
        return Net(param, prepared.state.phase, level=prepared.state.level, device="meta"), None
    except Exception as exc:  # noqa: BLE001 - any failure at this size is what the caller weighs
        return None, exc


def weights_fit(net, weights: dict[str, tuple[str, list]]) -> list[str]:
    """Layers of ``net`` whose stored weights (same name) do not fit its blobs (Caffe's copy checks)."""
    from tunewiz.caffe.blobs import shape_equals

    bad = []
    for layer in net.layers:
        stored = weights.get(layer.name)
        if stored is None or not len(layer.blobs):
            continue
        blobs = stored[1]
        if len(blobs) != len(layer.blobs) or not all(shape_equals(b, tuple(p.shape)) for b, p in
                                                     zip(blobs, layer.blobs)):
            bad.append(layer.name)
    return bad
