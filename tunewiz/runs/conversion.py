"""Start the wizard's data conversion as its own process, and find it again from the run folder.

Like the trainer (:mod:`tunewiz.runs.launch`), the conversion runs in a session of its own, so a closed
wizard or a dropped SSH connection does not end it.  Its files lie in ``<run dir>/data`` (names in
:mod:`tunewiz.runs.layout`): the job (``convert.json``), its pid, its console output and its typed events
(``convert.jsonl``, read with :class:`~tunewiz.runs.follow.EventFollower`).  SIGTERM stops it; it then
removes what it made.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from tunewiz.runs import layout
from tunewiz.runs.launch import pid_alive, read_pid, spawn_detached, spawned_here

MODULE = "tunewiz.data.conversion_job"  # the process's entry (python -m), in the data layer


def start_conversion(run_dir, job: dict) -> int:
    """Write ``job`` to ``<run dir>/data/convert.json`` and start the conversion detached; its pid."""
    data = layout.data_dir(run_dir)
    data.mkdir(parents=True, exist_ok=True)
    forget(run_dir)  # an earlier conversion's record: its outcome was read
    (data / layout.CONVERT_JOB).write_text(json.dumps(job, indent=1) + "\n")
    proc = spawn_detached([sys.executable, "-m", MODULE, str(data.resolve())], data, layout.CONVERT_CONSOLE,
                          layout.CONVERT_PID)
    return proc.pid


def read_job(run_dir) -> dict:
    """The job of the last conversion started in this run folder (empty when none)."""
    try:
        job = json.loads((layout.data_dir(run_dir) / layout.CONVERT_JOB).read_text())
    except (OSError, ValueError):
        return {}
    return job if isinstance(job, dict) else {}


def pending(run_dir) -> bool:
    """A conversion was started in this run folder and its outcome is not taken in yet (it runs, or it
    ended while no wizard followed it)."""
    return bool(read_job(run_dir))


def conversion_pid(run_dir) -> int | None:
    return read_pid(layout.data_dir(run_dir), layout.CONVERT_PID)


def is_converting(run_dir) -> bool:
    """The conversion started in this run folder is still running (not a recycled pid)."""
    pid = conversion_pid(run_dir)
    if pid is None or not pid_alive(pid):
        return False
    if spawned_here(pid):  # ours: between fork and exec its cmdline is still this process's
        return True
    try:
        return MODULE.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def cancel(run_dir) -> bool:
    """Ask the running conversion to stop (SIGTERM: it removes what it made); False when none runs."""
    if not is_converting(run_dir):
        return False
    os.kill(conversion_pid(run_dir), signal.SIGTERM)
    return True


def console_tail(run_dir, count: int = 3) -> list[str]:
    """The last lines the conversion printed (its traceback, when it crashed)."""
    from tunewiz.runs.follow import tail_lines

    return [line for line in tail_lines(layout.data_dir(run_dir) / layout.CONVERT_CONSOLE, count) if line.strip()]


def forget(run_dir) -> None:
    """Remove the conversion's own files (job, pid, console, events) from the data folder."""
    data = layout.data_dir(run_dir)
    for name in layout.CONVERT_FILES:
        try:
            (data / name).unlink()
        except FileNotFoundError:
            pass
