"""Batches for ``Data`` and ``ImageData`` layers, as Caffe's data layers produce them (``HDF5Data``'s
come from :mod:`tunewiz.data.hdf5_source`, ``WindowData``'s from :mod:`tunewiz.data.window_feed`, through the
same ``make_feed``).

``make_feed(layer, phase, seed=, root=)`` -> :class:`Feed` with ``top_shapes``, ``next_batch()``
(``[data float32 NCHW, label float32 (N,)]``), ``state()``/``restore()`` (exact resume: cursor,
shuffle order and random state) and ``close()``.
Records come from :mod:`tunewiz.data.sources` in Caffe's order, every image goes through
:class:`tunewiz.data.transform.Transformer`.  Random numbers follow Caffe's structure: ``seed``
seeds an mt19937 standing in for Caffe's global RNG; its successive outputs seed the
transformer (only when ``mirror`` or a TRAIN ``crop_size`` needs one), the ImageData shuffle and
``rand_skip`` (Caffe's ``caffe_rng_rand()`` calls, in that order).
Decoding (encoded records, image files) runs in worker processes that write straight into
shared-memory batch buffers (``prefetch`` batches ahead, Caffe's ``data_param.prefetch``); raw records
are transformed in this process with numpy (no per-pixel Python loops).
"""
from __future__ import annotations

import os
import weakref
from collections import deque
from multiprocessing import shared_memory

import numpy as np

from tunewiz.data.feed_work import Ctx, load_list, load_record, work
from tunewiz.data.hdf5_source import HDF5Feed, hdf5_feed
from tunewiz.data.paths import resolve
from tunewiz.data.sources import DBSource, ListSource
from tunewiz.data.transform import Transformer, mt19937, set_rng_state
from tunewiz.data.workers import WorkerPool, default_workers, ensure_resource_tracker
from tunewiz.errors import TunewizError


class FeedError(TunewizError):
    """A data layer's parameters or source cannot be used."""


def _env_workers() -> int | None:
    value = os.environ.get("TUNEWIZ_DATA_WORKERS")
    return int(value) if value else None


def make_feed(layer, phase: int, *, seed: int | None = None, root: str | None = None,
              workers: int | None = None, shard: tuple[int, int] | None = None) -> "Feed | HDF5Feed":
    """The feed of a ``Data``, ``ImageData``, ``HDF5Data`` or ``WindowData`` (:mod:`tunewiz.data.window_feed`)
    LayerParameter in ``phase`` (0 TRAIN, 1 TEST).  ``shard`` = (rank, world size): this rank's records
    of a multi-rank run (see :class:`Feed`); WindowData samples at random instead, from seed + rank."""
    where = f"layer '{layer.name}' ({layer.type})"
    root = os.fspath(root) if root is not None else None  # the trainer passes a Path, the tools a str
    if layer.type == "HDF5Data":  # no transform_param, no workers: rows copied from memory
        return hdf5_feed(layer, root=root, shard=shard)
    workers = _env_workers() if workers is None else workers
    if layer.type == "WindowData":  # its own sampling and crops, mean and mirror from transform_param
        from tunewiz.data.window_feed import window_feed

        if shard and seed is not None:  # Caffe: set_random_seed(random_seed + solver_rank)
            seed += shard[0]
        return window_feed(layer, phase, seed=seed, root=root, workers=workers)
    tp = layer.transform_param
    caffe_rng = mt19937(seed)
    needs_rand = tp.mirror or (phase == 0 and tp.crop_size > 0)
    t_seed = int(caffe_rng.random_raw()) if needs_rand else 0
    transformer = Transformer(tp, phase, seed=t_seed, root=root, where=where)
    if layer.type == "Data":
        dp = layer.data_param
        if dp.batch_size <= 0:
            raise FeedError(f"{where}: data_param.batch_size must be > 0.")
        if not dp.source:
            raise FeedError(f"{where}: data_param.source is empty; name the LMDB/LevelDB to read.")
        from tunewiz.caffe import caffe_pb2

        backend = caffe_pb2.DataParameter.DB.Name(dp.backend).lower()
        try:
            source = DBSource(resolve(dp.source, root), backend)
        except TunewizError as exc:
            raise FeedError(f"{where}: {exc}") from None
        return Feed(where, source, ("db", transformer.decode_mode), transformer, dp.batch_size,
                    len(layer.top), workers, max(1, dp.prefetch), shard)
    if layer.type == "ImageData":
        return _image_data_feed(layer, phase, where, transformer, caffe_rng, root, workers, shard)
    raise FeedError(f"{where}: no data feed for layer type {layer.type!r} (Data, ImageData, HDF5Data and "
                    "WindowData have one).")


