"""Tell Caffe's files apart by their content, for clear errors and ``tunewiz inspect``.

A text file is parsed as a net, then as a solver prototxt.  A binary file is
walked record by record at the top level (keys and lengths only, so a 240 MB
caffemodel costs a few reads) and matched against the schema of each binary
message Caffe writes: every record's field number must exist and its wire type
must fit the field's type.  Distinctive fields decide between the fits:
``layer`` (100) / ``layers`` (2) make a caffemodel, ``learned_net`` (2, bytes) /
``history`` (3) a solverstate, blob values or shape a binaryproto.  A record that
runs past the end of the file means the file was cut short.

:func:`expect` turns "not what was asked for" into one :class:`FormatError`
that says what the file is and what to give instead.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.parse_hints import nearest_names
from tunewiz.caffe.wire import I32, I64, LEN, VARINT, Source, Truncated, WireError, read_field
from tunewiz.errors import FormatError

KINDS = {  # kind -> (what it is, what is inside)
    "net": ("a net prototxt", "text NetParameter"),
    "solver": ("a solver prototxt", "text SolverParameter"),
    "text": ("a text file", "neither a net nor a solver prototxt"),
    "caffemodel": ("a caffemodel", "binary NetParameter with weights"),
    "solverstate": ("a solverstate", "binary SolverState, for resuming training"),
    "binaryproto": ("a binaryproto blob", "BlobProto, e.g. a mean file"),
    "blobprotovector": ("a BlobProtoVector", "binary list of blobs"),
    "lmdb": ("an LMDB database", ""),
    "leveldb": ("a LevelDB database", ""),
    "folder": ("a folder", "not a database Caffe reads"),
    "empty": ("an empty file", ""),
    "truncated": ("a truncated file", ""),
    "unknown": ("not a file Caffe reads", ""),
}
_TEXT_PROBE = 1 << 16
_MAX_TEXT = 64 << 20
_LMDB_MAGIC = bytes.fromhex("dec0efbe")  # MDB_MAGIC 0xBEEFC0DE, little-endian, at byte 16
_BINARY = [  # (kind, message, field numbers of which one must be present)
    ("caffemodel", caffe_pb2.NetParameter, {100, 2}),
    ("solverstate", caffe_pb2.SolverState, {2, 3}),
    ("binaryproto", caffe_pb2.BlobProto, {5, 6, 7, 8, 9}),
    ("blobprotovector", caffe_pb2.BlobProtoVector, {1}),
]
_NATIVE = {1: I64, 2: I32, 6: I64, 7: I32, 15: I32, 16: I64, 9: LEN, 11: LEN, 12: LEN}


@dataclass
class FileKind:
    """What a file is: ``kind`` (a key of :data:`KINDS`) and a short ``detail``."""

    path: Path
    kind: str
    detail: str = ""
    guess: str = ""  # for "truncated": the kind its beginning looks like
    size: int = 0

    def describe(self) -> str:
        """E.g. "a solverstate (binary SolverState, for resuming training; iteration 10, ...)"."""
        what, inside = KINDS[self.kind]
        if self.kind == "truncated" and self.guess:
            what, inside = KINDS[self.guess]
            what = "a truncated " + what.split(" ", 1)[1]
        notes = "; ".join(x for x in (inside, self.detail) if x)
        return f"{what} ({notes})" if notes else what


def detect(path: str | os.PathLike) -> FileKind:
    """Sniff ``path``; raises FormatError only when it cannot be read at all."""
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
        if stat.S_ISDIR(mode):
            return _folder_kind(p)
        if not stat.S_ISREG(mode):
            return FileKind(p, "unknown", "not a regular file: a device, pipe or socket")
        fd = os.open(p, os.O_RDONLY)
    except FileNotFoundError:
        raise FormatError(f"{p}: no such file") from None
    except OSError as exc:
        raise FormatError(f"{p}: cannot read ({exc.strerror or exc})") from None
    try:
        size = os.fstat(fd).st_size
        src = Source(fd=fd, size=size)
        head = src.read(0, min(size, _TEXT_PROBE))
        if size == 0:
            return FileKind(p, "empty", "0 bytes")
        if len(head) >= 20 and head[16:20] == _LMDB_MAGIC:
            return FileKind(p, "lmdb", "an LMDB data file", size=size)
        if _looks_like_text(head):
            return _text_kind(p, size)
        return _binary_kind(p, src)
    finally:
        os.close(fd)


def expect(path: str | os.PathLike, *wanted: str) -> FileKind:
    """``detect(path)`` when it is one of ``wanted``, else a FormatError saying what it is."""
    info = detect(path)
    if info.kind in wanted:
        return info
    want = " or ".join(KINDS[w][0] for w in wanted)
    msg = f"{info.path}: expected {want}, but this is {info.describe()}."
    hint = _hint(info, wanted)
    raise FormatError(f"{msg} {hint}" if hint else msg)


def _hint(info: FileKind, wanted: tuple[str, ...]) -> str:
    if info.kind == "solverstate" and "caffemodel" in wanted:
        net = _learned_net(info)
        return (f"Its weights are in the caffemodel it names ({net}); " if net else "") + \
            "give a .solverstate only to resume training (--snapshot)."
    if info.kind == "caffemodel" and "solverstate" in wanted:
        return "Give a caffemodel as weights (--weights); to resume, give the matching *_iter_N.solverstate."
    if info.kind in ("net", "solver") and wanted[0] in ("caffemodel", "solverstate", "binaryproto"):
        return "Text prototxts describe a net or a solver; the weights are in a binary .caffemodel."
    if info.kind in ("caffemodel", "solverstate", "binaryproto") and wanted[0] in ("net", "solver"):
        return "This is a binary file; give the text .prototxt instead."
    if info.kind in ("empty", "truncated"):
        return "The file is incomplete: copy or download it again (or take an earlier snapshot)."
    return ""


def _learned_net(info: FileKind) -> str:
    marker = "learned_net "
    return info.detail.split(marker, 1)[1].split(",")[0] if marker in info.detail else ""


def _folder_kind(p: Path) -> FileKind:
    if (p / "data.mdb").is_file():
        return FileKind(p, "lmdb", "folder with data.mdb")
    if (p / "CURRENT").is_file() and any(p.glob("MANIFEST-*")):
        return FileKind(p, "leveldb", "folder with CURRENT and MANIFEST")
    return FileKind(p, "folder")


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a character cut at the end of the probe is fine
            return False
        text = head[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\t\r\n\f\v" for ch in text)
    return printable >= 0.95 * max(len(text), 1)


def _text_kind(p: Path, size: int) -> FileKind:
    if size > _MAX_TEXT:
        return FileKind(p, "text", f"{size} bytes, too big for a prototxt", size=size)
    text = p.read_bytes().decode("utf-8", errors="replace")
    net_error = _parses(text, caffe_pb2.NetParameter())
    if net_error is None:
        net = text_format.Parse(text, caffe_pb2.NetParameter())
        count = len(net.layer) + len(net.layers)
        if count or net.input:
            plural = "layer" if count == 1 else "layers"
            return FileKind(p, "net", f"{count} {plural}" + (", V1 'layers'" if net.layers else ""), size=size)
    solver_error = _parses(text, caffe_pb2.SolverParameter())
    if solver_error is None and text_format.Parse(text, caffe_pb2.SolverParameter()).ListFields():
        return FileKind(p, "solver", size=size)
    if net_error is None:
        return FileKind(p, "text", "empty prototxt", size=size)
    # the parse that got further tells which one was meant; at the same place, the one with a close name
    what, error = max((("net", net_error), ("solver", solver_error)),
                      key=lambda e: (_position(e[1]), bool(nearest_names(e[1]))))
    return FileKind(p, "text", f"does not parse as a {what}: line {error}", size=size)


def _position(error: str) -> tuple[int, int]:
    head = error.split(" : ", 1)[0].split(":")
    return (int(head[0]), int(head[1])) if len(head) == 2 and all(h.isdigit() for h in head) else (0, 0)


def _parses(text: str, message) -> str | None:
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        return str(exc).splitlines()[0]
    return None


def _binary_kind(p: Path, src: Source) -> FileKind:
    records: list[tuple[int, int, int]] = []  # (number, wire type, value or length)
    pos = 0
    try:
        while pos < src.size:
            f = read_field(src, pos, src.size)
            records.append((f.number, f.wire_type, f.value if f.wire_type == VARINT else f.end - f.value_start))
            if f.number == 2 and f.wire_type == LEN and len(records) <= 3:
                records[-1] = (2, LEN, src.read(f.value_start, min(f.end - f.value_start, 512)))
            pos = f.end
    except Truncated as exc:
        guess = _classify(records, strict=False)
        detail = f"{src.size} bytes; the record at byte {exc.offset} runs past the end"
        return FileKind(p, "truncated", detail, guess=guess or "", size=src.size)
    except WireError as exc:
        return FileKind(p, "unknown", f"binary, not a protobuf message ({exc})", size=src.size)
    kind = _classify(records, strict=True)
    if kind is None:
        return FileKind(p, "unknown", "binary protobuf of no known Caffe type", size=src.size)
    return FileKind(p, kind, _detail(kind, records), size=src.size)


def _classify(records, strict: bool) -> str | None:
    numbers = {r[0] for r in records}
    for kind, message, needed in _BINARY:
        if not all(_fits(message.DESCRIPTOR, n, wt) for n, wt, _ in records):
            continue
        if kind == "blobprotovector" and any(wt != LEN for _, wt, _ in records):
            continue
        if numbers & needed or (not strict and numbers):
            return kind
    return None


def _fits(descriptor, number: int, wire_type: int) -> bool:
    fd = descriptor.fields_by_number.get(number)
    if fd is None:
        return False
    native = _NATIVE.get(fd.type, VARINT)
    repeated = getattr(fd, "is_repeated", None)
    repeated = fd.label == fd.LABEL_REPEATED if repeated is None else repeated
    return wire_type == native or (wire_type == LEN and repeated and native != LEN)


def _detail(kind: str, records) -> str:
    if kind == "caffemodel":
        v2 = sum(r[0] == 100 for r in records)
        v1 = sum(r[0] == 2 for r in records)
        return f"{v2} layers" if v2 else f"{v1} V1 layers"
    if kind == "solverstate":
        it = next((r[2] for r in records if r[0] == 1), 0)
        net = next((r[2] for r in records if r[0] == 2), b"")
        net = net.decode("utf-8", "replace") if isinstance(net, bytes) else "?"
        history = sum(r[0] == 3 for r in records)
        return f"iteration {it}, learned_net {net}, {history} history blobs"
    if kind == "blobprotovector":
        return f"{len(records)} blobs"
    return ""
