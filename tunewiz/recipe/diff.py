"""A unified diff of an edited copy against its source (the "what changed" view).

Both sides are printed with Caffe's layout (``tunewiz.caffe.prototxt.to_text``), so
the diff shows the edits, not differences of spacing or comments in the source.
"""
from __future__ import annotations

import difflib

from tunewiz.caffe.prototxt import to_text


def unified_diff(source, copy, source_name: str = "source", copy_name: str = "copy", context: int = 3) -> str:
    """``diff -u`` of two messages (or two texts)."""
    a = source if isinstance(source, str) else to_text(source)
    b = copy if isinstance(copy, str) else to_text(copy)
    lines = difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                 fromfile=source_name, tofile=copy_name, n=context)
    return "".join(lines)


def diff_against_source(source_path, copy_text: str, copy_name: str) -> str:
    """The diff of a copy against the source FILE, the source re-printed in Caffe's layout first."""
    from tunewiz.caffe.prototxt import read_text
    from tunewiz.caffe import caffe_pb2

    name = str(source_path)
    kind = caffe_pb2.SolverParameter if "solver" in copy_name.rsplit("/", 1)[-1] else caffe_pb2.NetParameter
    return unified_diff(read_text(source_path, kind()), copy_text, name, copy_name)
