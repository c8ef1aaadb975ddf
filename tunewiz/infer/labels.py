"""Class names: a ``labels.txt`` of one name per line (line i names label i), as ``convert_imageset``'s class
folders write it and as Caffe's ``synset_words.txt`` is laid out; without one, the label numbers.

A name is the whole line (``n01440764 tench, Tinca tinca`` is one name); trailing blank lines are ignored, a
blank line between names is refused (it would shift every later label by one).
"""
from __future__ import annotations

from pathlib import Path

from tunewiz.errors import TunewizError


class LabelsError(TunewizError):
    """A labels file that cannot name the net's classes."""


def read_labels(path: str | Path) -> list[str]:
    """The names of ``path``, label 0 first."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise LabelsError(f"{path}: cannot read the labels ({exc.strerror or exc}); give a text file with one "
                          "class name per line.") from None
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise LabelsError(f"{path}: no class names in it; give one class name per line (line 1 names label 0).")
    blank = next((i for i, line in enumerate(lines) if not line), None)
    if blank is not None:
        raise LabelsError(f"{path}: line {blank + 1} is blank; every line names one label (line 1 names label 0), "
                          "so remove the blank line or write the class name there.")
    return lines


def class_names(classes: int, names: list[str] | None = None, *, where: str = "", blob: str = "") -> list[str]:
    """``names`` checked against the ``classes`` the net scores, or ``"0" .. "classes-1"`` without them."""
    if names is None:
        return [str(i) for i in range(classes)]
    if len(names) != classes:
        raise LabelsError(f"{where}: {len(names)} class names, but the net scores {classes} classes"
                          f"{f' (blob {blob!r})' if blob else ''}; give a labels file with one name per class, "
                          "in label order (the labels.txt written beside the databases when they were converted).")
    return list(names)