def _image_data_feed(layer, phase, where, transformer, caffe_rng, root, workers, shard) -> "Feed":
    """ImageDataLayer: ``path label`` lines (split at the last space), ``root_folder + path``."""
    from tunewiz.data.listfile import ListFileError, parse_line, read_list_text

    ip = layer.image_data_param
    if (ip.new_height > 0) != (ip.new_width > 0):
        raise FeedError(f"{where}: set new_height and new_width together (Caffe: Current implementation "
                        "requires new_height and new_width to be set at the same time).")
    if ip.batch_size <= 0:
        raise FeedError(f"{where}: image_data_param.batch_size must be > 0.")
    path = resolve(ip.source, root)
    try:  # a regular file of sane size: a FIFO would block, /dev/zero never end
        text = read_list_text(path).splitlines()
    except ListFileError as exc:
        raise FeedError(f"{where}: cannot read the list {ip.source!r}: {exc} Paths are relative to "
                        "the folder you run from, as in Caffe.") from None
    lines = [parse_line(t.rstrip("\r"), ip.source, i + 1) for i, t in enumerate(text) if t.strip()]
    if not lines:
        raise FeedError(f"{where}: the list {ip.source!r} is empty (Caffe: File is empty).")
    shuffle_rng = mt19937(int(caffe_rng.random_raw())) if ip.shuffle else None
    skip = int(caffe_rng.random_raw()) % ip.rand_skip if ip.rand_skip else 0
    if skip >= len(lines):
        raise FeedError(f"{where}: rand_skip {ip.rand_skip} skips past the {len(lines)} images (Not enough points to skip).")
    folder = ip.root_folder
    if folder and not folder.endswith(("/", os.sep)):
        folder += "/"
    config = ("list", resolve(folder, root) if folder else (root or ""), ip.new_height, ip.new_width, ip.is_color,
              bool(ip.root_folder))
    return Feed(where, ListSource(lines, shuffle_rng, skip), config, transformer, ip.batch_size,
                len(layer.top), workers, max(1, layer.data_param.prefetch), shard)


def _release(pool: WorkerPool | None, shm: shared_memory.SharedMemory | None) -> None:
    """Stop the workers and unlink the shared memory (once: ``Feed.close`` or, failing that, at exit)."""
    if pool is not None:
        pool.close()
    if shm is not None:
        shm.unlink()


