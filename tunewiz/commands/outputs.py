"""What commands share about the files they write and the progress they draw.

``check_output``: before any work, an output file's folder exists and an existing file is refused
unless ``--force`` (nothing the user had is overwritten by surprise); ``bar``: the one-line text
progress bar (``convert-imageset``, ``classify``), redrawn with ``\\r`` on a terminal.
"""
from __future__ import annotations

from pathlib import Path

from tunewiz.errors import TunewizError


def check_output(path: str, force: bool, flag: str = "--output", what: str = "file") -> None:
    """Refuse (one line naming ``flag``) a folder, a missing parent folder, or an existing file without --force."""
    target = Path(path)
    if target.is_dir():
        raise TunewizError(f"{flag} {path}: is a folder; give the name of the {what} to write")
    if not target.parent.is_dir():
        raise TunewizError(f"{flag}: folder '{target.parent}' does not exist")
    if target.exists() and not force:
        raise TunewizError(f"{flag} {path} already exists: give --force to overwrite it, or another name")


def bar(done: int, total: int, rate: float, skipped: int = 0, width: int = 30) -> str:
    """``\\r[#####.....] done/total  pct%  rate img/s`` (and ``skipped N`` when some were)."""
    filled = int(width * done / max(total, 1))
    return (f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {100 * done // max(total, 1):3d}% "
            f"{rate:6.0f} img/s" + (f"  skipped {skipped}" if skipped else ""))
