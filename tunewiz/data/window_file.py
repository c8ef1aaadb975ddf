"""R-CNN window files, read as Caffe 1.0's ``WindowDataLayer::DataLayerSetUp`` reads them.

The format (whitespace-separated, as C++ ``>>`` reads it), repeated per image::

    # image_index
    img_path
    channels
    height
    width
    num_windows
    class_index overlap x1 y1 x2 y2      (num_windows lines; 0-based inclusive pixel boxes)

A window with ``overlap >= fg_threshold`` is foreground (its ``class_index`` must be > 0); one with
``overlap < bg_threshold`` is background (label and overlap forced to 0); the others are not used.
Caffe finds a window's image by position: ``image_database_[image_index]`` (the n-th image block),
so ``image_index`` should count 0, 1, 2, ...; an index past the last image is an error here (Caffe
would read past its list).  Every error names the file and line and says what was expected.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

import numpy as np

from tunewiz.errors import TunewizError

FORMAT = ("the format is, per image: '# image_index', img_path, channels, height, width, num_windows, then "
          "num_windows lines 'class_index overlap x1 y1 x2 y2'")
_INT = re.compile(r"[+-]?\d+\Z")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")


class WindowFileError(TunewizError):
    """A window file that cannot be read."""


@dataclass(frozen=True)
class Window:
    """One window: Caffe's ``IMAGE_INDEX, LABEL, OVERLAP, X1, Y1, X2, Y2`` and the line it came from."""
    image: int
    label: int
    overlap: float
    x1: int
    y1: int
    x2: int
    y2: int
    line: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.x1, self.y1, self.x2, self.y2


@dataclass
class WindowFile:
    """The images (``root_folder + img_path``, (channels, height, width)) and the two window lists."""
    path: str
    images: list[tuple[str, tuple[int, int, int]]] = field(default_factory=list)
    fg: list[Window] = field(default_factory=list)
    bg: list[Window] = field(default_factory=list)

    def label_counts(self) -> dict[int, int]:
        """Caffe's ``label_hist``: windows per label (background as 0)."""
        counts = {0: len(self.bg)}
        for w in self.fg:
            counts[w.label] = counts.get(w.label, 0) + 1
        return dict(sorted(counts.items()))


class _Tokens:
    """The file's whitespace-separated tokens with their line numbers."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.items = [(tok, n) for n, line in enumerate(text.splitlines(), 1) for tok in line.split()]
        self.pos = 0
        self.last_line = self.items[-1][1] if self.items else 1  # the line the file ends on

    def more(self) -> bool:
        return self.pos < len(self.items)

    def fail(self, line: int, message: str) -> WindowFileError:
        return WindowFileError(f"{self.path}, line {line}: {message}; {FORMAT}.")

    def take(self, what: str, pattern: re.Pattern | None = None) -> tuple[str, int]:
        if not self.more():
            raise self.fail(self.last_line, f"the file ends where {what} was expected")
        tok, line = self.items[self.pos]
        if pattern is not None and not pattern.match(tok):
            raise self.fail(line, f"expected {what}, found {tok!r}")
        self.pos += 1
        return tok, line

    def int(self, what: str) -> tuple[int, int]:
        tok, line = self.take(f"{what} (an integer)", _INT)
        return int(tok), line

    def float(self, what: str) -> tuple[float, int]:
        tok, line = self.take(f"{what} (a number)", _FLOAT)
        return float(np.float32(tok)), line


def parse_window_file(path: str, text: str, fg_threshold: float, bg_threshold: float,
                      root_folder: str = "") -> WindowFile:
    """The windows of a window file's ``text`` (``path`` names it in errors), split by the thresholds."""
    toks = _Tokens(path, text)
    if not toks.more():
        raise WindowFileError(f"{path}: the window file is empty (Caffe: Window file is empty); {FORMAT}.")
    out = WindowFile(path)
    fg_t, bg_t = np.float32(fg_threshold), np.float32(bg_threshold)
    lines: list[tuple[int, int]] = []  # (image_index, line) to check once all images are known
    while toks.more():
        toks.take("'#' (the start of an image block)", re.compile(r"#\Z"))
        image_index, line = toks.int("the image_index after '#'")
        lines.append((image_index, line))
        image_path, _ = toks.take("img_path")
        size = tuple(toks.int(what)[0] for what in ("channels", "height", "width"))
        if size[0] != 3:
            raise toks.fail(line, f"image {image_path!r} has channels {size[0]}; WindowData reads every image in "
                                  "color, so channels must be 3")
        out.images.append((root_folder + image_path, size))
        num_windows, n_line = toks.int("num_windows")
        if num_windows < 0:
            raise toks.fail(n_line, f"num_windows is {num_windows}")
        for _ in range(num_windows):
            label, w_line = toks.int("class_index")
            overlap = toks.float("overlap")[0]
            x1, y1, x2, y2 = (toks.int(c)[0] for c in ("x1", "y1", "x2", "y2"))
            if overlap >= fg_t:
                if label <= 0:
                    raise toks.fail(w_line, f"a foreground window (overlap {overlap:g} >= fg_threshold "
                                            f"{float(fg_t):g}) has class_index {label}; foreground classes "
                                            "count from 1 (0 is background)")
                out.fg.append(Window(image_index, label, overlap, x1, y1, x2, y2, w_line))
            elif overlap < bg_t:
                out.bg.append(Window(image_index, 0, 0.0, x1, y1, x2, y2, w_line))
    for image_index, line in lines:
        if not 0 <= image_index < len(out.images):
            raise toks.fail(line, f"image_index {image_index} is not one of the {len(out.images)} images; Caffe "
                                  "finds an image by its position, so number them 0, 1, 2, ... in order")
    return out


def read_window_file(path: str, fg_threshold: float, bg_threshold: float, root_folder: str = "",
                     shown: str | None = None) -> WindowFile:
    """:func:`parse_window_file` of the file at ``path`` (``shown``: the name errors give, default ``path``)."""
    shown = shown or path
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # checked first: opening a FIFO would block
            raise WindowFileError(f"Failed to open window file {shown}: not a regular file; give the window "
                                  f"file ({FORMAT}).")
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as exc:
        raise WindowFileError(f"Failed to open window file {shown} ({exc.strerror or exc}); paths are relative "
                              "to the folder you run from, as in Caffe.") from None
    return parse_window_file(shown, text, fg_threshold, bg_threshold, root_folder)
