"""LMDB and LevelDB databases as Caffe's ``db_lmdb.cpp`` / ``db_leveldb.cpp`` use them.

* Both are key -> value stores walked in byte order of the keys (Caffe's cursor: ``SeekToFirst``,
  ``Next``, ``valid``).  Values are serialized ``Datum`` messages.
* ``db::NEW`` refuses an existing path (LMDB: ``mkdir`` must succeed; LevelDB: ``error_if_exists``).
  LMDB is a directory holding ``data.mdb`` (+ ``lock.mdb``).
* Writes go through transactions committed by the caller (convert_imageset: every 1000 records);
  when the LMDB map is full it is doubled and the transaction replayed (Caffe 1.0 does the same).
* Writing a NEW database: ``tunewiz.data.db_write.DBWriter``.
* LevelDB needs ``plyvel`` (the ``leveldb`` extra); it is imported only when a LevelDB is used.
"""
from __future__ import annotations

import os

from tunewiz.errors import TunewizError

BACKENDS = ("lmdb", "leveldb")


class DBError(TunewizError):
    """A database cannot be opened, created or read."""


def _plyvel():
    try:
        import plyvel
    except ImportError:
        raise DBError("LevelDB support needs the 'plyvel' package: pip install 'tunewiz[leveldb]' "
                      "(or: pip install plyvel), or use --backend lmdb.") from None
    return plyvel


def detect_backend(path: str) -> str | None:
    """'lmdb' / 'leveldb' from the files in ``path``, None when it is neither."""
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "data.mdb")):
            return "lmdb"
        if os.path.exists(os.path.join(path, "CURRENT")):
            return "leveldb"
    elif os.path.isfile(path) and path.endswith(".mdb"):
        return "lmdb"
    return None


def resolve_backend(path: str, backend: str | None) -> str:
    """Check ``path`` is a database of ``backend`` (detected when None); return the backend."""
    if not os.path.exists(path):
        raise DBError(f"{path}: no such database (check the path; Caffe resolves it against the working directory).")
    found = detect_backend(path)
    if found is None:
        raise DBError(f"{path}: not an LMDB (no data.mdb) or LevelDB (no CURRENT) database.")
    if backend is not None and backend.lower() != found:
        raise DBError(f"{path} is a {found.upper()} database but the backend says {backend.upper()}: "
                      f"set backend: {found.upper()} (or --backend {found}).")
    return found


_OPEN_LMDB: dict[str, list] = {}  # realpath -> [Environment, users]: py-lmdb opens a path once per process


def _open_lmdb(path: str):
    import lmdb

    real = os.path.realpath(path)
    entry = _OPEN_LMDB.get(real)
    if entry is None:
        try:
            env = lmdb.open(path, readonly=True, lock=False, readahead=False,
                            subdir=os.path.isdir(path), max_readers=512)
        except lmdb.Error as exc:
            raise DBError(f"{path}: cannot open LMDB ({exc}).") from None
        entry = _OPEN_LMDB[real] = [env, 0]
    entry[1] += 1
    return entry[0]


def _release_lmdb(env) -> None:
    for real, entry in list(_OPEN_LMDB.items()):
        if entry[0] is env:
            entry[1] -= 1
            if entry[1] <= 0:
                del _OPEN_LMDB[real]
                env.close()


class Cursor:
    """Caffe's ``db::Cursor``: ``seek_to_first``, ``next``, ``valid``, ``key``, ``value``, plus ``seek``."""

    def __init__(self, make_iter):
        self._make_iter = make_iter
        self.key = self.value = None
        self.valid = False
        self.seek_to_first()

    def seek_to_first(self) -> None:
        self._it = self._make_iter(None)
        self.next()

    def seek(self, key: bytes) -> None:
        """Position on the first record whose key is >= ``key``."""
        self._it = self._make_iter(key)
        self.next()

    def next(self) -> None:
        try:
            self.key, self.value = next(self._it)
            self.valid = True
        except StopIteration:
            self.key = self.value = None
            self.valid = False


class DBReader:
    """A read-only database; ``cursor()`` walks it in key order, ``len()`` counts the records."""

    def __init__(self, path: str, backend: str | None = None):
        self.path = path
        self.backend = resolve_backend(path, backend)
        if self.backend == "lmdb":
            self._env = _open_lmdb(path)
            self._txn = self._env.begin(buffers=False)
        else:
            plyvel = _plyvel()
            try:
                self._db = plyvel.DB(path, create_if_missing=False)
            except Exception as exc:  # plyvel.Error, IOError (read-only folder: LOCK file)
                raise DBError(f"{path}: cannot open LevelDB ({exc}); LevelDB needs write access to "
                              "its folder for its LOCK file.") from None

    def _iter_from(self, key: bytes | None):
        if self.backend == "lmdb":
            cur = self._txn.cursor()
            ok = cur.set_range(key) if key is not None else cur.first()
            return cur.iternext() if ok else iter(())
        return self._db.iterator(start=key) if key is not None else self._db.iterator()

    def cursor(self) -> Cursor:
        return Cursor(self._iter_from)

    def __iter__(self):
        return self._iter_from(None)

    def __len__(self) -> int:
        if self.backend == "lmdb":
            return self._txn.stat()["entries"]
        return sum(1 for _ in self._db.iterator(include_value=False))

    def close(self) -> None:
        if self.backend == "lmdb":
            if self._txn is not None:
                self._txn.abort()
                self._txn = None
                _release_lmdb(self._env)
        else:
            self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
