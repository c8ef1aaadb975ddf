"""pycaffe's ``caffe.io``: images, arrays <-> BlobProto / Datum, and the ``Transformer`` of net inputs.

The same names, arguments and results as BVLC pycaffe (``python/caffe/io.py``), checked against it
in ``tests/pycaffe/test_io.py``.  Without scikit-image or SciPy; the image numerics live below the engine
(``tunewiz classify`` uses them too) and are pycaffe's names here:

* ``load_image`` and ``oversample`` (:mod:`tunewiz.data.pycaffe_images`): OpenCV reads, and the result is
  what ``skimage.io.imread`` + ``img_as_float`` give (float32 RGB in [0, 1], alpha dropped);
* ``resize_image`` (:mod:`tunewiz.data.resample`) resamples as pycaffe's ``skimage.transform.resize`` /
  ``ndimage.zoom`` calls do, for interpolation orders 0 and 1;
* ``Transformer`` (:mod:`tunewiz.data.transformer`).

Where pycaffe has a bug its users do not rely on, this module does the evident thing: ``preprocess``
never writes into the caller's array, a shape given as a list compares like a tuple, and a 2-D mean
of another size is resized instead of failing.  ``Transformer`` raises ``ValueError`` (an
``Exception``, as pycaffe's) with pycaffe's messages.
"""
from __future__ import annotations

import numpy as np

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.blobs import Blob, stored_shape, to_message
from tunewiz.data.datum import datum_array
from tunewiz.data.pycaffe_images import load_image, oversample
from tunewiz.data.resample import resize_image
from tunewiz.data.transformer import Transformer

__all__ = ["Transformer", "load_image", "resize_image", "oversample", "blobproto_to_array", "array_to_blobproto",
           "arraylist_to_blobprotovector_str", "blobprotovector_str_to_arraylist", "array_to_datum",
           "datum_to_array", "caffe_pb2"]


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
