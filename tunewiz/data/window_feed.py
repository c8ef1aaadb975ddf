"""Batches of a ``WindowData`` layer (R-CNN fine-tuning), as Caffe 1.0's ``WindowDataLayer::load_batch``.

Caffe reads ``crop_size``, ``mirror``, ``mean_file`` and ``mean_value`` from ``transform_param`` and
``scale``, ``batch_size``, the thresholds, ``fg_fraction``, ``context_pad``, ``crop_mode``,
``cache_images`` and ``root_folder`` from ``window_data_param`` (``transform_param.scale`` is not used;
the V1 upgrade moves ``window_data_param.scale`` there, where this layer no longer sees it).
Each batch, TRAIN and TEST alike::

    num_fg = int(float(batch_size) * fg_fraction)
    for the batch_size - num_fg background items, then the num_fg foreground items:
        window = windows[PrefetchRand() % len(windows)]
        do_mirror = mirror && PrefetchRand() % 2
        the window cut, warped and written (tunewiz.data.window_crop); label = the window's class (0: bg)

``PrefetchRand`` is an mt19937 seeded with a draw of Caffe's global RNG (here an mt19937 of ``seed``):
the second draw when the DataTransformer drew one first (``mirror``, or a TRAIN ``crop_size``), else
the first, so a net whose first layer this is samples exactly as Caffe with ``random_seed``.
The images (read in color, ``cv::imread``; with ``cache_images`` the files' bytes kept and decoded per
window) are cut in worker processes (:mod:`tunewiz.data.workers`, started on the first batch,
``prefetch`` batches ahead); the mean and scale are applied here.
"""
from __future__ import annotations

import os
from collections import deque

import numpy as np

from tunewiz.data.transform import mt19937, rng_state, set_rng_state
from tunewiz.data.window_crop import place_window
from tunewiz.data.window_file import WindowFileError, read_window_file
from tunewiz.errors import TunewizError

MODES = ("warp", "square")


class WindowFeedError(TunewizError):
    """A WindowData layer's parameters or files cannot be used."""


def _resolve(path: str, root: str | None) -> str:
    return path if os.path.isabs(path) or not root else os.path.join(root, path)


def window_feed(layer, phase: int, *, seed: int | None = None, root: str | None = None,
                workers: int | None = None) -> "WindowFeed":
    """The feed of a ``WindowData`` LayerParameter in ``phase`` (0 TRAIN, 1 TEST)."""
    where = f"layer '{layer.name}' (WindowData)"
    root = os.fspath(root) if root is not None else None
    tp, wp = layer.transform_param, layer.window_data_param
    _check_params(where, tp, wp)
    caffe_rng = mt19937(seed)
    if tp.mirror or phase == 0:  # the DataTransformer's InitRand draws first (crop_size is > 0 here)
        caffe_rng.random_raw()
    prefetch_rng = mt19937(int(caffe_rng.random_raw()))
    try:
        windows = read_window_file(_resolve(wp.source, root), wp.fg_threshold, wp.bg_threshold, wp.root_folder,
                                   shown=wp.source)
    except WindowFileError as exc:
        raise WindowFeedError(f"{where}: {exc}") from None
    for kind, found in (("foreground", windows.fg), ("background", windows.bg)):
        if not found:
            raise WindowFeedError(f"{where}: {wp.source} has no {kind} windows (fg: overlap >= fg_threshold "
                                  f"{wp.fg_threshold:g}, bg: overlap < bg_threshold {wp.bg_threshold:g}); Caffe "
                                  "needs both lists non-empty whatever fg_fraction is.")
    images = [_resolve(path, root) for path, _ in windows.images]
    cache = [_read_bytes(where, p) for p in images] if wp.cache_images else None
    if cache is None:
        for path, (shown, _) in zip(images, windows.images):
            if not os.path.isfile(path):
                raise WindowFeedError(f"{where}: Could not open or find file {shown} (looked for {path}); fix the "
                                      "window file or window_data_param.root_folder.")
    mean = _mean(where, tp, root) if tp.HasField("mean_file") else None
    if workers is None:
        from tunewiz.data.workers import default_workers

        workers = min(default_workers(), 4)
    return WindowFeed(where, layer, windows, images, cache, mean, prefetch_rng, workers, max(1, layer.data_param.prefetch))


