"""binaryproto files: one ``BlobProto`` (mean files) or a ``BlobProtoVector``.

``compute_image_mean`` writes the mean as a BlobProto in the legacy 4-D fields
``num=1, channels, height, width`` (no ``shape``) with float ``data``; Caffe's
data layer reads it with ``ReadProtoFromBinaryFileOrDie`` + ``Blob::FromProto``.
A ``BlobProtoVector`` (field 1 = repeated BlobProto) holds several blobs in one
file.  Blob values are read straight into numpy (see :mod:`tunewiz.caffe.blobs`).
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from google.protobuf.message import DecodeError

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.blobs import Blob, decode_blob, encode_blob
from tunewiz.caffe.blobtree import BlobTree, decode_tree, encode_tree
from tunewiz.caffe.detect import expect
from tunewiz.caffe.wire import Source, WireError, atomic_write
from tunewiz.errors import FormatError


def read_blob(path: str | os.PathLike) -> Blob:
    """Read a single-blob binaryproto (e.g. ``mean.binaryproto``)."""
    info = expect(path, "binaryproto")
    return _read(path, info.size, lambda src: decode_blob(src, 0, info.size), "binaryproto")[0]


def read_blob_vector(path: str | os.PathLike) -> list[Blob]:
    """Read a ``BlobProtoVector`` file."""
    info = expect(path, "blobprotovector", "binaryproto")
    if info.kind == "binaryproto":
        return [read_blob(path)]
    return _read(path, info.size, lambda src: decode_tree(src, 0, info.size, "BlobProtoVector")[1].blobs, "BlobProtoVector")


def read_mean(path: str | os.PathLike) -> np.ndarray:
    """The mean as Caffe's data layer uses it: a (channels, height, width) float array.

    ``DataTransformer`` requires ``num == 1`` in the mean file and subtracts
    ``mean[c, h, w]`` per pixel.
    """
    blob = read_blob(path)
    shape = blob.stored_shape
    if len(shape) == 4 and shape[0] != 1:
        raise FormatError(f"{path}: a mean file must hold one image (num 1), this one has num {shape[0]}")
    if len(shape) not in (3, 4):
        raise FormatError(f"{path}: a mean file holds a 1xCxHxW blob, this one is {'x'.join(map(str, shape))}")
    return blob.data.reshape(shape[-3:])


def channel_means(blob: Blob) -> list[float]:
    """Per-channel mean of a (1,)C,H,W blob, like compute_image_mean's ``mean_value channel [c]`` log."""
    data = np.asarray(blob.data, np.float64)
    if data.ndim < 3:
        return [float(data.mean())] if data.size else []
    return [float(v) for v in data.reshape(-1, *data.shape[-3:]).mean(axis=(0, 2, 3))]


def write_blob(path: str | os.PathLike, blob: Blob | np.ndarray, legacy: bool = True) -> None:
    """Write one blob; plain arrays get legacy 4-D dims like ``compute_image_mean`` (``legacy=True``)."""
    if not isinstance(blob, Blob):
        blob = Blob.from_array(blob, legacy=legacy)
    _write(path, encode_blob(blob).parts)


def write_blob_vector(path: str | os.PathLike, blobs: Sequence[Blob | np.ndarray]) -> None:
    """Write a ``BlobProtoVector``."""
    items = [b if isinstance(b, Blob) else Blob.from_array(b) for b in blobs]
    _write(path, encode_tree(b"", "BlobProtoVector", BlobTree(items)).parts)


def _read(path, size: int, decode, what: str):
    fd = os.open(path, os.O_RDONLY)
    try:
        result = decode(Source(fd=fd, size=size))
    except (WireError, DecodeError) as exc:
        raise FormatError(f"{path}: damaged {what} ({exc})") from None
    finally:
        os.close(fd)
    for i, blob in enumerate(result if isinstance(result, list) else [result]):
        try:
            blob.check(f"blob {i}")
        except ValueError as exc:
            raise FormatError(f"{path}: {exc}; the file is damaged") from None
    return result if isinstance(result, list) else [result]


def _write(path, parts) -> None:
    try:
        atomic_write(path, parts)
    except OSError as exc:
        raise FormatError(f"{path}: cannot write ({exc.strerror or exc})") from None


def to_message(blobs: Sequence[Blob]) -> caffe_pb2.BlobProtoVector:
    """A ``BlobProtoVector`` message (slow for big blobs; for tests and tools)."""
    return caffe_pb2.BlobProtoVector.FromString(encode_tree(b"", "BlobProtoVector", BlobTree(list(blobs))).tobytes())
