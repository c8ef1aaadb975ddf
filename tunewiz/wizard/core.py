"""The one adapter between the wizard and the headless core (data, recipe, engine).

Every call the screens make into ``tunewiz.data``, ``tunewiz.recipe`` and
``tunewiz.engine`` goes through here, imported lazily (torch and the engine are only
loaded when a step needs them, so the first screen appears fast).  When a core piece is
missing in this build, :class:`CoreMissing` says which, and the screen shows it.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from tunewiz.errors import TunewizError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp"}


class CoreMissing(TunewizError):
    """A core function the wizard needs is not in this build."""


def _get(module: str, name: str):
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("tunewiz"):
            raise CoreMissing(f"{module}.{name} is not available in this build yet.") from None
        raise
    try:
        return getattr(mod, name)
    except AttributeError:
        raise CoreMissing(f"{module}.{name} is not available in this build yet.") from None


def available(module: str, name: str) -> bool:
    try:
        _get(module, name)
        return True
    except CoreMissing:
        return False


# ---------------------------------------------------------------- step 2: data
@dataclass
class FolderScan:
    root: Path
    classes: list[tuple[str, int]] = field(default_factory=list)
    sizes: dict[tuple[int, int], int] = field(default_factory=dict)
    sampled: int = 0

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
    """Class folders under ``root`` with image counts, and a sample of image sizes."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise TunewizError(f"{root} is not a folder. Give a folder with one sub-folder per class.")
    scan = FolderScan(root)
    firsts = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        scan.classes.append((sub.name, len(images)))
        firsts.extend(images[: max(1, sample // 10)])
    _sample_sizes(scan, firsts[:sample])
    return scan


def _sample_sizes(scan: FolderScan, paths) -> None:
    import cv2  # lazy: only when a folder is scanned

    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if img is None:
            continue
        key = (int(img.shape[1]), int(img.shape[0]))
        scan.sizes[key] = scan.sizes.get(key, 0) + 1
        scan.sampled += 1


def check_scan(scan: FolderScan) -> None:
    """Say exactly what is missing before a conversion is started."""
    if not scan.classes:
        raise TunewizError(f"{scan.root} holds no class folders. Put each class's images in its own sub-folder.")
    empty = [name for name, n in scan.classes if n == 0]
    if empty:
        raise TunewizError(f"class folder(s) without images: {', '.join(empty)}. Add images or remove them.")
    if len(scan.classes) == 1:
        raise TunewizError(
            f"only one class ({scan.classes[0][0]}) in {scan.root}: a classifier needs at least two class folders."
        )


@dataclass
class Progress:
    done: int
    total: int
    skipped: int = 0
    rate: float = 0.0
    message: str = ""


@dataclass
class ConvertOptions:
    resize_width: int = 0
    resize_height: int = 0
    gray: bool = False
    encoded: bool = False
    backend: str = "lmdb"
    val_fraction: float = 0.2
    shuffle: bool = True


def convert_folder(root, out_dir, options: ConvertOptions, stop):
    """Yield :class:`Progress` while the data core converts class folders to train/val databases.

    Returns (via StopIteration.value) the core's summary object.
    """
    convert = _get("tunewiz.data.convert", "convert_class_folders")
    events = convert(
        root, Path(out_dir), backend=options.backend, gray=options.gray, encoded=options.encoded,
        resize_width=options.resize_width, resize_height=options.resize_height,
        val_fraction=options.val_fraction, shuffle=options.shuffle, stop=stop,
    )
    summary = None
    for ev in events:
        summary = ev
        yield Progress(
            done=int(getattr(ev, "done", 0)), total=int(getattr(ev, "total", 0) or 0),
            skipped=int(getattr(ev, "skipped", 0) or 0), rate=float(getattr(ev, "rate", 0.0) or 0.0),
            message=str(getattr(ev, "message", "") or ""),
        )
    return summary


def compute_mean(db, out_file, backend: str = "lmdb"):
    """Compute the mean image of ``db`` into ``out_file``; return per-channel means."""
    fn = _get("tunewiz.data.mean", "compute_image_mean")
    return fn(str(db), str(out_file), backend=backend)
