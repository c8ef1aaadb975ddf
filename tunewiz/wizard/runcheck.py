"""Before the wizard writes into a run folder or starts a trainer there: is the folder free, and would the
new run's snapshots replace another run's.

``tunewiz train`` refuses both itself (:func:`tunewiz.engine.train.runguard.claim_run`), but only once it is
running: by then the wizard would have written ``train.pid``, ``launch.json`` and ``console.log`` over the
owner's.  Asked here first, a refusal changes nothing, and it is said in the wizard's words (Welcome, a run
name, the Start step's snapshot) rather than in the command line's flags.  The trainer's own check stays
the last word (a trainer may take the folder between this check and the launch).
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

from tunewiz.errors import TunewizError
from tunewiz.runs import layout


class RunRefused(TunewizError):
    """A start the wizard refuses; ``str()`` is the one line for the status, ``details`` the report's lines."""

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


def _where(run_dir: Path) -> str:
    """The run folder as the status line names it: its run name (the report gives the whole path)."""
    return f"run folder {run_dir.name}"


def busy(run_dir, what: str = "") -> RunRefused | None:
    """The refusal when another trainer (from the wizard or the command line) holds ``run_dir`` (``what``:
    how to name the folder, when it is not the run folder)."""
    from tunewiz.runs.lock import folder_owner

    run_dir = Path(run_dir)
    owner = folder_owner(run_dir)
    if owner is None:
        return None
    if not owner.pid:
        who = "a trainer that is just starting"
    else:
        host = f" on {owner.host}" if owner.host and owner.host != socket.gethostname() else ""
        who = f"another trainer, pid {owner.pid}{host}"
    stop = f", stop it (kill -INT {owner.pid}: it snapshots first)" if owner.pid else ""
    line = (f"{what or _where(run_dir)} is in use by {who}; nothing was written. Follow it (Welcome: Re-attach){stop}, "
            "or use another run name.")
    return RunRefused(line, ["== run folder in use", f"  {run_dir} is held by {owner.describe()}",
                             "  One trainer per run folder: a second would mix its log and snapshots with it."])


def snapshots_in_the_way(run_dir, prefix: str, snapshot: str | None = None) -> RunRefused | None:
    """The refusal when ``<prefix>_iter_N.*`` files of another run lie where this run would write its own
    (a new run: any; a resume from iteration R: those past R)."""
    from tunewiz.engine.train.runguard import (SnapshotsInTheWay, check_snapshot_names, existing_snapshots,
                                         resume_iteration)

    run_dir = Path(run_dir)
    try:
        check_snapshot_names(prefix, str(run_dir / layout.SOLVER), snapshot, root=run_dir)
    except SnapshotsInTheWay as exc:
        after = resume_iteration(snapshot, run_dir) if snapshot else -1
        found = existing_snapshots(prefix, run_dir, after)
        if not found:  # removed meanwhile
            return None
        base = Path(prefix).name
        files = [f"{base}_iter_{n}{ext}" for n, exts in found.items() for ext in exts]
        states = [n for n, exts in found.items() if ".solverstate" in exts]
        latest = f"{base}_iter_{states[-1]}.solverstate" if states else ""
        if snapshot:
            line = (f"resuming from iteration {after} would write over {len(files)} later snapshot files (up to "
                    f"{base}_iter_{max(found)}); nothing was written. "
                    + (f"Resume from the latest (Start: snapshot, {latest}), or delete the later files."
                       if latest else "Delete the later files, or resume from a later snapshot."))
        else:
            resume = f"resume it (Start: snapshot, {latest}), " if latest else ""
            line = (f"{_where(run_dir)} holds another run's snapshots ({len(files)} files, up to {base}_iter_"
                    f"{max(found)}); nothing was written. {resume[:1].upper()}{resume[1:]}use another run name, "
                    "or delete them.")
        return RunRefused(line, [f"== snapshots in the way (in {run_dir})", *(f"  {f}" for f in files[:12]),
                                 *(["  ..."] if len(files) > 12 else []), f"  {exc}"])
    return None


def check_free(run_dir, prefix: str | None, snapshot: str | None = None) -> None:
    """Raise :class:`RunRefused` when ``run_dir`` is busy or the snapshot names are taken (``prefix``
    None: the solver could not be read; the trainer then says what is wrong with it)."""
    refusal = busy(run_dir)
    if refusal is None and prefix:
        folder = (Path(run_dir) / prefix).parent  # the trainer locks the snapshots' folder too
        if folder.is_dir() and not _same_folder(folder, run_dir):
            refusal = busy(folder, f"the snapshot folder {folder}")
        refusal = refusal or snapshots_in_the_way(run_dir, prefix, snapshot)
    if refusal is not None:
        raise refusal


def _same_folder(a: Path, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def solver_prefix(solver=None, text: str | None = None) -> str | None:
    """The snapshot_prefix of a solver file (or of its ``text``, before it is written); None if unreadable."""
    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.prototxt import parse_text, read_solver_text

    try:
        sp = parse_text(text, caffe_pb2.SolverParameter()) if text is not None else read_solver_text(solver)
    except TunewizError:
        return None
    return sp.snapshot_prefix or None
