"""Output files of the commands: checked before any work, never replacing an existing file without --force."""
from __future__ import annotations

from pathlib import Path

from tunewiz.errors import TunewizError


def check_output(path: str, force: bool, flag: str = "--output", what: str = "the file") -> None:
    """Before any work: ``path`` names a file in a folder that exists, and none is there unless ``force``."""
    target = Path(path)
    if target.is_dir():
        raise TunewizError(f"{flag} {path}: is a folder; give the name of {what} to write")
    if not target.parent.is_dir():
        raise TunewizError(f"{flag}: folder '{target.parent}' does not exist")
    if target.exists() and not force:
        raise TunewizError(f"{flag} {path} already exists: give --force to overwrite it, or another name")
