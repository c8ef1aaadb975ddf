"""BlobProto <-> numpy, fast, with Caffe's legacy shapes and ``double_data``.

A ``BlobProto`` holds ``shape`` (field 7, ``BlobShape.dim``) or the legacy 4-D
``num/channels/height/width`` (fields 1-4), and its values in ``data`` (5, float),
``diff`` (6), ``double_data`` (8) or ``double_diff`` (9), packed or not.

Caffe's ``Blob::FromProto`` rules, kept here:

* if any of num/channels/height/width is present the blob is 4-D
  ``(num, channels, height, width)``, otherwise it has ``shape.dim``;
* values come from ``double_data`` when it is non-empty, else from ``data``
  (we keep float64 as float64 arrays; float32 otherwise);
* copying into an existing blob (``Blob::ShapeEquals``) compares legacy dims
  aligned from the END: ``LegacyShape(i) == dim`` for i = -4..-1, where
  ``LegacyShape(i) = 1`` beyond the blob's axes — so a ``1x1x1x20`` bias fits a
  ``(20,)`` blob and a ``1x1x100x200`` weight fits ``(100, 200)``.

Writing follows ``Blob::ToProto``: ``shape`` + float ``data`` (or
``double_data`` for float64), fields in number order, packed; a blob that was
read with legacy dims keeps them, so a re-written file is byte-identical.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.wire import I32, I64, LEN, Chunks, Source, WireError, encode_key, encode_varint, read_field

# field number -> (attribute, little-endian dtype, record width, unpacked key byte)
_VALUES = {
    5: ("data", "<f4", 4, I32),
    6: ("diff", "<f4", 4, I32),
    8: ("double_data", "<f8", 8, I64),
    9: ("double_diff", "<f8", 8, I64),
}
_LEGACY = ("num", "channels", "height", "width")
_RUN_BYTES = 1 << 22  # bytes examined at once when decoding a non-packed run


@dataclass(eq=False)
class Blob:
    """One blob: its values (shaped), optional diff, and the shape fields as stored.

    ``header`` is a ``BlobProto`` with only the shape fields (``shape`` or the
    legacy num/channels/height/width) exactly as they were in the file.
    """

    data: np.ndarray
    diff: np.ndarray | None = None
    header: caffe_pb2.BlobProto = field(default_factory=caffe_pb2.BlobProto)

    @classmethod
    def from_array(cls, array, legacy: bool = False, diff=None) -> "Blob":
        """A blob as Caffe's ``ToProto`` writes it (``shape``), or legacy 4-D dims if asked."""
        data = np.asarray(array)
        if data.dtype != np.float64:
            data = data.astype(np.float32, copy=False)
        return cls(data, None if diff is None else np.asarray(diff, data.dtype), header_for(data.shape, legacy))

    @property
    def legacy(self) -> tuple[int, int, int, int] | None:
        """The legacy 4-D dims (num, channels, height, width) when the blob was stored with them."""
        if not has_legacy(self.header):
            return None
        return tuple(getattr(self.header, name) for name in _LEGACY)

    @property
    def stored_shape(self) -> tuple[int, ...]:
        """The shape the stored fields describe (what Caffe's ``FromProto`` reshapes to)."""
        return stored_shape(self.header)

    def check(self, where: str) -> None:
        """Raise ``ValueError`` when the number of values does not match the stored shape."""
        want = int(np.prod(self.stored_shape, dtype=np.int64))
        if self.data.size != want:
            dims = "x".join(map(str, self.stored_shape)) or "scalar"
            raise ValueError(f"{where} holds {self.data.size} values but its shape {dims} needs {want}")


def has_legacy(header: caffe_pb2.BlobProto) -> bool:
    return any(header.HasField(name) for name in _LEGACY)


def stored_shape(header: caffe_pb2.BlobProto) -> tuple[int, ...]:
    if has_legacy(header):
        return tuple(getattr(header, name) for name in _LEGACY)
    return tuple(header.shape.dim)


def header_for(shape: Sequence[int], legacy: bool = False) -> caffe_pb2.BlobProto:
    """Shape fields for ``shape``: ``shape.dim``, or legacy dims right-aligned (old Caffe)."""
    header = caffe_pb2.BlobProto()
    if legacy:
        dims = (1,) * (4 - len(shape)) + tuple(int(d) for d in shape)
        if len(dims) != 4:
            raise ValueError(f"legacy blobs have at most 4 axes, not {len(shape)}")
        for name, dim in zip(_LEGACY, dims):
            setattr(header, name, dim)
    else:
        header.shape.dim.extend(int(d) for d in shape)
    return header


def legacy_shape(shape: Sequence[int], index: int) -> int:
    """Caffe's ``Blob::LegacyShape(index)``: 1 beyond the axes, indexed from the end."""
    if len(shape) > 4:
        raise ValueError("LegacyShape is only defined for blobs with at most 4 axes")
    if index >= len(shape) or index < -len(shape):
        return 1
    return int(shape[index])


def shape_equals(blob: Blob, target_shape: Sequence[int]) -> bool:
    """Caffe's ``Blob::ShapeEquals(proto)`` for a target blob of ``target_shape``."""
    legacy = blob.legacy
    if legacy is None:
        return tuple(blob.header.shape.dim) == tuple(target_shape)
    if len(target_shape) > 4:
        return False
    return all(legacy_shape(target_shape, i - 4) == legacy[i] for i in range(4))


def conform(blob: Blob, target_shape: Sequence[int]) -> np.ndarray:
    """The blob's values in ``target_shape`` when Caffe would accept the copy, else ValueError."""
    if not shape_equals(blob, target_shape):
        have = "x".join(map(str, blob.stored_shape))
        raise ValueError(f"shape mismatch: stored {have}, expected {'x'.join(map(str, target_shape))}")
    return blob.data.reshape(tuple(target_shape))


