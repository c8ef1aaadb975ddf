"""Read and write Caffe's text files (net and solver prototxt).

Parsing uses protobuf's text format on our own schema (``caffe_pb2``), so every
file BVLC Caffe accepts parses here.  A syntax error or unknown field becomes one
:class:`PrototxtError` line: ``file:line:column``, the reason, the offending text
and a hint (:mod:`tunewiz.caffe.parse_hints`: the nearest valid field or enum names, or the fix
for a V1 field).
A file of the wrong kind (a solver where a net is expected, a caffemodel, an
empty file, a folder, a device) gets a :class:`FormatError` that says what it is.

Writing keeps Caffe's layout byte for byte (:mod:`tunewiz.caffe.textprint`: two-space
indent, one field per line, numbers as C++ prints them) and is atomic.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import TypeVar

from google.protobuf import text_format
from google.protobuf.message import Message

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.blockscan import open_blocks, unclosed
from tunewiz.caffe.detect import expect
from tunewiz.caffe.parse_hints import UNKNOWN_FIELD, explain
from tunewiz.caffe.textprint import message_to_text
from tunewiz.caffe.wire import atomic_write
from tunewiz.errors import FormatError

M = TypeVar("M", bound=Message)

_LOCATION = re.compile(r"^(\d+):(\d+) : (.*)$", re.S)
_PROBE = 1 << 16
KIND_OF = {"NetParameter": "net", "SolverParameter": "solver"}


class PrototxtError(FormatError):
    """A text file that does not parse: file, line, column, reason, offending text and a hint."""

    def __init__(self, path: str, line: int, column: int, reason: str, text: str, hint: str = ""):
        self.path, self.line, self.column, self.reason = path, line, column, reason
        self.text, self.hint = text, hint
        at = f" at `{_excerpt(text, column)}`" if text.strip() else ""
        super().__init__(f"{path}:{line}:{column}: {reason}{at}" + (f"; {hint}" if hint else ""))


def _excerpt(text: str, column: int, width: int = 70) -> str:
    """The offending line, stripped; cut to ``width`` characters around ``column``."""
    text = text.strip() if len(text.strip()) <= width else text[max(column - width // 2, 0):][:width].strip()
    return text


def parse_text(text: str, message: M, path: str = "<text>") -> M:
    """Parse Caffe text format into ``message`` (cleared first) and return it."""
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        match = _LOCATION.match(str(exc))
        line, column, raw = (int(match.group(1)), int(match.group(2)), match.group(3)) if match else (0, 0, str(exc))
        raw = re.sub(r"^'.*?': (?=[A-Z])", "", raw.strip(), count=1, flags=re.S)  # protobuf quotes the line
        lines = text.splitlines()
        snippet = lines[line - 1] if 0 < line <= len(lines) else ""
        reason, hint = explain(raw)
        at_end = reason == 'Expected "}"' and not any(l.split("#")[0].strip() for l in lines[line:])
        if at_end:
            hint = "the file ends inside a block: a '{' is never closed"
        unclosed = _unclosed(path, text, line, column, message, raw, at_end)
        raise unclosed or PrototxtError(path, line, column, reason, snippet, hint) from None
    return message


def _unclosed(path: str, text: str, line: int, column: int, message: Message, raw: str,
              at_end: bool) -> PrototxtError | None:
    """A missing '}' is reported where the block that is not closed began (protobuf stops further on, at
    the first field that does not belong inside it); None when the error is not a missing '}'."""
    field = UNKNOWN_FIELD.search(raw)
    if field is None and not at_end:
        return None
    stack = open_blocks(text, line, column, message.DESCRIPTOR)
    block = unclosed(stack, message.DESCRIPTOR, field.group(2) if field else None)
    if block is None:
        return None
    lines = text.splitlines()
    if at_end:
        hint = "the file ends inside it: add its '}'"
    else:
        owner = field.group(1).split(".")[-1]
        hint = (f"add its '}}' before line {line} (`{_excerpt(lines[line - 1], column)}`): the parser was still "
                f"inside it there and stopped at unknown field \"{field.group(2)}\" in {owner}")
    return PrototxtError(path, block.line, block.column, "a '{' that is never closed", lines[block.line - 1], hint)


def _read_bytes(p: Path, what: str) -> bytes:
    """The file's bytes; FormatError for a missing file, a folder, a device or a binary file."""
    try:
        mode = os.stat(p).st_mode
        if stat.S_ISDIR(mode):
            raise FormatError(f"{p}: is a folder; give the {what} prototxt file in it")
        if not stat.S_ISREG(mode):
            raise FormatError(f"{p}: not a regular file (a device, pipe or socket); give a {what} prototxt")
        with open(p, "rb") as f:
            head = f.read(_PROBE)
            if b"\x00" in head:
                _binary_error(p, what)
            return head + f.read()
    except FileNotFoundError:
        raise FormatError(f"{p}: no such file") from None
    except OSError as exc:
        raise FormatError(f"{p}: cannot read ({exc.strerror or exc})") from None


