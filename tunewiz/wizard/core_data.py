"""The wizard's adapter to the data core (step 2): scan class folders or lists; start, follow and clean up
the conversion.

The conversion (:mod:`tunewiz.data.conversion`: databases and the mean) runs as its own process
(:mod:`tunewiz.runs.conversion`), so it outlives the wizard's terminal; the wizard follows its events, and
a wizard started again finds it in the run folder and follows it on.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from tunewiz.data.conversion import ConvertOptions
from tunewiz.data.db_write import first_missing, remove_made_folders
from tunewiz.errors import TunewizError
from tunewiz.runs import conversion, layout
from tunewiz.runs.events import ConvertFailed, Converted, Progress
from tunewiz.runs.follow import EventFollower


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


# ---------------------------------------------------------------- the conversion process
def start_convert(run_dir, root, options: ConvertOptions, total: int = 0, lists=None) -> int:
    """Start converting ``root`` (class folders, or the ``lists`` (train, val) under it) into
    ``<run dir>/data`` as a process of its own; its pid.  What it will have made (the folders up to
    ``made_top``) is in its job, so whoever reads its failure can remove them."""
    data = layout.data_dir(run_dir)
    job = {"root": str(root), "lists": [str(p) for p in lists] if lists else None, "options": asdict(options),
           "total": total, "made_top": first_missing(str(data))}
    return conversion.start_conversion(run_dir, job)


def follow_convert(run_dir, stop, poll_s: float = 0.1):
    """Yield the :class:`Progress` of the conversion of ``run_dir``; return its outcome (Converted or
    ConvertFailed), or None once ``stop`` is set (the worker was cancelled: the conversion goes on)."""
    follower = EventFollower(layout.data_dir(run_dir), layout.CONVERT_EVENTS)
    while True:
        running = conversion.is_converting(run_dir)  # asked before reading: its last event is then read
        for stamped in follower.poll():
            if not isinstance(stamped.event, Progress):
                return stamped.event
            yield stamped.event
        if follower.refused:
            return ConvertFailed(follower.refused[-1])
        if not running:
            said = conversion.console_tail(run_dir)
            return ConvertFailed("the conversion process ended without a result" + (f": {said[-1]}" if said else ""))
        if stop.wait(poll_s):
            return None


def pending(run_dir) -> bool:
    """A conversion was started here and its outcome is not taken in yet (:func:`conversion.pending`)."""
    return conversion.pending(run_dir)


def convert_root(run_dir) -> str:
    """The image folder (or list file) the run folder's conversion converts."""
    job = conversion.read_job(run_dir)
    return str(job["lists"][0]) if job.get("lists") else str(job.get("root", ""))


def take_outcome(run_dir, outcome: Converted | ConvertFailed) -> None:
    """Done with a conversion's outcome (now in the wizard's state): its own files go; a failed one also
    leaves none of the folders it made (its databases it removed itself)."""
    job = conversion.read_job(run_dir)
    conversion.forget(run_dir)
    if isinstance(outcome, ConvertFailed):
        remove_made_folders(str(layout.data_dir(run_dir)), job.get("made_top"))


def cancel_convert(run_dir) -> bool:
    """Ask the conversion to stop (it removes what it made); False when none runs."""
    return conversion.cancel(run_dir)
