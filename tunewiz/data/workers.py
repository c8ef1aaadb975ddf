"""Worker processes for decoding: an ordered, bounded parallel map.

``WorkerPool(fn, workers)`` runs ``fn(item)`` in ``workers`` processes (0 = in this process).
Each worker has its own pipe; chunks are handed out round-robin and their results read back in
the same order, so results come in input order and at most ``depth`` chunks per worker are in
flight: memory stays flat however long the input is.  Results are pickled with protocol 5: a
``pickle.PickleBuffer`` in a result (image bytes) travels out of band, written with ``writev``
and read into one buffer, so it is copied once on each side.  Workers run OpenCV single-threaded.

Workers are started with ``forkserver`` (``spawn`` where there is none), never a plain ``fork``:
the wizard converts and trains in a thread, and forking a multi-threaded process can deadlock a
child on a lock another thread held (Python 3.12 warns).  The fork server is a fresh,
single-threaded process that imports ``PRELOAD`` once; each worker is forked from it, so starting
one costs a fork, not an interpreter start.  ``fn``, ``initializer`` and their arguments are
pickled, so they must be module-level (shared memory goes by name, see ``tunewiz.data.feed``).
The children never import the user's ``__main__`` (multiprocessing's fix-up would re-run a script
that lacks an ``if __name__ == "__main__"`` guard, whose child then dies starting its own workers):
they run only tunewiz's functions, so ``__main__`` is a bare module while they start
(:func:`main_hidden`).  A script read from stdin gets forked workers (nothing to re-import).
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import struct
import sys
import types
from collections import deque

from tunewiz.errors import TunewizError

_HEAD = struct.Struct("<QQ")  # pickle length, number of out-of-band buffers
PRELOAD = ["numpy", "cv2", "tunewiz.data.workers", "tunewiz.data.imageset", "tunewiz.data.feed_work",
           "tunewiz.data.transform"]


def _main_importable() -> bool:
    """Can a fresh child re-import ``__main__`` (as forkserver/spawn do)? Not a script read from stdin."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return getattr(main, "__spec__", None) is not None or path is None or os.path.exists(path)


@contextlib.contextmanager
def main_hidden():
    """``sys.modules["__main__"]`` is a bare module inside the block: a forkserver or spawn child started
    here finds no main module to import (``spawn.get_preparation_data`` reads it at start), so an
    unguarded script is not run again in each worker.  Used only around ``Process.start``."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is None:
            sys.modules.pop("__main__", None)
        else:
            sys.modules["__main__"] = main


def ensure_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with a real stderr.

    The tracker (used by fork-server workers and the feed's shared memory) is started on first use
    with ``sys.stderr.fileno()`` in its fds to keep; a host that captures stderr (Textual's capture
    has fileno -1) makes that start fail with "bad value(s) in fds_to_keep".  Starting it here with
    the process's real stderr works under any host; a no-op once it runs.
    """
    from multiprocessing import resource_tracker

    saved = sys.stderr
    try:
        fileno = saved.fileno() if saved is not None else -1
    except (AttributeError, OSError, ValueError):
        fileno = -1
    try:
        if fileno < 0:
            sys.stderr = sys.__stderr__
        resource_tracker.ensure_running()
    except (OSError, ValueError):
        pass  # the workers say what failed when they start
    finally:
        sys.stderr = saved


def start_context(method: str | None = None):
    """The multiprocessing context workers start in: ``forkserver`` (preloading ``PRELOAD``) where the
    platform has it, else ``spawn``; ``method`` (or ``TUNEWIZ_START_METHOD``) overrides, for benchmarks."""
    methods = multiprocessing.get_all_start_methods()
    if not method and not os.environ.get("TUNEWIZ_START_METHOD") and not _main_importable() and "fork" in methods:
        method = "fork"
    method = method or os.environ.get("TUNEWIZ_START_METHOD") or ("forkserver" if "forkserver" in methods else "spawn")
    ctx = multiprocessing.get_context(method)
    if method != "fork":
        ensure_resource_tracker()
    if method == "forkserver":
        ctx.set_forkserver_preload(PRELOAD)  # effective only before the server's first start
    return ctx


