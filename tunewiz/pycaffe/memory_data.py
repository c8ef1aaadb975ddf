"""pycaffe's ``Net.set_input_arrays``: hand numpy arrays to the net's first layer, a MemoryData.

The checks and their messages are those of pycaffe (``_caffe.cpp``'s ``Net_SetInputArrays`` and
``CheckContiguousArray``, after ``pycaffe.py`` turns 1-d labels into n x 1 x 1 x 1), raised as
:class:`~tunewiz.pycaffe.errors.PycaffeError`, a ``RuntimeError`` as in pycaffe.  The arrays are shared,
not copied (Caffe keeps their pointers): a later write into them shows in the next batches.
"""
from __future__ import annotations

import numpy as np
import torch

from tunewiz.pycaffe.errors import PycaffeError


def check_array(array, name: str, item: tuple[int, int, int]) -> None:
    """``CheckContiguousArray``: a C-contiguous float32 4-d array whose last three dims are ``item``."""
    if not isinstance(array, np.ndarray):
        raise PycaffeError(f"{name} must be a numpy array, got {type(array).__name__}")
    if not array.flags["C_CONTIGUOUS"]:
        raise PycaffeError(f"{name} must be C contiguous")
    if array.ndim != 4:
        raise PycaffeError(f"{name} must be 4-d")
    if array.dtype != np.float32:
        raise PycaffeError(f"{name} must be float32")
    for axis, what in zip(range(1, 4), ("number of channels", "height", "width")):
        if array.shape[axis] != item[axis - 1]:
            raise PycaffeError(f"{name} has wrong {what}")


def set_input_arrays(engine, data, labels) -> None:
    """Check ``data`` and ``labels`` as pycaffe does and ``reset`` the engine net's first layer with them."""
    if not engine.layers or engine.layers[0].param.type != "MemoryData":
        raise PycaffeError("set_input_arrays may only be called if the first layer is a MemoryDataLayer")
    layer = engine.layers[0]
    if isinstance(labels, np.ndarray) and labels.ndim == 1:
        labels = np.ascontiguousarray(labels[:, np.newaxis, np.newaxis, np.newaxis])
    check_array(data, "data array", layer.item)
    check_array(labels, "labels array", (1, 1, 1))
    if data.shape[0] != labels.shape[0]:
        raise PycaffeError("data and labels must have the same first dimension")
    if data.shape[0] % layer.batch_size != 0:
        raise PycaffeError("first dimensions of input arrays must be a multiple of batch size")
    layer.reset(torch.from_numpy(data), torch.from_numpy(labels))