def _check_params(where: str, tp, wp) -> None:
    if tp.crop_size <= 0:
        moved = " (window_data_param.crop_size is not read: move it there)" if wp.crop_size else ""
        raise WindowFeedError(f"{where}: transform_param.crop_size must be > 0, the size windows are warped to"
                              f"{moved}.")
    if wp.batch_size <= 0:
        raise WindowFeedError(f"{where}: window_data_param.batch_size must be > 0.")
    if not wp.source:
        raise WindowFeedError(f"{where}: window_data_param.source is empty; name the window file.")
    if wp.crop_mode not in MODES:
        raise WindowFeedError(f"{where}: crop_mode {wp.crop_mode!r} is not one of 'warp', 'square'.")
    if 2 * wp.context_pad >= tp.crop_size:
        raise WindowFeedError(f"{where}: context_pad {wp.context_pad} leaves nothing of the {tp.crop_size} pixel "
                              "crop (2 * context_pad must be < crop_size).")
    if not 0 <= wp.fg_fraction <= 1:
        raise WindowFeedError(f"{where}: fg_fraction {wp.fg_fraction:g} must be between 0 and 1.")
    if tp.HasField("mean_file") and len(tp.mean_value):
        raise WindowFeedError(f"{where}: Cannot specify mean_file and mean_value at the same time; keep one.")
    if len(tp.mean_value) not in (0, 1, 3):
        raise WindowFeedError(f"{where}: Specify either 1 mean_value or as many as channels: 3 "
                              f"(got {len(tp.mean_value)}).")


def _read_bytes(where: str, path: str) -> bytes:
    """``ReadFileToDatum`` for ``cache_images``: the file's bytes, decoded per window."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        raise WindowFeedError(f"{where}: Could not open or find file {path} (cache_images); fix the window file or "
                              "window_data_param.root_folder.") from None


def _mean(where: str, tp, root) -> np.ndarray:
    from tunewiz.caffe.binaryproto import read_mean

    path = _resolve(tp.mean_file, root)
    if not os.path.isfile(path):
        raise WindowFeedError(f"{where}: mean_file {tp.mean_file!r} not found (looked for {path}).")
    mean = np.ascontiguousarray(read_mean(path), np.float32)
    cs = tp.crop_size
    off = (mean.shape[-1] - cs) // 2
    if mean.ndim != 3 or mean.shape[0] < 3 or off < 0 or off + cs > mean.shape[1]:
        raise WindowFeedError(f"{where}: the mean_file is {'x'.join(map(str, mean.shape))}; WindowData reads the "
                              f"centre {cs}x{cs} of each of 3 channels (at offset (width - crop_size) / 2 = {off} on "
                              "both axes), so it must be at least 3 x crop_size x crop_size.")
    return mean


def sample_batch(rng: np.random.MT19937, fg: list, bg: list, batch_size: int, fg_fraction: float,
                 mirror: bool) -> list[tuple[object, bool]]:
    """Caffe's draws for one batch: [(window, do_mirror)], background items first."""
    num_fg = int(np.float32(batch_size) * np.float32(fg_fraction))
    picks = []
    for windows, count in ((bg, batch_size - num_fg), (fg, num_fg)):
        for _ in range(count):
            window = windows[int(rng.random_raw()) % len(windows)]
            picks.append((window, bool(mirror and int(rng.random_raw()) % 2)))
    return picks


def cut_task(task) -> tuple[np.ndarray, int, int]:
    """One window in a worker: (image path or bytes, box, crop_size, context_pad, square, mirror, what)."""
    import cv2

    from tunewiz.data.window_crop import cut_window

    image, box, crop_size, context_pad, square, mirror, what = task
    if isinstance(image, bytes):
        img = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
    else:
        img = cv2.imread(image, cv2.IMREAD_COLOR)
    if img is None:
        raise WindowFeedError(f"{what}: Could not open or find file (or not an image).")
    return cut_window(img, box, crop_size, context_pad, square, mirror, what)


