"""Worker processes for decoding: an ordered, bounded parallel map.

``WorkerPool(fn, workers)`` runs ``fn(item)`` in ``workers`` processes (0 = in this process).
Each worker has its own pipe; chunks are handed out round-robin and their results read back in
the same order, so results come in input order and at most ``depth`` chunks per worker are in
flight: memory stays flat however long the input is.  Large results (image bytes) travel as
raw pipe messages (no extra pickling copies).  Workers run OpenCV single-threaded.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
from collections import deque


def default_workers() -> int:
    """One worker per CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _worker_main(conn, fn, initializer, initargs) -> None:
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass
    if initializer is not None:
        initializer(*initargs)
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if chunk is None:
            return
        try:
            payload = pickle.dumps([fn(item) for item in chunk], protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # sent back and raised in the parent
            payload = pickle.dumps(_Failure(exc), protocol=pickle.HIGHEST_PROTOCOL)
        conn.send_bytes(payload)


def _grow_pipe(*conns) -> None:
    """Ask Linux for 1 MiB pipe buffers (fewer wake-ups for image-sized messages); best effort."""
    try:
        import fcntl

        for conn in conns:
            fcntl.fcntl(conn.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ
    except (ImportError, OSError):
        pass


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


class _Handle:
    """A submitted chunk: ``get()`` waits for its results."""

    def __init__(self, conn=None, value=None):
        self._conn, self._value = conn, value

    def get(self):
        if self._conn is not None:
            self._value = pickle.loads(self._conn.recv_bytes())
            self._conn = None
        if isinstance(self._value, _Failure):
            raise self._value.exc
        return self._value


class WorkerPool:
    """``submit(chunk)`` -> handle with ``get()`` (call them in submit order); ``imap``; ``close``."""

    def __init__(self, fn, workers: int = 0, initializer=None, initargs=()):
        self.fn, self.workers = fn, workers
        self._procs, self._conns, self._next = [], [], 0
        if workers <= 0:
            if initializer is not None:
                initializer(*initargs)
            return
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        for _ in range(workers):
            parent, child = ctx.Pipe()
            _grow_pipe(parent, child)
            proc = ctx.Process(target=_worker_main, args=(child, fn, initializer, initargs), daemon=True)
            proc.start()
            child.close()
            self._procs.append(proc)
            self._conns.append(parent)

    def submit(self, chunk: list) -> _Handle:
        if not self._procs:
            return _Handle(value=[self.fn(item) for item in chunk])
        conn = self._conns[self._next]
        self._next = (self._next + 1) % len(self._conns)
        conn.send(chunk)
        return _Handle(conn=conn)

    def imap(self, items, chunk: int = 8, depth: int = 2):
        """Results of ``fn`` over ``items`` in order; at most ``depth`` chunks per worker in flight."""
        window = max(1, depth * len(self._procs))
        pending: deque = deque()
        buf = []
        for item in items:
            buf.append(item)
            if len(buf) == chunk:
                pending.append(self.submit(buf))
                buf = []
                while len(pending) >= window:
                    yield from pending.popleft().get()
        if buf:
            pending.append(self.submit(buf))
        while pending:
            yield from pending.popleft().get()

    def close(self) -> None:
        for proc in self._procs:
            proc.kill()
        for proc in self._procs:
            proc.join()
        for conn in self._conns:
            conn.close()
        self._procs, self._conns = [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
