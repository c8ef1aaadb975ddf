"""Batches for ``HDF5Data`` layers, walked as Caffe's HDF5DataLayer walks its files.

``hdf5_feed(layer, root=)`` -> :class:`HDF5Feed`, with the interface of :class:`tunewiz.data.feed.Feed`:
``top_shapes``, ``batch_size``, ``source`` (``len()`` = the rows of every listed file: one pass),
``next_batch()``, ``last_keys`` (``file:row`` of each item), ``state()``/``restore()`` and ``close()``.

Caffe's walk (``hdf5_data_layer.cpp``), kept here row for row:

* setup: ``file_permutation`` = 0..F-1, shuffled if ``shuffle``; the first file of it is loaded, and
  the tops are ``(batch_size, *dataset.shape[1:])`` of that file (each top a dataset of its name);
* loading a file: ``data_permutation`` = 0..N-1, shuffled if ``shuffle``;
* ``Next()`` after each row: at a file's last row the next file is loaded (with more than one file; after
  the last one, ``file_permutation`` is shuffled again), and ``data_permutation`` is shuffled again;
* a batch takes ``batch_size`` rows in turn, crossing files and wrapping around.

The shuffles are ``std::random_shuffle`` over the C library's ``rand()`` (:mod:`tunewiz.data.crand`),
which Caffe never seeds (``random_seed`` does not change it): each layer here starts its own ``rand()``
at glibc's default ``srand(1)``, so a process with one shuffling HDF5Data layer, as usual (TRAIN only),
draws Caffe's exact order; Caffe's layers share one ``rand()``, so with several the orders differ.
A file's data are read when its first row is needed (its metadata checked when Caffe loads it), so a
net built on the meta device reads shapes only.  Like Caffe's layer, no batches are prefetched: a
batch is rows copied from memory.
"""
from __future__ import annotations

import numpy as np

from tunewiz.data.crand import CRand, random_shuffle
from tunewiz.caffe.hdf5 import h5py_module
from tunewiz.data.hdf5_files import file_rows, load_file, read_source
from tunewiz.data.paths import resolve
from tunewiz.errors import TunewizError


class HDF5Source:
    """The listed files' rows in Caffe's order (``current_file_``, ``current_row_``, the permutations)."""

    def __init__(self, paths: list[str], names: list[str], tops: list[str], shuffle: bool, where: str):
        self.paths, self.names, self.tops, self.where = paths, names, tops, where
        self.rng = CRand(1) if shuffle else None
        self.files = list(range(len(paths)))
        if self.rng is not None:
            random_shuffle(self.files, self.rng)
        self.current, self.wraps = 0, 0
        self._rows_per_file: dict[int, int] = {}
        self.shapes = self._open_current()
        self.row = 0

    def _open_current(self) -> list[tuple[int, ...]]:
        """Caffe's ``LoadHDF5FileData``: check the file, make ``data_permutation`` (shuffled if asked)."""
        index = self.files[self.current]
        rows, shapes = file_rows(self.paths[index], self.tops, self.where)
        self._rows_per_file[index] = rows
        self.rows = list(range(rows))
        if self.rng is not None:
            random_shuffle(self.rows, self.rng)
        self.arrays = None  # read when a row is needed
        return shapes

    def check_item_sizes(self, shapes: list[tuple[int, ...]], item_sizes: list[int]) -> None:
        """A later file's rows must hold as many values per top as the first file's (the top shapes)."""
        for top, shape, size in zip(self.tops, shapes, item_sizes):
            if int(np.prod(shape[1:], dtype=np.int64)) != size:
                raise TunewizError(
                    f"{self.where}: dataset '{top}' in {self.paths[self.files[self.current]]!r} has rows of shape "
                    f"{shape[1:]}, the first file's give the top {size} values a row; every file needs the same.")

    def __len__(self) -> int:
        """The rows of every listed file: one pass of the set."""
        for index, path in enumerate(self.paths):
            if index not in self._rows_per_file:
                self._rows_per_file[index] = file_rows(path, self.tops, self.where)[0]
        return sum(self._rows_per_file[i] for i in range(len(self.paths)))

    def take(self, count: int, item_sizes: list[int]) -> tuple[list[np.ndarray], list[str]]:
        """Up to ``count`` rows of the current file (not past its end) and their keys; advances."""
        if self.arrays is None:
            self.arrays = [a.reshape(a.shape[0], -1) for a in
                           load_file(self.paths[self.files[self.current]], self.tops, self.where)]
        stop = min(self.row + count, len(self.rows))
        picked = self.rows[self.row:stop]
        chunk = [a[picked] for a in self.arrays]
        name = self.names[self.files[self.current]]
        keys = [f"{name}:{r}" for r in picked]
        self.row = stop
        if self.row == len(self.rows):
            self._next_file(item_sizes)
        return chunk, keys

    def _next_file(self, item_sizes: list[int]) -> None:
        """Caffe's ``Next()`` at a file's last row."""
        if len(self.files) > 1:
            self.current += 1
            if self.current == len(self.files):
                self.current, self.wraps = 0, self.wraps + 1
                if self.rng is not None:
                    random_shuffle(self.files, self.rng)
            self.check_item_sizes(self._open_current(), item_sizes)
        else:
            self.wraps += 1
        self.row = 0
        if self.rng is not None:
            random_shuffle(self.rows, self.rng)

    def state(self) -> dict:
        """JSON-able position: file, row, and with ``shuffle`` both orders and the ``rand()`` state."""
        state = {"current": self.current, "row": self.row, "wraps": self.wraps}
        if self.rng is not None:
            state.update(files=list(self.files), rows=list(self.rows), rand=self.rng.state())
        return state

    def restore(self, state: dict) -> None:
        if self.rng is not None and "files" in state:
            self.files = [int(i) for i in state["files"]]
        self.current, self.wraps = int(state["current"]), int(state.get("wraps", 0))
        self._open_current()
        if self.rng is not None and "rows" in state:
            self.rows = [int(r) for r in state["rows"]]
            self.rng.restore(state["rand"])
        self.row = int(state["row"])

    def close(self) -> None:
        self.arrays = None


