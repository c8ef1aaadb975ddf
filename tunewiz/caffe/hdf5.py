"""Caffe's HDF5 files of weights and solver state (``snapshot_format: HDF5``), read and written.

Weights (``Net::ToHDF5`` / ``CopyTrainedLayersFromHDF5``; ``<prefix>_iter_N.caffemodel.h5``): a group
``data`` with a subgroup per layer, named as the layer, holding float32 datasets ``0``, ``1``, ... of
the param blobs that layer owns (a param shared through ``param { name }`` is written once, by its
owner; its other layers' groups lack that dataset).

Solver state (``SGDSolver::SnapshotSolverStateToHDF5`` / ``RestoreSolverStateFromHDF5``;
``<prefix>_iter_N.solverstate.h5``): ``iter`` and ``current_step`` (int32 datasets of shape (1,),
``H5LTmake_dataset_int``), ``learned_net`` (a scalar null-terminated fixed-length string,
``H5LTmake_dataset_string``) and a group ``history`` with float32 datasets ``0``, ``1``, ...

h5py is an optional extra (``pip install tunewiz[hdf5]``), imported on first use; without it each
function says how to get it.  Caffe tells the formats apart by the name: a path ending in ``.h5``.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from tunewiz.errors import FormatError


class HDF5Missing(FormatError):
    """h5py is not installed."""


def is_hdf5_name(path: str | os.PathLike) -> bool:
    """Caffe's test (``CopyTrainedLayersFrom``, ``Solver::Restore``): the name ends in ``.h5``."""
    return str(path).endswith(".h5")


def h5py_module(what: str = "HDF5 files"):
    """h5py, or :class:`HDF5Missing` saying how to get it."""
    try:
        import h5py
    except ImportError:
        raise HDF5Missing(f"{what} need h5py: pip install 'tunewiz[hdf5]' (or pip install h5py)") from None
    return h5py


def _open(path, mode: str):
    h5py = h5py_module(f"{path}: Caffe's HDF5 files")
    try:
        return h5py.File(str(path), mode)
    except OSError as exc:
        raise FormatError(f"Couldn't open {path}: {exc}") from None


# -- weights ----------------------------------------------------------------------------------------
def write_net_hdf5(path, layers: Sequence[tuple[str, Sequence[tuple[int, np.ndarray]]]]) -> None:
    """``layers``: (layer name, [(param index, array)] of the params it owns), every layer in net order."""
    for name, _ in layers:
        if "/" in name:
            raise FormatError(f"Cannot save weights to HDF5: layer '{name}' has a '/' in its name, which HDF5 "
                              "reads as a subgroup (Caffe's Net::ToHDF5 cannot save it either)")
    with _open(path, "w") as handle:
        data = handle.create_group("data")
        for name, blobs in layers:
            group = data.create_group(name)
            for j, array in blobs:
                group.create_dataset(str(j), data=np.asarray(array, dtype=np.float32))


def read_net_hdf5(path) -> list[tuple[str, dict[int, np.ndarray]]]:
    """(layer name, {param index: float32 array}) for every layer group, in the file's order."""
    with _open(path, "r") as handle:
        if "data" not in handle:
            raise FormatError(f"Error reading weights from {path}: it has no group 'data'")
        out = []
        for name in handle["data"]:
            group = handle["data"][name]
            blobs = {}
            for key in group:
                values = np.asarray(group[key][()])
                if not key.isdigit() or values.dtype.kind not in "fiu":
                    raise FormatError(f"{path}: layer '{name}' holds '{key}' ({values.dtype}), not a param blob")
                blobs[int(key)] = values.astype(np.float32)
            out.append((name, blobs))
    return out


# -- solver state -----------------------------------------------------------------------------------
def write_solverstate_hdf5(path, iter: int, learned_net: str, current_step: int,
                           history: Sequence[np.ndarray]) -> None:
    """The file ``SnapshotSolverStateToHDF5`` writes."""
    h5py = h5py_module(f"{path}: Caffe's HDF5 files")
    with _open(path, "w") as handle:
        handle.create_dataset("iter", data=np.array([iter], np.int32))
        _string_dataset(h5py, handle, "learned_net", learned_net)
        handle.create_dataset("current_step", data=np.array([current_step], np.int32))
        group = handle.create_group("history")
        for i, array in enumerate(history):
            group.create_dataset(str(i), data=np.asarray(array, dtype=np.float32))


def _string_dataset(h5py, handle, name: str, text: str) -> None:
    """``H5LTmake_dataset_string``: scalar, C string type of strlen + 1 bytes, null-terminated."""
    raw = text.encode() + b"\0"
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(len(raw))
    tid.set_strpad(h5py.h5t.STR_NULLTERM)
    dataset = h5py.h5d.create(handle.id, name.encode(), tid, h5py.h5s.create(h5py.h5s.SCALAR))
    dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, np.array(raw, dtype=f"S{len(raw)}"))


def read_solverstate_hdf5(path) -> tuple[int, str, int, list[np.ndarray]]:
    """(iter, learned_net ("" when absent), current_step, history arrays) as ``RestoreSolverStateFromHDF5``."""
    with _open(path, "r") as handle:
        missing = [key for key in ("iter", "current_step", "history") if key not in handle]
        if missing:
            raise FormatError(f"{path} is not a Caffe HDF5 solverstate (no {', '.join(missing)})")
        learned = handle["learned_net"][()] if "learned_net" in handle else b""
        learned = learned.split(b"\0", 1)[0].decode() if isinstance(learned, bytes) else str(learned)
        history = handle["history"]
        arrays = [np.asarray(history[str(i)][()], np.float32) for i in range(len(history))]
        return int(np.ravel(handle["iter"][()])[0]), learned, int(np.ravel(handle["current_step"][()])[0]), arrays
