"""HDF5 files as Caffe's HDF5 layers read and write them (``src/caffe/util/hdf5.cpp``).

* h5py is an optional extra: :func:`tunewiz.caffe.hdf5.h5py_module` gives it, or one line naming
  ``pip install 'tunewiz[hdf5]'`` (the one place every HDF5 user says it).
* :func:`read_source`: the ``hdf5_data_param.source`` list, read as Caffe's ``source_file >> line``
  (whitespace-separated names, so a name cannot hold a space).
* :func:`file_rows` / :func:`load_file`: one listed file's datasets named as the layer's tops, with
  ``hdf5_load_nd_dataset``'s rules: at least 1 axis, a float or integer type (read as float32, the
  conversion HDF5 does for ``H5LTread_dataset_float``), and every top with the first one's row count.
* :func:`write_output`: HDF5Output's file, datasets ``data`` and ``label`` as float32 (Caffe's
  ``H5LTmake_dataset_float``), written whole to a temporary and renamed over the name.
"""
from __future__ import annotations

import os

import numpy as np

from tunewiz.caffe.hdf5 import h5py_module
from tunewiz.errors import TunewizError


def read_source(path: str, where: str) -> list[str]:
    """The file names listed in ``path`` (Caffe: "Must have at least 1 HDF5 filename listed")."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            names = handle.read().split()
    except OSError as exc:
        raise TunewizError(f"{where}: cannot read the list of HDF5 files {path!r} ({exc.strerror or exc}). "
                           "hdf5_data_param.source names a text file listing .h5 files, one per line; "
                           "relative paths are from the folder you run from, as in Caffe.") from None
    if not names:
        raise TunewizError(f"{where}: the list {path!r} names no HDF5 file (Caffe: Must have at least 1 "
                           "HDF5 filename listed); add the .h5 files, one per line.")
    return names


def _open(path: str, where: str):
    h5py = h5py_module(f"{where}: HDF5 data files")
    if not os.path.isfile(path):
        raise TunewizError(f"{where}: the HDF5 file {path!r} listed in hdf5_data_param.source does not exist "
                           "(relative paths are from the folder you run from, as in Caffe).")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise TunewizError(f"{where}: Failed opening HDF5 file {path!r}: {exc}") from None


def _datasets(handle, path: str, tops: list[str], where: str) -> list:
    """The datasets for ``tops``, checked as ``hdf5_load_nd_dataset`` and ``LoadHDF5FileData`` do."""
    found = []
    for top in tops:
        dataset = handle.get(top)
        if dataset is None or not hasattr(dataset, "dtype"):
            names = ", ".join(sorted(handle.keys())) or "none"
            raise TunewizError(f"{where}: Failed to find HDF5 dataset '{top}' in {path!r} (it has: {names}); "
                               "each top names a dataset of every listed file.")
        if len(dataset.shape) < 1:
            raise TunewizError(f"{where}: dataset '{top}' in {path!r} is a scalar; it needs at least 1 axis "
                               "(the rows).")
        if dataset.dtype.kind not in "fiu":
            raise TunewizError(f"{where}: dataset '{top}' in {path!r} has type {dataset.dtype}; Caffe reads "
                               "float or integer datasets only.")
        found.append(dataset)
    rows = found[0].shape[0]
    for top, dataset in zip(tops[1:], found[1:]):
        if dataset.shape[0] != rows:
            raise TunewizError(f"{where}: in {path!r} dataset '{top}' has {dataset.shape[0]} rows and "
                               f"'{tops[0]}' has {rows}; every top's dataset needs the same number of rows.")
    if rows == 0:
        raise TunewizError(f"{where}: the datasets in {path!r} have no rows.")
    return found


def file_rows(path: str, tops: list[str], where: str) -> tuple[int, list[tuple[int, ...]]]:
    """The row count of ``path`` and each top's dataset shape (metadata only, no data read)."""
    with _open(path, where) as handle:
        datasets = _datasets(handle, path, tops, where)
        return int(datasets[0].shape[0]), [tuple(int(d) for d in ds.shape) for ds in datasets]


def load_file(path: str, tops: list[str], where: str) -> list[np.ndarray]:
    """Each top's dataset of ``path`` as float32 (rows first)."""
    with _open(path, where) as handle:
        return [np.asarray(ds[()], dtype=np.float32) for ds in _datasets(handle, path, tops, where)]


def write_output(path: str, data: np.ndarray, label: np.ndarray, where: str) -> None:
    """HDF5Output's file: ``data`` and ``label`` float32 datasets, written whole then renamed over ``path``."""
    from tunewiz.caffe.tempfiles import temp_path

    h5py = h5py_module(f"{where}: HDF5 output files")
    temp = temp_path(path)
    try:
        with h5py.File(temp, "w") as handle:
            handle.create_dataset("data", data=np.asarray(data, dtype=np.float32))
            handle.create_dataset("label", data=np.asarray(label, dtype=np.float32))
        os.replace(temp, path)
    except OSError as exc:
        raise TunewizError(f"{where}: Failed to write the HDF5 file {path!r}: {exc}") from None
    finally:
        if temp.exists():
            temp.unlink()
