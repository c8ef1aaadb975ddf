"""The wizard's adapter to the data core (step 2): scan class folders, convert, compute the mean.

Conversion is the data core's generator (``tunewiz.data.imageset.convert_folders``), driven
from a worker thread; this module only turns its events into what the screen shows.
"""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tunewiz.data.db_write import first_missing, remove_made_folders
from tunewiz.errors import TunewizError


# ---------------------------------------------------------------- step 2: data
@dataclass
class FolderScan:
    root: Path
    classes: list[tuple[str, int]] = field(default_factory=list)
    sizes: dict[tuple[int, int], int] = field(default_factory=dict)
    sampled: int = 0
    channels: set = field(default_factory=set)

    @property
    def all_gray(self) -> bool:
        return self.channels == {1}

    @property
    def total(self) -> int:
        return sum(n for _, n in self.classes)

    def size_summary(self) -> str:
        if not self.sizes:
            return "no readable image found"
        common = sorted(self.sizes.items(), key=lambda kv: -kv[1])[:3]
        text = ", ".join(f"{w}x{h} ({n})" for (w, h), n in common)
        more = "" if len(self.sizes) <= 3 else f", {len(self.sizes) - 3} other sizes"
        return f"{len(self.sizes)} size(s) in {self.sampled} sampled: {text}{more}"