class WindowFeed:
    """``top_shapes``, ``next_batch()`` -> [data, label], ``state()``/``restore()``, ``close()``, ``last_keys``."""

    def __init__(self, where, layer, windows, images, cache, mean, rng, workers: int, prefetch: int):
        tp, wp = layer.transform_param, layer.window_data_param
        self.where, self.windows, self.images, self.cache, self.rng = where, windows, images, cache, rng
        self.batch_size, self.crop_size = int(wp.batch_size), int(tp.crop_size)
        self.fg_fraction, self.mirror = float(wp.fg_fraction), bool(tp.mirror)
        self.context_pad, self.square, self.scale = int(wp.context_pad), wp.crop_mode == "square", float(wp.scale)
        self.mean = mean
        self.mean_values = np.resize(np.asarray(tp.mean_value, np.float32), 3) if len(tp.mean_value) else None
        self.item_shape = (3, self.crop_size, self.crop_size)
        self.top_shapes = [(self.batch_size, *self.item_shape), (self.batch_size,)]
        self.workers = workers if os.name == "posix" else 0
        self.depth = prefetch if self.workers else 1
        self.last_keys: list[str] = []
        self._pool = None
        self._pending: deque = deque()
        self._closed = False

    def _what(self, window) -> str:
        return (f"{self.where}: window of line {window.line} of {self.windows.path} "
                f"(image {self.windows.images[window.image][0]}, box {' '.join(map(str, window.box))})")

    def _submit(self) -> None:
        state = rng_state(self.rng)
        picks = sample_batch(self.rng, self.windows.fg, self.windows.bg, self.batch_size, self.fg_fraction,
                             self.mirror)
        tasks = [((self.cache or self.images)[w.image], w.box, self.crop_size, self.context_pad, self.square, m,
                  self._what(w)) for w, m in picks]
        if self._pool is None and self.workers:
            from tunewiz.data.workers import WorkerPool

            self._pool = WorkerPool(cut_task, self.workers)
        if self._pool is None:
            handles = [[cut_task(t) for t in tasks]]
        else:
            per = -(-len(tasks) // self.workers)
            handles = [self._pool.submit(tasks[i:i + per]) for i in range(0, len(tasks), per)]
        self._pending.append((state, handles, picks))

    def next_batch(self) -> list[np.ndarray]:
        """The next batch: ``[data (N, 3, cs, cs) float32, label (N,) float32]``."""
        if self._closed:
            raise WindowFeedError(f"{self.where}: the data feed is closed (after an error or close()).")
        while len(self._pending) < self.depth:
            self._submit()
        _, handles, picks = self._pending.popleft()
        try:
            cuts = [cut for h in handles for cut in (h if isinstance(h, list) else h.get())]
        except BaseException:
            self.close()  # the workers' pipes are out of step now: this feed cannot go on
            raise
        if self._pool is not None:
            self._submit()
        data = np.zeros((self.batch_size, *self.item_shape), np.float32)
        for out, (warped, pad_h, pad_w) in zip(data, cuts):
            place_window(out, warped, pad_h, pad_w, self.scale, self.mean, self.mean_values)
        self.last_keys = [f"{self.windows.images[w.image][0]} window of line {w.line}" for w, _ in picks]
        return [data, np.asarray([w.label for w, _ in picks], np.float32)]

    def state(self) -> dict:
        """JSON-able random state of the next batch (the window lists never move)."""
        return {"rng": dict(self._pending[0][0]) if self._pending else rng_state(self.rng)}

    def restore(self, state: dict) -> None:
        """Continue exactly from a ``state()``."""
        for _, handles, _ in self._pending:
            for h in handles:
                if not isinstance(h, list):
                    h.get()
        self._pending.clear()
        set_rng_state(self.rng, state["rng"])

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        self._closed = True
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        self._pending.clear()
