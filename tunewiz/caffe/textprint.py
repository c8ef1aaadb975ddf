"""Print a message in protobuf text format exactly as Caffe's C++ does.

Caffe writes text files with ``google::protobuf::TextFormat::Print`` (and prints
nets and solvers to its log with ``DebugString``): fields in field-number order,
two-space indent, one field per line, ``name {`` … ``}`` for messages, enum value
names, strings C-escaped (bytes outside printable ASCII as ``\\ooo``).

Python's ``text_format`` does all of that except numbers: it writes ``1.0`` where
C++ writes ``1``.  C++ formats with ``SimpleFtoa`` / ``SimpleDtoa``::

    float:  "%.6g"  (FLT_DIG);  if that does not read back as the same float,  "%.9g"
    double: "%.15g" (DBL_DIG);  if that does not read back as the same double, "%.17g"
    inf -> "inf", -inf -> "-inf", NaN -> "nan"

so this module prints values itself and uses protobuf only to list the fields.
"""
from __future__ import annotations

import math
import struct

from google.protobuf import text_encoding
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

_INDENT = "  "


def _float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def _special(value: float) -> str | None:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return None


def format_float(value: float) -> str:
    """C++ ``SimpleFtoa``: ``%.6g``, or ``%.9g`` where 6 digits do not give the float back."""
    special = _special(value)
    if special:
        return special
    value = _float32(value)
    text = "%.6g" % value
    return text if _float32(float(text)) == _float32(value) else "%.9g" % value


def format_double(value: float) -> str:
    """C++ ``SimpleDtoa``: ``%.15g``, or ``%.17g`` where 15 digits do not give the double back."""
    special = _special(value)
    if special:
        return special
    text = "%.15g" % value
    return text if float(text) == value else "%.17g" % value


def _is_repeated(field: FieldDescriptor) -> bool:
    if hasattr(field, "is_repeated"):  # protobuf >= 5.28 (label is deprecated in 7)
        return field.is_repeated
    return field.label == FieldDescriptor.LABEL_REPEATED


def _scalar(field: FieldDescriptor, value) -> str:
    kind = field.cpp_type
    if kind == FieldDescriptor.CPPTYPE_STRING:
        raw = value.encode("utf-8") if isinstance(value, str) else value
        return '"' + text_encoding.CEscape(raw, as_utf8=False) + '"'
    if kind == FieldDescriptor.CPPTYPE_ENUM:
        named = field.enum_type.values_by_number.get(value)
        return named.name if named is not None else str(value)
    if kind == FieldDescriptor.CPPTYPE_BOOL:
        return "true" if value else "false"
    if kind == FieldDescriptor.CPPTYPE_FLOAT:
        return format_float(value)
    if kind == FieldDescriptor.CPPTYPE_DOUBLE:
        return format_double(value)
    return str(value)


def _print(message: Message, depth: int, out: list[str]) -> None:
    pad = _INDENT * depth
    for field, value in message.ListFields():
        for item in (value if _is_repeated(field) else [value]):
            if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
                out.append(f"{pad}{field.name} {{\n")
                _print(item, depth + 1, out)
                out.append(f"{pad}}}\n")
            else:
                out.append(f"{pad}{field.name}: {_scalar(field, item)}\n")


def message_to_text(message: Message) -> str:
    """``message`` in Caffe's text layout (what ``TextFormat::Print`` writes)."""
    out: list[str] = []
    _print(message, 0, out)
    return "".join(out)