class HDF5Feed:
    """Batches of one HDF5Data layer; see the module docstring.  With ``shard`` = (rank, size): the rows
    whose position modulo size is rank (Caffe's ``HDF5DataLayer::Skip``), as :class:`tunewiz.data.feed.Feed`."""

    def __init__(self, source: HDF5Source, batch_size: int, shard: tuple[int, int] | None = None):
        self.source, self.batch_size, self.last_keys = source, batch_size, []
        self.rank, self.size = shard or (0, 1)
        self.top_shapes = [(batch_size, *shape[1:]) for shape in source.shapes]
        self.item_sizes = [int(np.prod(s[1:], dtype=np.int64)) for s in self.top_shapes]
        self._rows(self.rank)

    def _rows(self, count: int) -> tuple[list[np.ndarray], list[str]]:
        """The next ``count`` rows of every top (across files), float32, flat per row."""
        outs = [np.empty((count, size), np.float32) for size in self.item_sizes]
        keys: list[str] = []
        while len(keys) < count:
            chunk, chunk_keys = self.source.take(count - len(keys), self.item_sizes)
            for out, rows in zip(outs, chunk):
                out[len(keys):len(keys) + len(chunk_keys)] = rows
            keys += chunk_keys
        return outs, keys

    def next_batch(self) -> list[np.ndarray]:
        """The next ``batch_size`` rows of every top, float32, in the tops' shapes."""
        outs, keys = self._rows(self.batch_size * self.size - (self.size - 1))
        if self.size > 1:  # this rank's rows, then stand on its next one
            outs, keys = [out[::self.size] for out in outs], keys[::self.size]
            self._rows(self.size - 1)
        self.last_keys = keys
        return [np.ascontiguousarray(out).reshape(shape) for out, shape in zip(outs, self.top_shapes)]

    def state(self) -> dict:
        return self.source.state()

    def restore(self, state: dict) -> None:
        self.source.restore(state)
        self._rows(self.rank)

    def close(self) -> None:
        self.source.close()


def hdf5_feed(layer, root: str | None = None, shard: tuple[int, int] | None = None) -> HDF5Feed:
    """The feed of an ``HDF5Data`` LayerParameter (``hdf5_data_param { source batch_size shuffle }``)."""
    where = f"layer '{layer.name}' (HDF5Data)"
    h5py_module(f"{where}: HDF5 data files")
    if layer.HasField("transform_param"):
        raise TunewizError(f"{where}: HDF5Data does not transform data (Caffe refuses transform_param here); "
                           "remove transform_param and store the data in the .h5 files as the net takes it.")
    hp = layer.hdf5_data_param
    if hp.batch_size <= 0:
        raise TunewizError(f"{where}: hdf5_data_param.batch_size must be > 0.")
    if not layer.top:
        raise TunewizError(f"{where}: needs at least one top (each top reads the dataset of its name).")
    names = read_source(resolve(hp.source, root), where)
    paths = [resolve(name, root) for name in names]
    source = HDF5Source(paths, names, list(layer.top), bool(hp.shuffle), where)
    return HDF5Feed(source, int(hp.batch_size), shard)
