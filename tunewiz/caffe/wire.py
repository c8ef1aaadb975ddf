"""The protobuf wire format, walked by hand.

protobuf's Python API hands a repeated float field over one element at a time,
which is far too slow for a 240 MB caffemodel.  So the few messages that hold
weights are walked here: every record is ``key = (field_number << 3) | wire_type``
(a varint) followed by a varint (type 0), 8 bytes (type 1), a varint length and
that many bytes (type 2) or 4 bytes (type 5).  Callers cut the big float fields
out and read them straight into numpy arrays; everything else (small) is parsed
with ``caffe_pb2``.

A :class:`Source` reads byte ranges of a file by position (``os.pread``), so
nothing bigger than one record is ever held twice in memory.
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from tunewiz.caffe.tempfiles import make_temp

VARINT, I64, LEN, I32 = 0, 1, 2, 5
_FIXED = {I64: 8, I32: 4}


class WireError(Exception):
    """The bytes are not a valid protobuf record (internal; callers add the file name)."""

    def __init__(self, reason: str, offset: int):
        super().__init__(f"{reason} at byte {offset}")
        self.reason, self.offset = reason, offset


class Truncated(WireError):
    """A record runs past the end of its enclosing range: the file was cut short."""


def encode_varint(value: int) -> bytes:
    """Base-128 varint; negative numbers as 64-bit two's complement (like protobuf)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_key(number: int, wire_type: int) -> bytes:
    return encode_varint((number << 3) | wire_type)


def decode_varint(buf, pos: int, end: int) -> tuple[int, int]:
    """Decode the varint at ``buf[pos]``; return (value, position after it)."""
    result = shift = 0
    start = pos
    while True:
        if pos >= end:
            raise Truncated("varint cut short", start)
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than 10 bytes", start)


class Source:
    """Random access to bytes: a file (``os.pread``) or an in-memory buffer."""

    def __init__(self, data: bytes | bytearray | memoryview | None = None, fd: int | None = None, size: int = 0):
        self._mem = memoryview(data) if data is not None else None
        self._fd = fd
        self.size = len(self._mem) if self._mem is not None else size

    @classmethod
    def of_bytes(cls, data) -> "Source":
        return cls(data=data)

    def read(self, pos: int, n: int) -> bytes:
        if pos + n > self.size:
            raise Truncated(f"{n} bytes needed, file ends", pos)
        if self._mem is not None:
            return bytes(self._mem[pos:pos + n])
        out = _pread(self._fd, n, pos)
        while len(out) < n:  # pread may return less on some file systems
            more = _pread(self._fd, n - len(out), pos + len(out))
            if not more:
                raise Truncated("file shrank while reading", pos + len(out))
            out += more
        return out

    def readinto(self, pos: int, array: np.ndarray) -> None:
        """Fill the C-contiguous ``array`` with the bytes at ``pos``."""
        target = memoryview(array).cast("B")
        n = len(target)
        if pos + n > self.size:
            raise Truncated(f"{n} bytes needed, file ends", pos)
        if self._mem is not None:
            target[:] = self._mem[pos:pos + n]
            return
        done = 0
        while done < n:
            got = _preadinto(self._fd, target[done:], pos + done)
            if got <= 0:
                raise Truncated("file shrank while reading", pos + done)
            done += got

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        chunk = self.read(pos, min(10, end - pos)) if end > pos else b""
        try:
            value, used = decode_varint(chunk, 0, len(chunk))
        except WireError as exc:
            raise type(exc)(exc.reason, pos + exc.offset) from None
        return value, pos + used


def _pread(fd: int, n: int, pos: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, n, pos)
    os.lseek(fd, pos, os.SEEK_SET)  # platforms without pread (Windows)
    return os.read(fd, n)


def _preadinto(fd: int, target: memoryview, pos: int) -> int:
    if hasattr(os, "preadv"):
        return os.preadv(fd, [target], pos)
    data = _pread(fd, min(len(target), 1 << 26), pos)
    target[: len(data)] = data
    return len(data)


@dataclass(frozen=True)
class Field:
    """One record: ``start`` = its key, ``value_start``..``end`` = its payload."""

    number: int
    wire_type: int
    start: int
    value_start: int
    end: int
    value: int = 0  # the varint, for wire type 0


def read_field(src: Source, pos: int, end: int) -> Field:
    """The record that starts at ``pos`` (must end by ``end``)."""
    key, p = src.varint(pos, end)
    number, wire_type = key >> 3, key & 7
    if number == 0:
        raise WireError("field number 0", pos)
    if wire_type == VARINT:
        value, q = src.varint(p, end)
        return Field(number, wire_type, pos, p, q, value)
    if wire_type == LEN:
        length, p = src.varint(p, end)
        q = p + length
    elif wire_type in _FIXED:
        q = p + _FIXED[wire_type]
    else:
        raise WireError(f"wire type {wire_type} (groups are not used by Caffe)", pos)
    if q > end:
        raise Truncated(f"field {number} needs {q - p} bytes, only {end - p} left", pos)
    return Field(number, wire_type, pos, p, q)


def fields(src: Source, start: int, end: int) -> Iterator[Field]:
    """Every record of the message stored in ``start``..``end``."""
    pos = start
    while pos < end:
        field = read_field(src, pos, end)
        yield field
        pos = field.end


class Chunks:
    """Pieces of an encoded message (bytes, or memoryviews of arrays) and their total size."""

    def __init__(self) -> None:
        self.parts: list = []
        self.size = 0

    def add(self, part) -> None:
        n = part.nbytes if isinstance(part, memoryview) else len(part)
        if n:
            self.parts.append(part)
            self.size += n

    def extend(self, other: "Chunks") -> None:
        self.parts.extend(other.parts)
        self.size += other.size

    def add_len_field(self, number: int, inner: "Chunks") -> None:
        self.add(encode_key(number, LEN) + encode_varint(inner.size))
        self.extend(inner)

    def tobytes(self) -> bytes:
        return b"".join(bytes(p) if isinstance(p, memoryview) else p for p in self.parts)


def atomic_write(path: str | os.PathLike, parts: Iterable) -> None:
    """Write ``parts`` to a temporary file next to ``path``, then rename it over ``path``.

    If anything fails, ``path`` is left as it was.  A symlink is written through (its
    target is replaced, its permissions kept); a folder, device, pipe or socket at ``path`` is refused.
    """
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    if target.exists() and not target.is_file():
        raise OSError(errno.EINVAL, "not a regular file; give a file name to write", str(path))
    fd, tmp = make_temp(target)  # named as tunewiz's, with our pid: a later run can clear it if we are killed
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                out.write(part)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, (os.stat(target).st_mode & 0o7777) if target.exists() else 0o644 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    """The process umask, read without changing it (os.umask would race with other threads)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022
