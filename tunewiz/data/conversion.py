"""The wizard's conversion: images (class folders, or a train and a val list) into train/val databases
and the training database's mean, in one folder, as a generator of :class:`~tunewiz.runs.events.Progress`.

A conversion that fails or is stopped leaves nothing it made (its databases, labels.txt, the folders it
created): a retry must not meet "already exists".  :mod:`tunewiz.data.conversion_job` runs it as its own
process for the wizard.
"""
from __future__ import annotations

import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tunewiz.data.db_write import first_missing, remove_made_folders
from tunewiz.errors import TunewizError
from tunewiz.runs import layout
from tunewiz.runs.events import Progress


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


class ConversionFailed(TunewizError):
    """A conversion that ended in an error; ``warnings`` are the images it skipped before (often the why:
    "none of the N images could be read" is only understood with the reasons)."""

    def __init__(self, message: str, warnings: list[str]) -> None:
        super().__init__(message)
        self.warnings = list(warnings)


def _core_options(imageset, options: ConvertOptions):
    return imageset.Options(gray=options.gray, shuffle=options.shuffle, backend=options.backend,
                            resize_width=options.resize_width, resize_height=options.resize_height,
                            encoded=options.encoded)


def _result(out_dir: Path, options: ConvertOptions) -> ConvertResult:
    return ConvertResult(layout.train_db(out_dir, options.backend), layout.val_db(out_dir, options.backend))


def convert_folder(root, out_dir, options: ConvertOptions, stop, total: int = 0):
    """Yield :class:`Progress` while the data core writes train/val databases; return a ConvertResult."""
    from tunewiz.data import imageset

    out_dir = Path(out_dir)
    result = _result(out_dir, options)
    made = _Made(out_dir, result.train_db, result.val_db, out_dir / layout.LABELS)
    with made.undone_unless_finished(result, stop):
        events = imageset.convert_folders(str(root), str(result.train_db), _core_options(imageset, options),
                                          val_fraction=options.val_fraction, val_db=str(result.val_db), stop=stop)
        counter = _Counter(result, total)
        for ev in events:
            progress = counter.fold(ev)
            if progress is not None:
                yield progress
            elif type(ev).__name__ == "Finished":
                result.labels_file = ev.labels_file or result.labels_file
    return result


def convert_lists(train_list, val_list, root, out_dir, options: ConvertOptions, stop, total: int = 0):
    """Yield :class:`Progress` while the data core converts both lists; return a ConvertResult.

    Two conversions, train then val: a val list that fails removes the train database made just before.
    """
    from tunewiz.data import imageset

    out_dir = Path(out_dir)
    result = _result(out_dir, options)
    made = _Made(out_dir, result.train_db, result.val_db)
    with made.undone_unless_finished(result, stop):
        counter = _Counter(result, total)
        for listed, db in ((train_list, result.train_db), (val_list, result.val_db)):
            for ev in imageset.convert_list(str(root), str(listed), str(db), _core_options(imageset, options), stop):
                progress = counter.fold(ev)
                if progress is not None:
                    yield progress
            if stop is not None and stop.is_set():
                break
    return result


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


class _Counter:
    """The data core's per-database events folded into the result, and its Progress counted over both
    databases (``offset``: records of the databases finished before this one)."""

    def __init__(self, result: ConvertResult, total: int) -> None:
        self.result, self.total, self.offset = result, total, 0

    def fold(self, ev) -> Progress | None:
        name, result = type(ev).__name__, self.result
        if name == "Progress":
            return Progress(ev.db, self.offset + ev.done, max(self.total, self.offset + ev.total), result.skipped,
                            ev.rate)
        if name == "Skipped":
            result.skipped += 1
            result.skipped_lines.append(_skipped_line(ev.path, ev.reason))
        elif name == "Finished":
            self.offset += ev.records + ev.skipped
            if Path(ev.db) == result.train_db:
                result.records = ev.records
            else:
                result.val_count = ev.records
            result.seconds += ev.seconds
        return None


def _skipped_line(path: str, reason: str) -> str:
    """The data core's reason with its full file name cut to the image's own path (at 80 columns the root
    folder, the same on every line, would push the reason onto the next)."""
    if path and path in reason:
        return re.sub(r"\S*" + re.escape(path), lambda _m: path, reason, count=1)
    return f"{path}: {reason}"


def compute_mean(db, out_file, backend: str = "lmdb", stop=None) -> list[float]:
    """The data core's mean of ``db`` written to ``out_file``; returns the per-channel means."""
    from tunewiz.data import mean as mean_mod

    mean, _count, _decoded = mean_mod.compute_mean(str(db), backend, stop)
    mean_mod.write_mean(mean, str(out_file))
    return mean_mod.channel_mean_values(mean)
