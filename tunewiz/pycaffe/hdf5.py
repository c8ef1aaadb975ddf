"""pycaffe's ``Net.save_hdf5`` / ``Net.load_hdf5``: Caffe's HDF5 weights (``Net::ToHDF5`` and
``Net::CopyTrainedLayersFromHDF5``).

The layout is Caffe's: a group ``data`` with a subgroup per layer, named as the layer (every layer,
split layers and layers without params too), holding float32 datasets ``0``, ``1``, ... for the param
blobs that layer owns; a param a layer shares with an earlier one (``param { name: ... }``) is
written once, by its owner.  Loading copies by layer name: layers the net lacks are ignored, a
dataset missing for a shared param is fine, and a shape or count that does not fit is Caffe's
message as a :class:`~tunewiz.pycaffe.errors.PycaffeError`.

The file format is :mod:`tunewiz.caffe.hdf5`'s (h5py is an optional extra, ``pip install
tunewiz[hdf5]``, imported on first use); its errors come out as :class:`PycaffeError`.
"""
from __future__ import annotations

import numpy as np

from tunewiz.caffe.hdf5 import read_net_hdf5, write_net_hdf5
from tunewiz.errors import FormatError
from tunewiz.pycaffe.errors import PycaffeError


def _owned(net) -> list[tuple[str, list[tuple[int, object]]]]:
    """Per layer: its name and the (index, blob) pairs of the params it owns (first use owns a shared one)."""
    seen: set[int] = set()
    out = []
    for layer in net.layers:
        mine = []
        for j, blob in enumerate(layer.blobs):
            if id(blob) not in seen:
                seen.add(id(blob))
                mine.append((j, blob))
        out.append((layer.name, mine))
    return out


def save(net, path) -> None:
    """Write ``net``'s params to ``path`` as Caffe's ``Net::ToHDF5`` does (without diffs, as pycaffe)."""
    layers = [(name, [(j, np.array(blob.data, dtype=np.float32)) for j, blob in blobs])
              for name, blobs in _owned(net)]
    try:
        write_net_hdf5(path, layers)
    except FormatError as exc:
        raise PycaffeError(str(exc)) from None


def load(net, path) -> None:
    """Copy params from the HDF5 weights at ``path`` by layer name (Caffe's ``CopyTrainedLayersFromHDF5``)."""
    try:
        stored = read_net_hdf5(path)
    except FormatError as exc:
        raise PycaffeError(str(exc)) from None
    _copy_layers(net, stored, path)


def _copy_layers(net, stored, path) -> None:
    """Each source layer the net has: its arrays into the layer's param blobs."""
    owners = {name: {j for j, _ in blobs} for name, blobs in _owned(net)}
    layers = {layer.name: layer for layer in net.layers}
    for name, group in stored:
        layer = layers.get(name)
        if layer is None:
            continue  # Caffe: "Ignoring source layer"
        if len(group) > len(layer.blobs):
            raise PycaffeError(f"{path}: Incompatible number of blobs for layer '{name}': the file has "
                               f"{len(group)}, the net's layer ({layer.type}) has {len(layer.blobs)}")
        for j, blob in enumerate(layer.blobs):
            if j not in group:
                if j not in owners[name]:
                    continue  # a shared param: its owner's dataset fills it
                raise PycaffeError(f"{path}: Incompatible number of blobs for layer '{name}': "
                                   f"no dataset '{j}' for its param {j}")
            _copy_blob(blob, group[j], name, j, path)


def _copy_blob(blob, values: np.ndarray, name: str, j: int, path) -> None:
    """One dataset into one param blob, with Caffe's shape check."""
    if tuple(values.shape) != tuple(blob.shape):
        raise PycaffeError(
            f"{path}: Cannot load blob from hdf5; shape mismatch. Source param shape is "
            f"{_shape_string(values.shape)}; target param shape is {_shape_string(blob.shape)} "
            f"(layer '{name}', param {j})")
    if values.dtype.kind not in "fiu":
        raise PycaffeError(f"{path}: Unsupported datatype {values.dtype} for layer '{name}', param {j}")
    blob.data[...] = values.astype(np.float32)
    blob.push()


def _shape_string(shape) -> str:
    """Caffe's ``shape_string``: ``2 3 4 4 (96)``."""
    return " ".join(str(d) for d in shape) + f" ({int(np.prod(shape, dtype=np.int64))})"
