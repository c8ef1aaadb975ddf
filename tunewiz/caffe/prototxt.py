"""Read and write Caffe's text files (net and solver prototxt).

Parsing uses protobuf's text format on our own schema (``caffe_pb2``), so every
file BVLC Caffe accepts parses here.  Errors become :class:`PrototxtError` with
``file:line:column``, the offending line and, for an unknown field, the nearest
valid field names.  Writing keeps Caffe's layout (two-space indent, one field per
line), the same printer Caffe's ``WriteProtoToTextFile`` uses.
"""
from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import TypeVar

from google.protobuf import text_format
from google.protobuf.message import Message

from tunewiz.caffe import caffe_pb2
from tunewiz.errors import FormatError

M = TypeVar("M", bound=Message)

_LOCATION = re.compile(r"^(\d+):(\d+) : (.*)$", re.S)
_UNKNOWN = re.compile(r'Message type "([\w.]+)" has no field named "(\w+)"')


class PrototxtError(FormatError):
    """A text file that does not parse: file, line, column, text and a hint."""

    def __init__(self, path: str, line: int, column: int, reason: str, text: str, hint: str = ""):
        self.path, self.line, self.column, self.reason = path, line, column, reason
        pointer = " " * max(column - 1, 0) + "^"
        msg = f"{path}:{line}:{column}: {reason}\n    {text}\n    {pointer}"
        if hint:
            msg += f"\n  {hint}"
        super().__init__(msg)


def _message_class(full_name: str):
    short = full_name.split(".", 1)[1] if full_name.startswith("caffe.") else full_name
    obj = caffe_pb2
    for part in short.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _hint_for(reason: str) -> str:
    match = _UNKNOWN.search(reason)
    if not match:
        return ""
    cls = _message_class(match.group(1))
    if cls is None:
        return ""
    names = [f.name for f in cls.DESCRIPTOR.fields]
    close = difflib.get_close_matches(match.group(2), names, n=3, cutoff=0.5)
    if close:
        return "did you mean: " + ", ".join(close) + "?"
    return f"{match.group(1).split('.')[-1]} has no such field; valid fields: " + ", ".join(names[:12]) + (" …" if len(names) > 12 else "")


def parse_text(text: str, message: M, path: str = "<text>") -> M:
    """Parse Caffe text format into ``message`` (cleared first) and return it."""
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raw = str(exc)
        match = _LOCATION.match(raw)
        line, column, reason = (int(match.group(1)), int(match.group(2)), match.group(3)) if match else (0, 0, raw)
        lines = text.splitlines()
        snippet = lines[line - 1] if 0 < line <= len(lines) else ""
        raise PrototxtError(path, line, column, reason.strip(), snippet, _hint_for(reason)) from None
    return message


def read_text(path: str | os.PathLike, message: M) -> M:
    """Read a text-format file into ``message``; clear errors for missing/binary files."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise FormatError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise FormatError(f"{p}: is a folder, expected a prototxt file") from None
    except OSError as exc:
        raise FormatError(f"{p}: cannot read ({exc.strerror})") from None
    if not data.strip():
        raise FormatError(f"{p}: the file is empty; expected a {message.DESCRIPTOR.name} in text format")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(
            f"{p}: this is a binary file, not a text prototxt"
            " (a .caffemodel or .solverstate? give it where weights or a snapshot are expected)"
        ) from None
    if "\x00" in text:
        raise FormatError(f"{p}: this is a binary file, not a text prototxt")
    return parse_text(text, message, str(p))


def to_text(message: Message) -> str:
    """Caffe's layout: two-space indent, one field per line."""
    return text_format.MessageToString(message, as_utf8=True)


def write_text(path: str | os.PathLike, message: Message) -> None:
    """Write ``message`` as text, atomically (temporary file, then rename)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    tmp.write_text(to_text(message))
    os.replace(tmp, p)


def read_net_text(path: str | os.PathLike) -> caffe_pb2.NetParameter:
    """Parse a net prototxt as written (no upgrade; see ``tunewiz.caffe.upgrade``)."""
    return read_text(path, caffe_pb2.NetParameter())


def read_solver_text(path: str | os.PathLike) -> caffe_pb2.SolverParameter:
    """Parse a solver prototxt as written (no upgrade)."""
    return read_text(path, caffe_pb2.SolverParameter())