def default_workers() -> int:
    """One worker per CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _worker_main(tasks, results, fn, initializer, initargs) -> None:
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass
    if initializer is not None:
        initializer(*initargs)
    while True:
        try:
            chunk = tasks.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if chunk is None:
            return
        buffers: list = []
        try:
            payload = pickle.dumps([fn(item) for item in chunk], protocol=5, buffer_callback=buffers.append)
        except Exception as exc:  # sent back and raised in the parent
            buffers = []
            payload = pickle.dumps(_Failure(exc), protocol=5)
        _send(results.fileno(), payload, [b.raw() for b in buffers])


def _send(fd: int, payload: bytes, buffers: list) -> None:
    head = _HEAD.pack(len(payload), len(buffers)) + struct.pack(f"<{len(buffers)}Q", *(b.nbytes for b in buffers))
    parts = [memoryview(head), memoryview(payload), *buffers]
    while parts:
        written = os.writev(fd, parts[:512])
        while parts and written >= parts[0].nbytes:
            written -= parts[0].nbytes
            parts.pop(0)
        if written:
            parts[0] = parts[0][written:]


def _read_into(fd: int, view: memoryview) -> None:
    while view.nbytes:
        n = os.readv(fd, [view])
        if n == 0:
            raise WorkerDied(_DIED)
        view = view[n:]


def _recv(fd: int):
    head = bytearray(_HEAD.size)
    _read_into(fd, memoryview(head))
    size, count = _HEAD.unpack(head)
    lens = bytearray(8 * count)
    _read_into(fd, memoryview(lens))
    lens = struct.unpack(f"<{count}Q", lens)
    data = bytearray(size + sum(lens))
    view = memoryview(data)
    _read_into(fd, view)
    buffers, offset = [], size
    for n in lens:
        buffers.append(view[offset:offset + n])
        offset += n
    return pickle.loads(view[:size], buffers=buffers)


def _grow_pipe(*conns) -> None:
    """Ask Linux for 1 MiB pipe buffers (fewer wake-ups for image-sized messages); best effort."""
    try:
        import fcntl

        for conn in conns:
            fcntl.fcntl(conn.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ
    except (ImportError, OSError):
        pass


_DIED = ("a decoding worker process ended unexpectedly (killed, or out of memory?); "
         "try fewer workers (--workers) or free some memory.")


class WorkerDied(TunewizError):
    """A worker process ended while its results were awaited."""


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


class _Handle:
    """A submitted chunk: ``get()`` waits for its results."""

    def __init__(self, conn=None, value=None):
        self._conn, self._value = conn, value

    def get(self):
        if self._conn is not None:
            self._value = _recv(self._conn.fileno())
            self._conn = None
        if isinstance(self._value, _Failure):
            raise self._value.exc
        return self._value


class WorkerPool:
    """``submit(chunk)`` -> handle with ``get()`` (call them in submit order); ``imap``; ``close``.

    A worker reads its next chunk only after sending the previous results, so keep either the
    chunks or the results small (here: paths in / images out, or records in / labels out).
    """

    def __init__(self, fn, workers: int = 0, initializer=None, initargs=(), start_method: str | None = None):
        self.fn, self.workers = fn, workers
        self._procs, self._conns, self._next = [], [], 0
        if workers <= 0:
            if initializer is not None:
                initializer(*initargs)
            return
        ctx = start_context(start_method)
        for _ in range(workers):
            task_r, task_w = ctx.Pipe(duplex=False)  # one-way pipes: tasks in, results out
            result_r, result_w = ctx.Pipe(duplex=False)
            _grow_pipe(task_w, result_w)
            proc = ctx.Process(target=_worker_main, args=(task_r, result_w, fn, initializer, initargs), daemon=True)
            with main_hidden():
                proc.start()
            task_r.close()
            result_w.close()
            self._procs.append(proc)
            self._conns.append((task_w, result_r))

    def submit(self, chunk: list) -> _Handle:
        if not self._procs:
            return _Handle(value=[self.fn(item) for item in chunk])
        task_w, result_r = self._conns[self._next]
        self._next = (self._next + 1) % len(self._conns)
        try:
            task_w.send(chunk)
        except OSError:  # the worker is gone (its end of the pipe closed)
            raise WorkerDied(_DIED) from None
        return _Handle(conn=result_r)

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
        for task_w, result_r in self._conns:
            task_w.close()
            result_r.close()
        self._procs, self._conns = [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