class Feed:
    """Batches of one data layer; see the module docstring.

    With ``shard`` = (rank, size) the feed takes the records whose position in the stream of records
    (wrapping around, reshuffled as one process would) modulo ``size`` is ``rank`` (Caffe's
    ``DataLayer::Skip``), and draws the transformer's random numbers of the records it skips too, so
    the ranks together see the batches, mirrors and crops of one process with ``size`` times the batch.
    Between batches the feed stands on its own next record: rank 0's ``state()`` is where the whole
    stream stands, and ``restore`` of it moves rank r on by r records."""

    def __init__(self, where, source, load_config, transformer: Transformer, batch_size: int,
                 ntops: int, workers: int | None, prefetch: int, shard: tuple[int, int] | None = None):
        self.where, self.source, self.transformer = where, source, transformer
        self.rank, self.size = shard or (0, 1)
        self.batch_size, self.last_keys = batch_size, []
        first_state = source.state()
        name, payload = source.next()
        img, _ = (load_record if load_config[0] == "db" else load_list)(payload, load_config, name, where)
        source.restore(first_state)
        self._skip(self.rank)
        self.item_shape = transformer.output_shape(img.shape)
        self.top_shapes = [(batch_size, *self.item_shape)] + ([(batch_size,)] if ntops > 1 else [])
        if workers is None:
            heavy = load_config[0] == "list" or _is_encoded(payload, load_config)
            workers = min(default_workers(), 4) if heavy else 0
        self.workers = workers if os.name == "posix" else 0
        self.depth = prefetch if self.workers else 1
        item_bytes = int(np.prod(self.item_shape)) * 4
        bufs, self._shm = None, None
        if self.workers:  # shared with the workers, who attach to it by name
            ensure_resource_tracker()
            self._shm = shared_memory.SharedMemory(create=True, size=max(1, self.depth * batch_size * item_bytes))
            bufs = np.ndarray((self.depth, batch_size, *self.item_shape), np.float32, buffer=self._shm.buf)
        self.ctx = Ctx(load_config, transformer, bufs, self.item_shape, where)
        self._pool = None
        if self.workers:
            worker_ctx = Ctx(load_config, transformer, None, self.item_shape, where)
            self._pool = WorkerPool(work, self.workers, _set_ctx, (worker_ctx, self._shm.name, bufs.shape))
        # also at exit: a pycaffe script never closes its net, and the shared memory must not outlive it
        self._finalizer = weakref.finalize(self, _release, self._pool, self._shm)
        self._pending: deque = deque()
        self._next_buf = 0
        self._closed = False

    def _state_now(self) -> dict:
        """Source position + the transformer's raw mt19937 state (made JSON-able in ``state()``)."""
        return {"source": self.source.snapshot(), "rng": self.transformer.bitgen.state["state"]}

    def _submit(self) -> None:
        state = self._state_now()
        buf, self._next_buf = self._next_buf, (self._next_buf + 1) % self.depth
        tasks = []
        for slot in range(self.batch_size):
            name, payload = self.source.next()
            tasks.append((buf, slot, name, payload, self.transformer.draws()))
            self._skip(self.size - 1)
        if self._pool is None:  # in this process: straight into a fresh array (no copy later)
            data = np.empty((self.batch_size, *self.item_shape), np.float32)
            ctx = Ctx(self.ctx.load_config, self.transformer, data[None], self.item_shape, self.where)
            handles = [[work((0, *task[1:]), ctx) for task in tasks]]
            buf = data
        else:
            per = -(-len(tasks) // self.workers)
            handles = [self._pool.submit(tasks[i:i + per]) for i in range(0, len(tasks), per)]
        self._pending.append((state, buf, handles, [t[2] for t in tasks]))

    def next_batch(self) -> list[np.ndarray]:
        """The next batch: ``[data (N,C,H,W) float32, label (N,) float32]`` (data only with one top)."""
        if self._closed:
            raise FeedError(f"{self.where}: the data feed is closed (after an error or close()).")
        while len(self._pending) < self.depth:
            self._submit()
        _, buf, handles, keys = self._pending.popleft()
        try:
            labels = [label for h in handles for label in (h if isinstance(h, list) else h.get())]
        except BaseException:
            self.close()  # the workers' pipes are out of step now: this feed cannot go on
            raise
        data = buf if isinstance(buf, np.ndarray) else self.ctx.bufs[buf].copy()
        if self._pool is not None:
            self._submit()  # keep the workers ``prefetch`` batches ahead
        self.last_keys = keys
        if len(self.top_shapes) == 1:
            return [data]
        return [data, np.asarray(labels, np.float32)]

    def _drain(self) -> None:
        for _, _, handles, _ in self._pending:
            for h in handles:
                if not isinstance(h, list):
                    h.get()
        self._pending.clear()

    def state(self) -> dict:
        """JSON-able position (next record, shuffle order, random state) of the next batch."""
        state = dict(self._pending[0][0]) if self._pending else self._state_now()
        return {"source": self.source.jsonable(state["source"]),
                "rng": {"key": [int(k) for k in state["rng"]["key"]], "pos": int(state["rng"]["pos"])}}

    def restore(self, state: dict) -> None:
        """Continue exactly from a ``state()``."""
        self._drain()
        self.source.restore(state["source"])
        set_rng_state(self.transformer.bitgen, state["rng"])
        self._skip(self.rank)

    def _skip(self, count: int) -> None:
        """Pass over ``count`` records of the other ranks, with the random numbers drawn for them."""
        for _ in range(count):
            self.source.next()
            self.transformer.draws()

    def close(self) -> None:
        """Stop the workers and close the database (idempotent)."""
        self._closed = True
        self._finalizer()
        self._pool = None
        self._pending.clear()
        if self._shm is not None:
            self.ctx.bufs = None
            self._shm = None  # its mapping goes with the last view
        self.source.close()


def _is_encoded(payload, load_config) -> bool:
    from tunewiz.data.datum import parse_datum

    return bool(parse_datum(payload).encoded)


def _set_ctx(ctx: Ctx, shm_name: str, shape: tuple) -> None:
    """Worker initializer: the feed's context, its batch buffers attached by name."""
    import tunewiz.data.feed_work as fw

    shm = shared_memory.SharedMemory(name=shm_name)
    ctx.bufs = np.ndarray(shape, np.float32, buffer=shm.buf)
    fw.CTX, fw.SHM = ctx, shm  # kept alive with the worker
