"""List files (``path label`` per line) and class folders, as inputs of a conversion.

Caffe (convert_imageset, ImageData) splits each line at its LAST space:
``b_squares/img 03 space.png 1`` -> file ``b_squares/img 03 space.png``, label 1.  The record
key is ``%08d_<path>`` where the number is the line's index (from 0) in the list.
Beyond Caffe: a label that is not an integer stops with ``file:line`` (Caffe's ``atoi`` would
silently read 0), an empty list is an error.  Blank lines keep their index (and are skipped).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from tunewiz.data.datum import IMAGE_EXTENSIONS
from tunewiz.errors import TunewizError


class ListFileError(TunewizError):
    """A list file or class folder cannot be used."""


@dataclass(frozen=True)
class Entry:
    """One image to convert: ``index`` (line index from 0, used in the key), path, label."""

    index: int
    path: str
    label: int


def parse_line(line: str, source: str, lineno: int) -> tuple[str, int]:
    """``path label`` split at the last space; raises ListFileError naming ``source:lineno``."""
    pos = line.rfind(" ")
    if pos < 0:
        raise ListFileError(f"{source}:{lineno}: expected 'path label', got {line!r} "
                            "(each line is an image path, a space, and an integer label).")
    path, label = line[:pos], line[pos + 1:]
    try:
        return path, int(label)
    except ValueError:
        raise ListFileError(f"{source}:{lineno}: the label {label!r} is not an integer "
                            "(each line is an image path, a space, and an integer label).") from None


def read_list(source: str) -> list[Entry]:
    """All entries of a list file, in order; blank lines keep their index but give no entry."""
    try:
        with open(source, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        raise ListFileError(f"{source}: list file not found.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ListFileError(f"{source}: cannot read the list file ({exc}).") from None
    if lines and lines[-1] == "":
        lines.pop()  # getline: a final newline does not start another line
    entries = []
    for index, line in enumerate(lines):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        path, label = parse_line(line, source, index + 1)
        entries.append(Entry(index, path, label))
    if not entries:
        raise ListFileError(f"{source}: the list is empty (expected lines 'path label').")
    return entries


def class_folders(root: str) -> tuple[list[str], dict[str, list[str]]]:
    """Class folder names sorted by name (label = position) and each class's image paths.

    Paths are relative to ``root`` (``class/file``), sorted by name.  Empty classes and fewer than
    two classes are errors.
    """
    if not os.path.isdir(root):
        raise ListFileError(f"{root}: not a folder.")
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if len(classes) < 2:
        raise ListFileError(f"{root}: found {len(classes)} class folder(s); a classifier needs at least "
                            "two (one sub-folder of images per class).")
    files = {}
    for name in classes:
        found = sorted(f for f in os.listdir(os.path.join(root, name))
                       if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(root, name, f)))
        if not found:
            raise ListFileError(f"{os.path.join(root, name)}: class folder without images "
                                f"(extensions {', '.join(IMAGE_EXTENSIONS)}); add images or remove it.")
        files[name] = [f"{name}/{f}" for f in found]
    return classes, files


def split_classes(classes: list[str], files: dict[str, list[str]], val_fraction: float,
                  seed: int) -> tuple[list[Entry], list[Entry]]:
    """Stratified, seeded split: per class, ``round(n * val_fraction)`` images go to validation.

    Each class's files are permuted with ``numpy.random.default_rng(seed)`` (one generator, classes
    in label order); a class keeps at least one training image.  Entries are numbered from 0.
    """
    import numpy as np

    if not 0.0 <= val_fraction < 1.0:
        raise ListFileError(f"--val_fraction must be in [0, 1), got {val_fraction}.")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label, name in enumerate(classes):
        paths = files[name]
        n_val = min(int(round(len(paths) * val_fraction)), len(paths) - 1) if val_fraction else 0
        order = rng.permutation(len(paths)) if n_val else np.arange(len(paths))
        val_idx = set(order[:n_val].tolist())
        for i, path in enumerate(paths):
            (val if i in val_idx else train).append((path, label))
    if val_fraction and not val:
        raise ListFileError(f"--val_fraction {val_fraction} puts no image in the validation set; use a larger fraction.")
    return ([Entry(i, p, lab) for i, (p, lab) in enumerate(train)],
            [Entry(i, p, lab) for i, (p, lab) in enumerate(val)])


def shuffled(entries: list[Entry], seed: int) -> list[Entry]:
    """``--shuffle``: permute the lines (seeded; Caffe's is not), then renumber them from 0.

    The key's number is the index in the shuffled list, as in Caffe.
    """
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(entries))
    return [Entry(i, entries[j].path, entries[j].label) for i, j in enumerate(order.tolist())]
