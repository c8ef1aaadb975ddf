"""The one check of a file a command is about to write: before any work, so nothing the user had is lost.

``check_output`` refuses a name that is a folder (or ends with ``/``), a special file (a device, pipe or
socket), a folder that does not exist, and an existing file unless ``--force``; each refusal is one line
naming the flag and the fix.  Writing itself goes through a temporary beside the file
(:mod:`tunewiz.caffe.tempfiles`), renamed over it only when complete.
"""
from __future__ import annotations

import os
from pathlib import Path

from tunewiz.errors import TunewizError


def check_output(path: str, force: bool, flag: str = "--output", what: str = "file") -> None:
    """Refuse (one line naming ``flag``) what cannot be written, or an existing file without ``force``."""
    named = f"{flag} {path}" if flag else str(path)
    if not path or str(path).endswith(("/", os.sep)) or Path(path).is_dir():
        raise TunewizError(f"{named}: is a folder; give the name of the {what} to write")
    target = Path(path)
    if target.exists() and not target.is_file():
        raise TunewizError(f"{named}: not a regular file (a device, pipe or socket); give a file name to write")
    if not target.parent.is_dir():
        raise TunewizError(f"{named}: folder '{target.parent}' does not exist")
    if target.exists() and not force:
        raise TunewizError(f"{named} already exists: give --force to overwrite it, or another name")
