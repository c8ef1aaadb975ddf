"""List files (``path label`` per line) and class folders, as inputs of a conversion.

Caffe (convert_imageset, ImageData) splits each line at its LAST space:
``b_squares/img 03 space.png 1`` -> file ``b_squares/img 03 space.png``, label 1.  The record
key is ``%08d_<path>`` where the number is the line's index (from 0) in the list.
Beyond Caffe: a label that is not an integer stops with ``file:line`` (Caffe's ``atoi`` would
silently read 0), an empty list is an error.  Blank lines keep their index (and are skipped).
A list to convert must also be a regular file (a FIFO would block ``open``, ``/dev/zero`` never
ends) of at most ``MAX_LIST_BYTES``, and its labels must be >= 0 (class numbers).
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from tunewiz.data.datum import IMAGE_EXTENSIONS
from tunewiz.errors import TunewizError

# ImageNet's train list (1.28 M lines) is about 60 MB; 256 MiB is some 5 million images, i.e. ~1 GiB of
# Python objects once parsed: a larger "list" is almost surely the wrong file, and reading it would
# exhaust the memory before saying so.
MAX_LIST_BYTES = 256 << 20


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


def read_list_text(source: str) -> str:
    """The text of a list file; ListFileError (one line) for a missing, special, huge or binary file."""
    try:
        st = os.stat(source)  # before open(): opening a FIFO blocks until a writer comes
    except FileNotFoundError:
        raise ListFileError(f"{source}: list file not found.") from None
    except OSError as exc:
        raise ListFileError(f"{source}: cannot read the list file ({exc.strerror or exc}).") from None
    if stat.S_ISDIR(st.st_mode):
        raise ListFileError(f"{source}: is a folder; give the list file (lines 'path label') instead.")
    if not stat.S_ISREG(st.st_mode):
        raise ListFileError(f"{source}: not a regular file (a pipe or a device); save the list to a "
                            "file (lines 'path label') and give that.")
    if st.st_size > MAX_LIST_BYTES:
        raise ListFileError(f"{source}: {st.st_size / (1 << 20):.0f} MiB is too large for a list of images "
                            f"(at most {MAX_LIST_BYTES >> 20} MiB, some 5 million lines); is this the list file?")
    try:
        with open(source, "rb") as f:
            data = f.read(MAX_LIST_BYTES + 1)  # bounded even if the file grows meanwhile
        if len(data) > MAX_LIST_BYTES:
            raise ListFileError(f"{source}: larger than {MAX_LIST_BYTES >> 20} MiB, too large for a list "
                                "of images; is this the list file?")
        return data.decode("utf-8")
    except OSError as exc:
        raise ListFileError(f"{source}: cannot read the list file ({exc.strerror or exc}).") from None
    except UnicodeDecodeError as exc:
        raise ListFileError(f"{source}: not a text list (byte {exc.start} is not UTF-8); give the list "
                            "file (lines 'path label').") from None


def read_list(source: str) -> list[Entry]:
    """All entries of a list file, in order; blank lines keep their index but give no entry.

    A negative label is refused (Caffe stores it, then SoftmaxWithLoss fails on it at training).
    """
    lines = read_list_text(source).split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # getline: a final newline does not start another line
    entries = []
    for index, line in enumerate(lines):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        path, label = parse_line(line, source, index + 1)
        if label < 0:
            raise ListFileError(f"{source}:{index + 1}: the label {label} is negative; labels are class "
                                "numbers 0, 1, 2, ... (a classifier needs 0 <= label < num_output): "
                                "fix or remove that line.")
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
        what = "it is a file" if os.path.exists(root) else "it does not exist"
        raise ListFileError(f"{root}: not a folder ({what}); give the folder that holds one sub-folder "
                            "of images per class.")
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
