"""Writing a NEW LMDB/LevelDB database, as Caffe's ``db::NEW`` + ``Transaction`` do, safe on a full disk.

* ``db::NEW`` refuses an existing path (LMDB: ``mkdir`` must succeed; LevelDB: ``error_if_exists``).
* Writes go through transactions committed by the caller (convert_imageset: every 1000 records);
  when the LMDB map is full it is doubled and the transaction replayed (Caffe 1.0 does the same).
* A failed write (full disk, I/O error) is a ``DBWriteError`` (its ``cause``: the library's error);
  ``DBWriter.discard()`` removes what the writer created, the folders it made for it included.
"""
from __future__ import annotations

import os
import shutil

from tunewiz.data.db import BACKENDS, DBError, _plyvel

_INITIAL_MAP = 1 << 26  # 64 MiB, doubled when full
# Without writemap a transaction's dirty pages are malloc'ed until its commit (as LevelDB's write batch
# is): committing by size too keeps the writer's memory flat whatever the image size (content does
# not depend on where commits fall).
_TXN_BYTES = 64 << 20


class DBWriteError(DBError):
    """Writing a database failed; ``cause`` is the library's (or the OS's) error."""

    def __init__(self, message: str, cause: BaseException):
        super().__init__(message)
        self.cause = cause


class DBWriter:
    """A NEW database: ``put`` records, ``commit`` them; refuses an existing path.

    LMDB is opened WITHOUT ``writemap``: with it, the file is a sparse file mapped writable and a
    full disk is a SIGBUS (``Bus error``) on the page that cannot get a block; without it, pages
    are written with ``pwrite`` at commit and a full disk is an error (LMDB says EIO for the short
    write), as in Caffe.  Before each put the writer checks that the map has room for it (overflow
    pages + slack, estimated generously); when it has not, it commits early, doubles the map and
    carries on, so the map grows instead of failing.  It also commits every ``_TXN_BYTES``.
    ``pending``: bytes put since the last commit (not yet on disk).
    """

    def __init__(self, path: str, backend: str = "lmdb"):
        backend = backend.lower()
        if backend not in BACKENDS:
            raise DBError(f"unknown backend {backend!r}: use lmdb or leveldb.")
        if os.path.exists(path):
            raise DBError(f"{path} already exists: choose a new DB_NAME or delete it first "
                          "(an existing database is never overwritten).")
        self.path, self.backend = path, backend
        self._txn, self._env, self._db, self.pending = None, None, None, 0
        self._created = first_missing(path)  # the topmost folder this writer makes (discard removes it)
        if backend == "lmdb":
            import lmdb

            self._errors = (lmdb.Error, OSError)
        else:
            plyvel = _plyvel()
            self._errors = (plyvel.Error, OSError)  # plyvel.IOError is an OSError without errno
        try:
            if backend == "lmdb":
                os.makedirs(path)
                self._env = lmdb.open(path, map_size=_INITIAL_MAP, subdir=True)
            else:
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)  # as for LMDB
                self._db = plyvel.DB(path, create_if_missing=True, error_if_exists=True,
                                     write_buffer_size=64 << 20)
        except self._errors as exc:
            self.discard()
            raise DBWriteError(f"{path}: cannot create the database ({error_text(exc)}).", exc) from None

    def put(self, key: bytes, value) -> None:
        """Add a record (``value``: bytes or any buffer) to the open transaction."""
        size = memoryview(value).nbytes + len(key)
        if self._txn is not None and self.pending + size > _TXN_BYTES:
            self.commit()
        try:
            if self.backend == "leveldb":
                if self._txn is None:
                    self._txn = self._db.write_batch()
                self._txn.put(key, value if isinstance(value, bytes) else bytes(value))
            else:
                need = _lmdb_bytes(key, value)
                if self._txn is not None and self._used + need > self._room:
                    self.commit()
                if self._txn is None:
                    self._begin(need)
                self._txn.put(key, value)  # may write: LMDB spills dirty pages of a large transaction
                self._used += need
        except self._errors as exc:
            raise DBWriteError(f"{self.path}: cannot write the database ({error_text(exc)}).", exc) from None
        self.pending += size

    def _begin(self, need: int) -> None:
        info, stat = self._env.info(), self._env.stat()
        room = info["map_size"] - (info["last_pgno"] + 1) * stat["psize"]
        while room < 4 * need + (1 << 20):
            self._env.set_mapsize(self._env.info()["map_size"] * 2)
            info = self._env.info()
            room = info["map_size"] - (info["last_pgno"] + 1) * stat["psize"]
        self._room = room - (1 << 20)
        self._used = 0
        self._txn = self._env.begin(write=True)

    def commit(self) -> None:
        """Make the records put so far durable (one transaction)."""
        txn, self._txn = self._txn, None  # a failed commit has ended the transaction too
        if txn is None:
            return
        try:
            if self.backend == "lmdb":
                txn.commit()
            else:
                txn.write()
        except self._errors as exc:
            raise DBWriteError(f"{self.path}: cannot write the database ({error_text(exc)}).", exc) from None
        self.pending = 0

    def abort(self) -> None:
        """Drop the records put since the last commit."""
        if self._txn is not None and self.backend == "lmdb":
            self._txn.abort()
        self._txn = None

    def close(self) -> None:
        self.commit()
        try:
            if self._env is not None:
                self._env.close()
            elif self._db is not None:
                self._db.close()  # LevelDB flushes its memtable here: may fail on a full disk
        except self._errors as exc:
            raise DBWriteError(f"{self.path}: cannot write the database ({error_text(exc)}).", exc) from None
        finally:
            self._env = self._db = None

    def discard(self) -> None:
        """Drop everything this writer created: the database and the folders made for it."""
        try:
            self.abort()
            self.close()
        except (*self._errors, DBError):
            pass  # what it could not finish is removed below anyway
        shutil.rmtree(self.path, ignore_errors=True)
        remove_made_folders(os.path.dirname(os.path.abspath(self.path)), self._created)


def remove_made_folders(folder: str, top: str | None) -> None:
    """Remove ``folder`` and its ancestors up to ``top`` (folders a run made), each only while empty."""
    folder = os.path.abspath(folder)
    top = os.path.abspath(top) if top else None
    while top and len(folder) >= len(top) and folder != os.path.dirname(folder):
        try:
            os.rmdir(folder)  # only while empty: never what someone put there meanwhile
        except OSError:
            break
        folder = os.path.dirname(folder)


def first_missing(path: str) -> str | None:
    """The topmost of ``path`` and its ancestors that does not exist yet (what makedirs will create)."""
    path = os.path.abspath(path)
    missing = None
    while not os.path.exists(path):
        missing, parent = path, os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def error_text(exc: BaseException) -> str:
    """A library error as text: plyvel's are bytes (``b'IO error: ...'``)."""
    arg = exc.args[0] if len(exc.args) == 1 else None
    if isinstance(arg, bytes):
        return arg.decode("utf-8", "replace")
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)


def _lmdb_bytes(key: bytes, value: bytes) -> int:
    """Generous map space for one record: overflow pages for the value, key and node headers."""
    return (memoryview(value).nbytes + 4095) // 4096 * 4096 * 3 // 2 + 2 * len(key) + 128
