"""Output files: checked before any work, written beside their final name and renamed only once checked.

(Before any work, :func:`tunewiz.outputs.check_output` refuses what cannot be written.)  ``write_checked``
writes to a temporary beside the target (``tunewiz.caffe.tempfiles.temp_path``), runs the check on that temporary, and renames it over the target only when the check passes; otherwise, or when
anything fails or is interrupted, the temporary is deleted and an existing file is left as it was.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")


def write_checked(path: str, write: Callable[[Path], object], check: Callable[[Path], T]) -> T:
    """``write(tmp)``, then ``check(tmp)`` (raises to refuse), then rename over ``path``; returns the check's."""
    from tunewiz.caffe.tempfiles import temp_path

    target = Path(path)
    tmp = temp_path(target)
    try:
        write(tmp)
        result = check(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return result
