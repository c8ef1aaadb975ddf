"""Disk space for a database being written: the estimate, the checks, the one line when the disk is full.

A full disk must end a conversion with one line (how much was needed, how much was free, where)
and no half-written database, never a ``Bus error`` (what LMDB's writable memory map gave: a page
of a sparse file that cannot get a block is SIGBUS; the writer no longer maps the file writable).

* Before writing, when the record size follows from the options (raw records, both resize sizes
  set), the whole LMDB's size is estimated and compared with the free space of its folder.
* While writing, every ``CHECK_EVERY`` images, the space the rest needs (the mean size of the
  records so far, skipped images included as 0, times the images left, plus what is written but
  not committed) is compared with the space free now (other programs fill disks too).
* A write error of the database (ENOSPC, EDQUOT, LMDB's EIO for a short write, LevelDB's
  ``IO error``) is read as "disk full" when its text says so or the folder is (nearly) full.

Only LMDB is refused ahead: it stores records as they are, in 4 KiB pages (model below, measured
with py-lmdb 1.x on sequential ``%08d_`` keys).  LevelDB compresses (snappy) and compacts, so an
estimate from the records' sizes could refuse a database that fits; it stops on the write error.
"""
from __future__ import annotations

import errno
import os
import shutil

from tunewiz.errors import TunewizError

CHECK_EVERY = 50
PSIZE = 4096
FIXED = 3 * PSIZE  # LMDB's two meta pages and a root, whatever the records
_NEARLY_FULL = 16 << 20  # after a write error, less than this free (plus what was being written) = full


class DiskFullError(TunewizError):
    """Not enough disk space for the database (the unfinished one is removed)."""


def human(n: float) -> str:
    """Bytes as ``df -h`` would say them, with binary units spelled out: ``1.9 MiB``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def existing_folder(path: str) -> str:
    """The nearest folder of ``path`` (itself or an ancestor) that exists: where its bytes will go."""
    folder = os.path.abspath(path)
    while not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder


def free_bytes(folder: str) -> int:
    """Space an unprivileged writer may still use in ``folder`` (statvfs ``f_bavail``)."""
    return shutil.disk_usage(folder).free


def lmdb_record_bytes(key_len: int, value_len: int, psize: int = PSIZE) -> int:
    """LMDB's disk bytes for one record appended in key order.

    A node (8-byte header + key + value) larger than ``nodemax = (psize - 16) / 2 - 2`` moves the
    value to ``ceil((16 + value) / psize)`` overflow pages and leaves an 18-byte node in a leaf.
    Smaller nodes share leaf pages, which LMDB splits in half when full: measured, a leaf then
    holds one node fewer than fits (784-byte values: 3 a page; 1500-byte ones: 1).  +10% for branches.
    """
    node = 8 + key_len + value_len
    if node > (psize - 16) // 2 - 2:
        return -(-(16 + value_len) // psize) * psize + 2 * (key_len + 18)
    fits = (psize - 16) // (node + 2)
    return psize // max(1, fits - 1) * 11 // 10


def raw_value_len(channels: int, height: int, width: int) -> int:
    """Bytes of a raw Datum (``raw_datum_bytes``): 4 tagged varints, the pixels, label (<= 5), encoded."""
    n = channels * height * width
    varint = lambda v: max(1, (v.bit_length() + 6) // 7)  # noqa: E731
    return 1 + varint(channels) + 1 + varint(height) + 1 + varint(width) + 1 + varint(n) + n + 1 + 5 + 2


def is_disk_full(exc: BaseException, folder: str, pending: int = 0) -> bool:
    """Is this write error a full disk (or quota)?  By errno or text, else by the space left."""
    if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    if "No space left" in text or "quota exceeded" in text.lower():
        return True
    try:
        return free_bytes(folder) < _NEARLY_FULL + pending
    except OSError:
        return False


class SpaceWatch:
    """Bytes a database will need vs the space its folder has; raises DiskFullError with one line."""

    def __init__(self, db_path: str, backend: str, total: int, dbs: int = 1):
        self.db, self.backend, self.total, self.dbs = db_path, backend, total, dbs  # dbs: 2 = train + val
        self.folder = existing_folder(db_path)
        self.free_at_start = free_bytes(self.folder)
        self.bytes = 0  # estimated disk bytes of the records written so far
        self.done = 0  # images handled (written or skipped)

    def expect(self, key_len: int, value_len: int) -> None:
        """Before writing: refuse an LMDB whose every record has ``value_len`` bytes and cannot fit."""
        if self.backend != "lmdb":
            return
        need = lmdb_record_bytes(key_len, value_len) * self.total + FIXED
        if need > self.free_at_start:
            raise DiskFullError(self._line(need, self.free_at_start, "nothing was written"))

    def add(self, key_len: int, value_len: int) -> None:
        self.bytes += (lmdb_record_bytes(key_len, value_len) if self.backend == "lmdb"
                       else key_len + value_len + 16)

    def check(self, done: int, pending: int = 0) -> None:
        """While writing (``done`` images handled, ``pending`` bytes not yet committed to disk)."""
        self.done = done
        if self.backend != "lmdb" or not done or (done > 10 and done % CHECK_EVERY):
            return
        rest = self.bytes * (self.total - done) // done + pending
        free = free_bytes(self.folder)
        if rest > free:
            raise DiskFullError(self._line(self.needed(), free, "the unfinished database was removed",
                                           f"{human(free)} is free for the {human(rest)} still to write"))

    def needed(self) -> int:
        """Estimated size of the whole database (from the records so far)."""
        return self.bytes * self.total // max(self.done, 1) + (FIXED if self.backend == "lmdb" else 0)

    def full(self, cause: str) -> DiskFullError:
        """The error for a write that failed on a full disk."""
        return DiskFullError(self._line(self.needed(), self.free_at_start, "the unfinished database was removed",
                                        f"{human(self.free_at_start)} was free when it began "
                                        f"(the write failed: {cause})"))

    def _line(self, need: int, free: int, outcome: str, detail: str | None = None) -> str:
        kind = "LMDB" if self.backend == "lmdb" else "LevelDB"
        what = f"the two {kind} databases of {self.total} images need" if self.dbs > 1 else \
            f"the {kind} database of {self.total} images needs"
        size = human(need) + (" before compression" if self.backend != "lmdb" else "")
        detail = detail or f"only {human(free)} is free"
        return (f"{self.db}: not enough disk space in {self.folder}: {what} about {size}, {detail}; {outcome}. "
                "Free some space or give a DB_NAME on another disk.")
