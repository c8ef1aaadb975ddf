"""pycaffe's argument handling for ``forward``/``backward`` and its batching for ``forward_all`` /
``forward_backward_all``: inputs are cut into batches of the input blob's first axis, the last batch is
padded with zeros, and the outputs are stacked with the padding cut off (``Net._batch`` in pycaffe).
"""
from __future__ import annotations

from itertools import zip_longest

import numpy as np

from tunewiz.pycaffe.errors import PycaffeError


def set_inputs(net, arrays: dict, names: list[str], mismatch: str) -> None:
    """Write each array into its blob's data (pycaffe: the keys must be exactly ``names``)."""
    if not arrays:
        return
    if set(arrays) != set(names):
        raise PycaffeError(f"{mismatch} Given: {', '.join(sorted(arrays))}; the net's: {', '.join(names)}")
    for name, array in arrays.items():
        blob = net.blobs[name]
        array = np.asarray(array, dtype=np.float32)
        if array.ndim == 0 or (blob.shape and array.shape[0] != blob.shape[0]):
            raise PycaffeError(f"'{name}': {array.shape[0] if array.ndim else 'a scalar'} items, the blob holds a "
                               f"batch of {blob.shape[0] if blob.shape else 1} {blob.shape}; reshape the blob "
                               "(net.blobs[name].reshape(...)) or use forward_all")
        blob.data[...] = array


def set_diffs(net, arrays: dict) -> None:
    """Write top diffs into the output blobs (pycaffe: the keys must be exactly the net's outputs)."""
    if not arrays:
        return
    if set(arrays) != set(net.outputs):
        raise PycaffeError("Top diff arguments do not match net outputs. Given: "
                           f"{', '.join(sorted(arrays))}; the net's: {', '.join(net.outputs)}")
    for name, array in arrays.items():
        blob = net.blobs[name]
        array = np.asarray(array, dtype=np.float32)
        if blob.shape and array.shape[:1] != blob.shape[:1]:
            raise PycaffeError(f"'{name}': the diff's first axis is {array.shape[:1]}, the blob's {blob.shape}")
        blob.diff[...] = array


def _batches(net, arrays: dict):
    """pycaffe's ``_batch``: dicts of one batch each; the last padded with zeros."""
    if not arrays:
        return
    first = next(iter(arrays))
    total = len(arrays[first])
    size = net.blobs[first].shape[0]
    for begin in range(0, total, size):
        batch = {}
        for name, array in arrays.items():
            chunk = np.asarray(array[begin:begin + size], dtype=np.float32)
            if len(chunk) < size:
                pad = np.zeros((size - len(chunk),) + chunk.shape[1:], dtype=np.float32)
                chunk = np.concatenate([chunk, pad])
            batch[name] = chunk
        yield batch


def _cut(stacked: dict, arrays: dict) -> dict:
    """Stack each list of rows and drop the padding rows."""
    out = {name: np.asarray(rows) for name, rows in stacked.items()}
    if arrays:
        total = len(next(iter(arrays.values())))
        out = {name: value[:total] for name, value in out.items()}
    return out


def forward_all(net, blobs, arrays: dict) -> dict:
    """Forward all batches of ``arrays``; every output (and ``blobs``) stacked."""
    if not arrays:
        raise PycaffeError(f"forward_all needs the inputs as keywords, e.g. forward_all({net.inputs[0] if net.inputs else 'data'}=array)")
    stacked: dict = {name: [] for name in dict.fromkeys(net.outputs + list(blobs or []))}
    for batch in _batches(net, arrays):
        for name, value in net.forward(blobs=blobs, **batch).items():
            stacked[name].extend(value.copy())
    return _cut(stacked, arrays)


def forward_backward_all(net, blobs, diffs, arrays: dict) -> tuple[dict, dict]:
    """Forward and backward all batches; inputs are the Input tops of ``arrays``, top diffs its outputs."""
    stacked: dict = {name: [] for name in dict.fromkeys(net.outputs + list(blobs or []))}
    stacked_diffs: dict = {name: [] for name in dict.fromkeys(net.inputs + list(diffs or []))}
    inputs = {name: arrays[name] for name in net.inputs if name in arrays}
    tops = {name: arrays[name] for name in net.outputs if name in arrays}
    for fb, bb in zip_longest(_batches(net, inputs), _batches(net, tops), fillvalue={}):
        for name, value in net.forward(blobs=blobs, **fb).items():
            stacked[name].extend(value.copy())
        for name, value in net.backward(diffs=diffs, **bb).items():
            stacked_diffs[name].extend(value.copy())
    return _cut(stacked, inputs or tops), _cut(stacked_diffs, inputs or tops)
