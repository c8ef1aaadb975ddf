"""pycaffe's ``caffe.io``: images, arrays <-> BlobProto / Datum, and the ``Transformer`` of net inputs.

The same names, arguments and results as BVLC pycaffe (``python/caffe/io.py``), checked against it
in ``tests/pycaffe/test_io.py``.  Without scikit-image or SciPy:

* ``load_image`` reads with OpenCV and gives what ``skimage.io.imread`` + ``img_as_float`` give:
  float32 RGB in [0, 1] (``x * (1 / 255)``, 16-bit ``/ 65535``), alpha dropped; ``color=False`` on a
  colour image is scikit-image's luminance ``0.2125 R + 0.7154 G + 0.0721 B`` (alpha over white).
* ``resize_image`` (defined in :mod:`tunewiz.pycaffe.resample`) resamples as pycaffe's
  ``skimage.transform.resize`` / ``ndimage.zoom`` calls do, for interpolation orders 0 and 1.

Where pycaffe has a bug its users do not rely on, this module does the evident thing: ``preprocess``
never writes into the caller's array, a shape given as a list compares like a tuple, and a 2-D mean
of another size is resized instead of failing.  ``Transformer`` raises ``ValueError`` (an
``Exception``, as pycaffe's) with pycaffe's messages.
"""
from __future__ import annotations

import os

import numpy as np

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.blobs import Blob, stored_shape, to_message
from tunewiz.data.datum import datum_array
from tunewiz.errors import FormatError
from tunewiz.pycaffe.resample import resize_image
from tunewiz.pycaffe.transformer import Transformer

__all__ = ["Transformer", "load_image", "resize_image", "oversample", "blobproto_to_array", "array_to_blobproto",
           "arraylist_to_blobprotovector_str", "blobprotovector_str_to_arraylist", "array_to_datum",
           "datum_to_array", "caffe_pb2"]

_GRAY = np.array([0.2125, 0.7154, 0.0721])  # scikit-image's rgb2gray weights


# ----------------------------------------------------------------------------- proto / datum / ndarray


def blobproto_to_array(blob: caffe_pb2.BlobProto, return_diff: bool = False) -> np.ndarray:
    """The blob's ``data`` (or ``diff``) as a float64 array in its legacy 4-D or ``shape`` dims."""
    values = np.array(blob.diff if return_diff else blob.data, dtype=np.float64)
    return values.reshape(stored_shape(blob))


def array_to_blobproto(arr, diff=None) -> caffe_pb2.BlobProto:
    """A ``BlobProto`` with ``shape`` and float ``data`` (and ``diff`` when given), as pycaffe writes it."""
    data = np.asarray(arr).astype(np.float64).astype(np.float32)
    if diff is not None:
        diff = np.asarray(diff).astype(np.float64).astype(np.float32).reshape(data.shape)
    return to_message(Blob.from_array(data, diff=diff))


def arraylist_to_blobprotovector_str(arraylist) -> bytes:
    """A serialized ``BlobProtoVector`` of the arrays."""
    vec = caffe_pb2.BlobProtoVector()
    vec.blobs.extend(array_to_blobproto(arr) for arr in arraylist)
    return vec.SerializeToString()


def blobprotovector_str_to_arraylist(data: bytes) -> list[np.ndarray]:
    """The arrays of a serialized ``BlobProtoVector``."""
    vec = caffe_pb2.BlobProtoVector()
    vec.ParseFromString(data)
    return [blobproto_to_array(blob) for blob in vec.blobs]


def array_to_datum(arr, label=None) -> caffe_pb2.Datum:
    """A C x H x W array as a ``Datum``: uint8 into ``data`` bytes, anything else into ``float_data``."""
    arr = np.asarray(arr)
    if arr.ndim != 3:
        raise ValueError("Incorrect array shape.")
    datum = caffe_pb2.Datum()
    datum.channels, datum.height, datum.width = arr.shape
    if arr.dtype == np.uint8:
        datum.data = arr.tobytes()
    else:
        datum.float_data.extend(arr.astype(np.float64).astype(np.float32).ravel().tolist())
    if label is not None:
        datum.label = label
    return datum


def datum_to_array(datum: caffe_pb2.Datum) -> np.ndarray:
    """The datum's C x H x W values: uint8 from ``data``, float64 from ``float_data`` (label not returned).

    An encoded datum (a JPEG/PNG in ``data``) is decoded, as Caffe's data layer would.
    """
    arr = datum_array(datum)
    return arr if arr.dtype == np.uint8 else arr.astype(np.float64)


# ----------------------------------------------------------------------------- images


def load_image(filename, color: bool = True) -> np.ndarray:
    """An image file as float32 in [0, 1]: H x W x 3 RGB, or H x W x 1 intensity when ``color`` is False."""
    import cv2

    if not os.path.isfile(filename):
        raise FileNotFoundError(f"No such file: '{filename}'")
    raw = cv2.imread(os.fspath(filename), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise FormatError(f"{filename}: not an image OpenCV can read")
    img = _as_float(raw)
    if img.ndim == 3:
        img = img[:, :, [2, 1, 0, 3][: img.shape[2]]] if img.shape[2] in (3, 4) else img
        if not color and img.shape[2] in (3, 4):
            img = _to_gray(img)
    if img.ndim == 2:
        img = img[:, :, np.newaxis]
        if color:
            img = np.tile(img, (1, 1, 3))
    elif img.shape[2] == 4:
        img = img[:, :, :3]
    return img.astype(np.float32)


def _as_float(raw: np.ndarray) -> np.ndarray:
    """scikit-image's ``img_as_float``: unsigned integers scaled by ``1 / max``, floats kept."""
    if np.issubdtype(raw.dtype, np.unsignedinteger):
        return np.multiply(raw, 1.0 / np.iinfo(raw.dtype).max, dtype=np.float64)
    return raw.astype(np.float64)


def _to_gray(rgb: np.ndarray) -> np.ndarray:
    """scikit-image's ``rgb2gray`` (an alpha channel blended over white first, as ``rgba2rgb``)."""
    if rgb.shape[2] == 4:
        alpha = rgb[:, :, 3:4]
        rgb = np.clip((1 - alpha) * 1.0 + alpha * rgb[:, :, :3], 0, 1)
    return rgb @ _GRAY


def oversample(images, crop_dims) -> np.ndarray:
    """The 4 corner crops, the centre crop and their mirrors of each H x W x K image: (10 N) x h x w x K."""
    im_shape = np.array(images[0].shape)
    crop_dims = np.array(crop_dims)
    crops_ix = _crop_boxes(im_shape[:2], crop_dims)
    crops = np.empty((10 * len(images), crop_dims[0], crop_dims[1], im_shape[-1]), dtype=np.float32)
    ix = 0
    for im in images:
        for top, left, bottom, right in crops_ix:
            crops[ix] = im[top:bottom, left:right, :]
            ix += 1
        crops[ix - 5:ix] = crops[ix - 5:ix, :, ::-1, :]  # the second five are mirrored
    return crops


def _crop_boxes(hw: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """(top, left, bottom, right) of the 10 crops: corners row by row, the centre (truncated), twice."""
    boxes = np.empty((5, 4), dtype=int)
    corners = [(i, j) for i in (0, hw[0] - crop[0]) for j in (0, hw[1] - crop[1])]
    for k, (i, j) in enumerate(corners):
        boxes[k] = (i, j, i + crop[0], j + crop[1])
    center = hw / 2.0
    boxes[4] = np.tile(center, (1, 2)) + np.concatenate([-crop / 2.0, crop / 2.0])
    return np.tile(boxes, (2, 1))