# ----------------------------------------------------------------------------- decoding


def decode_blob(src: Source, start: int, end: int) -> Blob:
    """Decode the BlobProto stored in ``start``..``end`` of ``src``.

    Packed value fields are read straight into numpy arrays; non-packed ones
    (one key per value, legal but rare) are decoded a run at a time with numpy.
    """
    values: dict[int, list[np.ndarray]] = {n: [] for n in _VALUES}
    header_parts = []
    pos = start
    while pos < end:
        f = read_field(src, pos, end)
        spec = _VALUES.get(f.number)
        if spec is None:
            header_parts.append(src.read(f.start, f.end - f.start))
            pos = f.end
        elif f.wire_type == LEN:
            values[f.number].append(_packed(src, f.value_start, f.end, spec[1]))
            pos = f.end
        elif f.wire_type == spec[3]:
            array, pos = _unpacked_run(src, f.start, end, f.number, spec)
            values[f.number].append(array)
        else:
            raise WireError(f"BlobProto.{spec[0]} has wire type {f.wire_type}", f.start)
    header = caffe_pb2.BlobProto.FromString(b"".join(header_parts))
    data = _pick(values[8], values[5])
    diff = _pick(values[9], values[6]) if values[9] or values[6] else None
    shape = stored_shape(header)
    if data.size == int(np.prod(shape, dtype=np.int64)) and (shape or data.size == 1):
        data = data.reshape(shape)
        diff = diff.reshape(shape) if diff is not None and diff.size == data.size else diff
    return Blob(data, diff, header)


def _pick(double_chunks: list, float_chunks: list) -> np.ndarray:
    """Caffe reads ``double_data`` when it is non-empty, else ``data``."""
    chunks = double_chunks if any(c.size for c in double_chunks) else float_chunks
    if not chunks:
        return np.empty(0, np.float32)
    array = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def _packed(src: Source, start: int, end: int, dtype: str) -> np.ndarray:
    width = np.dtype(dtype).itemsize
    if (end - start) % width:
        raise WireError(f"packed field of {end - start} bytes is not a multiple of {width}", start)
    array = np.empty((end - start) // width, dtype)
    src.readinto(start, array)
    return array


def _unpacked_run(src: Source, pos: int, end: int, number: int, spec) -> tuple[np.ndarray, int]:
    """Decode consecutive non-packed records ``key value key value ...`` of one field."""
    key = encode_key(number, spec[3])[0]
    stride = 1 + spec[2]
    pieces = []
    while pos < end:
        count = min(end - pos, _RUN_BYTES) // stride
        if count == 0:
            break
        records = np.frombuffer(src.read(pos, count * stride), np.uint8).reshape(count, stride)
        bad = np.flatnonzero(records[:, 0] != key)
        run = int(bad[0]) if bad.size else count
        pieces.append(np.ascontiguousarray(records[:run, 1:]).view(spec[1]).ravel())
        pos += run * stride
        if run < count:
            break
    if not pieces or not pieces[0].size:
        raise WireError(f"BlobProto.{spec[0]} record cut short", pos)
    return (pieces[0] if len(pieces) == 1 else np.concatenate(pieces)), pos


# ----------------------------------------------------------------------------- encoding


def encode_blob(blob: Blob) -> Chunks:
    """The BlobProto bytes of ``blob``: shape fields as stored, values packed, in field order."""
    data = np.asarray(blob.data)
    head = _header_to_write(blob.header, data).SerializeToString()
    split = _first_field_at_least(head, 5)
    doubles = data.dtype == np.float64
    out = Chunks()
    out.add(head[:split])  # num (1), channels (2), height (3), width (4)
    if not doubles:
        _add_values(out, 5, data)
        if blob.diff is not None:
            _add_values(out, 6, blob.diff)
    out.add(head[split:])  # shape (7), then anything unknown
    if doubles:
        _add_values(out, 8, data)
        if blob.diff is not None:
            _add_values(out, 9, blob.diff)
    return out


def _header_to_write(header: caffe_pb2.BlobProto, data: np.ndarray) -> caffe_pb2.BlobProto:
    """The stored shape fields while they still describe ``data``, else fresh ones."""
    if has_legacy(header):
        if int(np.prod(stored_shape(header), dtype=np.int64)) == data.size:
            return header
        return header_for(data.shape, legacy=data.ndim <= 4)
    if tuple(header.shape.dim) == tuple(data.shape):
        return header
    return header_for(data.shape)


def _add_values(out: Chunks, number: int, array) -> None:
    dtype = "<f8" if number in (8, 9) else "<f4"
    flat = np.ascontiguousarray(np.asarray(array), dtype=dtype).reshape(-1)
    if flat.size:
        out.add(encode_key(number, LEN) + encode_varint(flat.nbytes))
        out.add(memoryview(flat).cast("B"))


def _first_field_at_least(buf: bytes, number: int) -> int:
    src = Source.of_bytes(buf)
    pos = 0
    while pos < len(buf):
        f = read_field(src, pos, len(buf))
        if f.number >= number:
            return pos
        pos = f.end
    return len(buf)


def to_message(blob: Blob) -> caffe_pb2.BlobProto:
    """A full ``BlobProto`` message (slow for big blobs; for small ones and tests)."""
    return caffe_pb2.BlobProto.FromString(encode_blob(blob).tobytes())


def from_message(message: caffe_pb2.BlobProto) -> Blob:
    """A :class:`Blob` from a ``BlobProto`` message."""
    data = message.SerializeToString()
    return decode_blob(Source.of_bytes(data), 0, len(data))
