"""pycaffe's ``Net.save_hdf5`` / ``Net.load_hdf5``: Caffe's HDF5 weights (``Net::ToHDF5`` and
``Net::CopyTrainedLayersFromHDF5``).

The layout is Caffe's: a group ``data`` with a subgroup per layer, named as the layer (every layer,
split layers and layers without params too), holding float32 datasets ``0``, ``1``, ... for the param
blobs that layer owns; a param a layer shares with an earlier one (``param { name: ... }``) is
written once, by its owner.  Loading copies by layer name: layers the net lacks are ignored, a
dataset missing for a shared param is fine, and a shape or count that does not fit is Caffe's
message as a :class:`~tunewiz.pycaffe.errors.PycaffeError`.

h5py is an optional extra (``pip install tunewiz[hdf5]``), imported on first use.
"""
from __future__ import annotations

import numpy as np

from tunewiz.data.hdf5_files import import_h5py
from tunewiz.pycaffe.errors import PycaffeError


def _h5py():
    """h5py, or one line saying how to get it."""
    return import_h5py("HDF5 weights", PycaffeError)


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
    h5py = _h5py()
    owned = _owned(net)
    for name, _ in owned:
        if "/" in name:
            raise PycaffeError(f"Cannot save weights to HDF5: layer '{name}' has a '/' in its name, "
                               "which HDF5 reads as a subgroup (Caffe's Net::ToHDF5 cannot save it either)")
    try:
        with h5py.File(str(path), "w") as handle:
            data = handle.create_group("data")
            for name, blobs in owned:
                group = data.create_group(name)
                for j, blob in blobs:
                    group.create_dataset(str(j), data=np.array(blob.data, dtype=np.float32))
    except OSError as exc:
        raise PycaffeError(f"Couldn't open {path} to save weights: {exc}") from exc


def load(net, path) -> None:
    """Copy params from the HDF5 weights at ``path`` by layer name (Caffe's ``CopyTrainedLayersFromHDF5``)."""
    h5py = _h5py()
    try:
        handle = h5py.File(str(path), "r")
    except OSError as exc:
        raise PycaffeError(f"Couldn't open {path}: {exc}") from exc
    with handle:
        if "data" not in handle:
            raise PycaffeError(f"Error reading weights from {path}: it has no group 'data'")
        _copy_layers(net, handle["data"], path)


def _copy_layers(net, data, path) -> None:
    """Each source layer the net has: its datasets into the layer's param blobs."""
    owners = {name: {j for j, _ in blobs} for name, blobs in _owned(net)}
    layers = {layer.name: layer for layer in net.layers}
    for name in data:
        layer = layers.get(name)
        if layer is None:
            continue  # Caffe: "Ignoring source layer"
        group = data[name]
        if len(group) > len(layer.blobs):
            raise PycaffeError(f"{path}: Incompatible number of blobs for layer '{name}': the file has "
                               f"{len(group)}, the net's layer ({layer.type}) has {len(layer.blobs)}")
        for j, blob in enumerate(layer.blobs):
            if str(j) not in group:
                if j not in owners[name]:
                    continue  # a shared param: its owner's dataset fills it
                raise PycaffeError(f"{path}: Incompatible number of blobs for layer '{name}': "
                                   f"no dataset '{j}' for its param {j}")
            _copy_blob(blob, np.asarray(group[str(j)][()]), name, j, path)


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
