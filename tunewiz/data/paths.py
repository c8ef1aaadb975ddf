"""Where a path a net names lies: Caffe opens relative paths from the folder it runs in.

``root`` is that folder when tunewiz runs a net from elsewhere (the trainer passes the run's folder);
None means the current folder, as in Caffe.
"""
from __future__ import annotations

import os


def resolve(path: str, root: str | os.PathLike | None) -> str:
    """``path`` as Caffe would open it, run from ``root`` (absolute paths and a None root unchanged)."""
    return path if os.path.isabs(path) or not root else os.path.join(os.fspath(root), path)
