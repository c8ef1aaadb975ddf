"""Names of tunewiz's temporary files, so that one a killed process left behind can be found and removed.

Every file tunewiz writes atomically is first written to a hidden temporary beside it, then renamed over
the final name.  A process killed in between (kill -9, the OOM killer, a power cut) leaves that temporary
behind; a snapshot's can be hundreds of MB.  The name says whose it is::

    .<final name>.tunewiz-<pid>-<token>.tmp      e.g. .lenet_iter_500.caffemodel.tunewiz-4242-k3j9x_ab.tmp

so the next trainer in that folder can tell tunewiz's temporaries from anyone else's files and remove
those whose process is gone (:func:`tunewiz.engine.train.runguard.remove_stale_temps`).  The names earlier
versions used (``.<snapshot file>.tmp<pid>``, and ``.<that>.<8 chars>.tmp`` inside it) are recognised too.

A download that can be resumed is the one exception: its bytes collect in ``<final name>.part`` beside the
final file (:func:`partial_path`), which outlives the process on purpose (the next run resumes it), so it
carries no pid and no sweep of stale temporaries ever removes it.
"""
from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path

_OURS = re.compile(r"^\.(?P<final>.+)\.tunewiz-(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp$")
# earlier versions: snapshot files (and the caffemodel writer's temporary inside one), pid in the name
_LEGACY = re.compile(r"^\.+(?P<final>.+\.(?:caffemodel|solverstate|tunewiz\.json|prototxt|json))"
                     r"\.tmp(?P<pid>\d+)(?:\.[a-z0-9_]{8}\.tmp)?$")


def temp_path(final: str | os.PathLike) -> Path:
    """A fresh temporary name beside ``final`` (not created), marked with this process's pid."""
    final = Path(final)
    return final.with_name(f".{final.name}.tunewiz-{os.getpid()}-{secrets.token_hex(4)}.tmp")


def make_temp(final: str | os.PathLike) -> tuple[int, str]:
    """Create a temporary beside ``final`` exclusively (``tempfile.mkstemp``); return (fd, path)."""
    final = Path(final)
    return tempfile.mkstemp(prefix=f".{final.name}.tunewiz-{os.getpid()}-", suffix=".tmp",
                            dir=str(final.parent) if str(final.parent) else ".")


def partial_path(final: str | os.PathLike) -> Path:
    """Where a resumable download of ``final`` collects its bytes: ``<final name>.part`` beside it."""
    final = Path(final)
    return final.with_name(f"{final.name}.part")


def temp_owner(name: str) -> int | None:
    """The pid in a tunewiz temporary's file name (None: not one of ours)."""
    match = _OURS.match(name) or _LEGACY.match(name)
    return int(match.group("pid")) if match else None