def _binary_error(p: Path, what: str) -> None:
    expect(p, what)  # raises: "expected a net prototxt, but this is a caffemodel (...)"
    raise FormatError(f"{p}: this is a binary file, not a text {what} prototxt")


def _wrong_kind(p: Path, text: str, message: Message) -> None:
    """A solver given where a net is expected (or the reverse): say so instead of a field error."""
    own = message.DESCRIPTOR.name
    other = {"NetParameter": caffe_pb2.SolverParameter, "SolverParameter": caffe_pb2.NetParameter}.get(own)
    if other is None:
        return
    try:
        text_format.Parse(text, other())
    except text_format.ParseError:
        return
    want, got = KIND_OF[own], KIND_OF[other.DESCRIPTOR.name]
    raise FormatError(f"{p}: expected a {want} prototxt, but this is a {got} prototxt; give the {want} file"
                      + (" (the solver names it in net: or train_net:)" if want == "net" else ""))


def read_text(path: str | os.PathLike, message: M) -> M:
    """Read a text-format file into ``message``; one clear error for anything else."""
    p = Path(path)
    what = KIND_OF.get(message.DESCRIPTOR.name, message.DESCRIPTOR.name)
    data = _read_bytes(p, what)
    if not data.strip():
        raise FormatError(f"{p}: the file is empty; expected a {what} prototxt (text {message.DESCRIPTOR.name})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FormatError(f"{p}:{line}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    if text.startswith("\ufeff"):
        raise FormatError(f"{p}:1:1: the file starts with a byte-order mark (BOM), which Caffe's parser "
                          "rejects; save it as UTF-8 without BOM")
    try:
        return parse_text(text, message, str(p))
    except PrototxtError:
        _wrong_kind(p, text, message)
        raise


def to_text(message: Message) -> str:
    """Caffe's layout, byte for byte: two-space indent, one field per line, ``1`` not ``1.0``
    (:mod:`tunewiz.caffe.textprint`)."""
    return message_to_text(message)


def write_text(path: str | os.PathLike, message: Message) -> None:
    """Write ``message`` as text, atomically (temporary file, then rename); FormatError if it cannot."""
    try:
        atomic_write(path, [to_text(message).encode("utf-8")])
    except OSError as exc:
        raise FormatError(f"{path}: cannot write ({exc.strerror or exc})") from None


def read_net_text(path: str | os.PathLike) -> caffe_pb2.NetParameter:
    """Parse a net prototxt as written (no upgrade; see ``tunewiz.caffe.upgrade``)."""
    return read_text(path, caffe_pb2.NetParameter())


def read_solver_text(path: str | os.PathLike) -> caffe_pb2.SolverParameter:
    """Parse a solver prototxt as written (no upgrade)."""
    return read_text(path, caffe_pb2.SolverParameter())
