"""A Model Zoo folder's ``readme.md``: its front matter, and the sha1 that checks a caffemodel.

Caffe's Model Zoo readmes start with YAML front matter between two ``---`` lines::

    ---
    name: BAIR/BVLC GoogleNet Model
    caffemodel: bvlc_googlenet.caffemodel
    caffemodel_url: http://dl.caffe.berkeleyvision.org/bvlc_googlenet.caffemodel
    sha1: 405fc5acd08a3bb12de8ee5e23a96bec22f08204
    ---

Caffe's ``scripts/download_model_binary.py`` takes the first line that is ``---`` (after stripping) and
the next one, and loads what lies between with PyYAML.  The Model Zoo only ever writes flat
``key: value`` lines there, so :func:`front_matter` reads those without a YAML dependency: top-level
keys only (list items and ``#`` comments are skipped), a value's matching quotes and a
trailing `` # comment`` are dropped, as YAML drops them.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

# a YAML mapping key: a plain name and its colon (a value, if any, after a space)
_KEY = re.compile(r"^(?P<key>[A-Za-z_][\w.-]*)\s*:(?:\s+(?P<value>.*))?$")


def find_readme(folder: Path) -> Path | None:
    """The folder's ``readme.md`` (any case: ``README.md`` too), or None."""
    exact = folder / "readme.md"
    if exact.is_file():
        return exact
    return next((p for p in sorted(folder.iterdir()) if p.name.lower() == "readme.md" and p.is_file()), None)


def front_matter(readme: Path) -> dict[str, str]:
    """The ``key: value`` lines between the readme's first two ``---`` lines ({} when it has none)."""
    # stripped as Caffe strips them before YAML reads them: an indented key counts as a top-level one
    lines = [line.strip() for line in readme.read_text(encoding="utf-8-sig", errors="replace").splitlines()]
    if "---" not in lines:
        return {}
    top = lines.index("---")
    if "---" not in lines[top + 1:]:
        return {}  # an opening line without its closing one: no front matter (YAML would refuse it)
    bottom = lines.index("---", top + 1)
    meta: dict[str, str] = {}
    for line in lines[top + 1:bottom]:
        match = _KEY.match(line)
        if match:
            meta[match["key"]] = _scalar(match["value"] or "")
    return meta


def _scalar(value: str) -> str:
    """A YAML plain or quoted scalar as its text: 'x' and "x" lose their quotes, `` # note`` is a comment."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return re.split(r"\s+#", value, maxsplit=1)[0].rstrip()


def sha1_of(path: Path, chunk: int = 1 << 20) -> str:
    """The file's sha1 as lower-case hex (read in chunks: a caffemodel can be hundreds of MB)."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