def scan_folder(root, sample: int = 60) -> FolderScan:
    """Class folders under ``root`` with image counts (the data core's rules), and sampled sizes."""
    from tunewiz.data.listfile import class_folders

    root = Path(root).expanduser()
    classes, files = class_folders(str(root))  # raises for no folder, one class, an empty class
    scan = FolderScan(root.resolve(), [(name, len(files[name])) for name in classes])
    per_class = max(1, sample // max(len(classes), 1))
    _sample_sizes(scan, [root / p for name in classes for p in files[name][:per_class]])
    return scan


def _sample_sizes(scan: FolderScan, paths) -> None:
    import cv2  # lazy: only when a folder is scanned

    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if img is None:
            continue
        key = (int(img.shape[1]), int(img.shape[0]))
        scan.sizes[key] = scan.sizes.get(key, 0) + 1
        scan.channels.add(1 if img.ndim == 2 else int(img.shape[2]))
        scan.sampled += 1


@dataclass
class Progress:
    done: int
    total: int
    skipped: int = 0
    rate: float = 0.0
    message: str = ""
    offset: int = 0  # records of the databases finished before this one


@dataclass
class ConvertOptions:
    resize_width: int = 0
    resize_height: int = 0
    gray: bool = False
    encoded: bool = False
    backend: str = "lmdb"
    val_fraction: float = 0.2
    shuffle: bool = True


@dataclass
class ConvertResult:
    train_db: Path
    val_db: Path
    records: int = 0
    val_count: int = 0
    skipped: int = 0
    skipped_lines: list[str] = field(default_factory=list)
    labels_file: str = ""
    seconds: float = 0.0

    @property
    def summary(self) -> str:
        text = f"{self.records} training and {self.val_count} validation records in {self.seconds:.1f} s"
        if self.skipped_lines:
            shown = "; ".join(self.skipped_lines[:3])
            more = f" (+{len(self.skipped_lines) - 3} more)" if len(self.skipped_lines) > 3 else ""
            text += f"\nskipped {self.skipped}: {shown}{more}"
        return text


def _core_options(imageset, options: ConvertOptions):
    return imageset.Options(gray=options.gray, shuffle=options.shuffle, backend=options.backend,
                            resize_width=options.resize_width, resize_height=options.resize_height,
                            encoded=options.encoded)


def convert_folder(root, out_dir, options: ConvertOptions, stop, total: int = 0):
    """Yield :class:`Progress` while the data core writes train/val databases; return a ConvertResult."""
    from tunewiz.data import imageset

    out_dir = Path(out_dir)
    result = ConvertResult(out_dir / f"train_{options.backend}", out_dir / f"val_{options.backend}")
    made = _Made(out_dir, result.train_db, result.val_db, out_dir / "labels.txt")
    opts = _core_options(imageset, options)
    with made.undone_unless_finished(result, stop):
        events = imageset.convert_folders(str(root), str(result.train_db), opts,
                                          val_fraction=options.val_fraction, val_db=str(result.val_db), stop=stop)
        offset = 0
        for ev in events:
            offset = _fold(ev, result, offset, total)
            if isinstance(offset, Progress):
                yield offset
                offset = offset.offset
            elif type(ev).__name__ == "Finished":
                result.labels_file = ev.labels_file or result.labels_file
    return result


class ConversionFailed(TunewizError):
    """A conversion that ended in an error; ``warnings`` are the images it skipped before (often the why:
    "none of the N images could be read" is only understood with the reasons)."""

    def __init__(self, message: str, warnings: list[str]) -> None:
        super().__init__(message)
        self.warnings = list(warnings)


class _Made:
    """What one conversion may create (the output folder, its databases, labels.txt), so that a failed or
    cancelled one leaves nothing: a retry must not meet "already exists", nor an empty data folder."""

    def __init__(self, out_dir: Path, *paths: Path) -> None:
        self.out_dir, self.paths = out_dir, [p for p in paths if not p.exists()]  # never what was there
        self.top = first_missing(str(out_dir))

    @contextmanager
    def undone_unless_finished(self, result: ConvertResult, stop):
        try:
            try:
                self.out_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise TunewizError(f"cannot create {self.out_dir} ({exc.strerror or exc}); the run folder must "
                                   "be writable (another runs folder: $TUNEWIZ_RUNS).") from None
            yield
        except TunewizError as exc:
            self.undo()
            raise ConversionFailed(str(exc), result.skipped_lines) from None
        if stop is not None and stop.is_set():
            self.undo()

    def undo(self) -> None:
        for path in self.paths:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink()
        remove_made_folders(str(self.out_dir), self.top)  # each only while empty


def compute_mean(db, out_file, backend: str = "lmdb", stop=None) -> list[float]:
    """The data core's mean of ``db`` written to ``out_file``; returns the per-channel means."""
    from tunewiz.data import mean as mean_mod

    mean, _count, _decoded = mean_mod.compute_mean(str(db), backend, stop)
    mean_mod.write_mean(mean, str(out_file))
    return mean_mod.channel_mean_values(mean)


# ---------------------------------------------------------------- list files (Caffe's "path label" lines)
def scan_list(list_file, root, sample: int = 60) -> FolderScan:
    """Labels and counts of a list file (classes named by their label), and sampled image sizes."""
    from collections import Counter

    from tunewiz.data.listfile import read_list

    entries = read_list(str(list_file))
    counts = Counter(e.label for e in entries)
    scan = FolderScan(Path(root).resolve(), [(str(label), counts[label]) for label in sorted(counts)])
    if len(counts) < 2:
        raise TunewizError(f"{list_file}: only one label ({entries[0].label}); a classifier needs at least two classes.")
    _sample_sizes(scan, [Path(root) / e.path for e in entries[:sample]])
    return scan


def default_root(list_file) -> Path:
    """Where a list's paths probably start: an ``images`` folder beside it, else its folder."""
    folder = Path(list_file).resolve().parent
    return folder / "images" if (folder / "images").is_dir() else folder


def convert_lists(train_list, val_list, root, out_dir, options: ConvertOptions, stop, total: int = 0):
    """Yield :class:`Progress` while the data core converts both lists; return a ConvertResult.

    Two conversions, train then val: a val list that fails removes the train database made just before.
    """
    from tunewiz.data import imageset

    out_dir = Path(out_dir)
    result = ConvertResult(out_dir / f"train_{options.backend}", out_dir / f"val_{options.backend}")
    made = _Made(out_dir, result.train_db, result.val_db)
    opts = _core_options(imageset, options)
    with made.undone_unless_finished(result, stop):
        offset = 0
        for listed, db in ((train_list, result.train_db), (val_list, result.val_db)):
            for ev in imageset.convert_list(str(root), str(listed), str(db), opts, stop):
                offset = _fold(ev, result, offset, total)
                if isinstance(offset, Progress):
                    yield offset
                    offset = offset.offset
            if stop is not None and stop.is_set():
                break
    return result


def _fold(ev, result: ConvertResult, offset: int, total: int):
    """One data-core event into the result; a Progress (carrying the offset) for progress events."""
    name = type(ev).__name__
    if name == "Progress":
        return Progress(offset + ev.done, max(total, offset + ev.total), result.skipped, ev.rate, offset=offset)
    if name == "Skipped":
        result.skipped += 1
        result.skipped_lines.append(_skipped_line(ev.path, ev.reason))
    elif name == "Finished":
        offset += ev.records + ev.skipped
        if Path(ev.db) == result.train_db:
            result.records = ev.records
        else:
            result.val_count = ev.records
        result.seconds += ev.seconds
    return offset


def _skipped_line(path: str, reason: str) -> str:
    """The data core's reason with its full file name cut to the image's own path (at 80 columns the root
    folder, the same on every line, would push the reason onto the next)."""
    import re

    if path and path in reason:
        return re.sub(r"\S*" + re.escape(path), lambda _m: path, reason, count=1)
    return f"{path}: {reason}"
