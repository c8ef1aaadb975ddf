"""Start ``tunewiz train`` detached from the wizard's terminal, and reach it with signals.

The trainer runs as its own process in a new session (``setsid``): it has no
controlling terminal, so closing the wizard, Ctrl-C in the wizard or a dropped SSH
connection (SIGHUP to the terminal's session) never reaches it.  Its stdout/stderr go to
``<run dir>/console.log``; its pid to ``<run dir>/train.pid``.  Stop and snapshot-now use
Caffe's signals: SIGINT stops (after a snapshot), SIGHUP snapshots now.

A run folder has one trainer at a time (the trainer's ``flock``, :mod:`tunewiz.runs.lock`): the wizard
checks the folder is free before it launches (``tunewiz.wizard.runcheck``), and a trainer started from the
command line counts as running, reached at its lock's pid.  A launched trainer that ends before its first
event is told by the last line it printed (:func:`launch_failure`).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tunewiz.errors import TunewizError
from tunewiz.runs import events as ev
from tunewiz.runs.layout import CONSOLE, EVENTS, LAUNCH, PID
from tunewiz.runs.lock import folder_owner

ERROR_PREFIX = "tunewiz: error: "  # how tunewiz.cli prints a refusal


def train_command(solver: str | os.PathLike, weights=None, snapshot=None, run_dir=None,
                  numerics: str = "caffe", gpu: str | None = None) -> list[str]:
    """The ``tunewiz train`` command line for a solver and weights or snapshot (``numerics``: the run's
    ``FinetuneOptions.numerics``, on the CPU Caffe's summation order or torch's kernels; ``gpu``: its
    ``FinetuneOptions.gpu``, e.g. ``0,1``: one rank per GPU; None: solver_mode's device)."""
    cmd = [sys.executable, "-m", "tunewiz", "train", "--solver", str(Path(solver).resolve())]
    if gpu:
        cmd += ["--gpu", gpu]
    if run_dir is not None:
        cmd += ["--run_dir", str(Path(run_dir).resolve())]
    if weights:
        cmd += ["--weights", ",".join(str(Path(p).resolve()) for p in _listed(weights))]
    if snapshot:
        cmd += ["--snapshot", str(Path(snapshot).resolve())]
    return cmd + ["--numerics", numerics]


def _listed(paths) -> list:
    if not paths:
        return []
    return list(paths) if isinstance(paths, (list, tuple)) else [paths]


def read_launch(run_dir) -> dict:
    """What the wizard started in this run folder (empty when it did not)."""
    try:
        return json.loads((Path(run_dir) / LAUNCH).read_text())
    except (OSError, ValueError):
        return {}


def start_training(run_dir, solver, weights=None, snapshot=None, numerics: str = "caffe",
                   gpu: str | None = None) -> int:
    """Start the trainer detached; return its pid (also written to ``train.pid``).  The caller has checked
    that no other trainer holds the folder (the trainer's own lock stays the last word)."""
    run_dir = Path(run_dir)
    if is_running(run_dir):  # launched a moment ago, not holding the folder yet
        raise TunewizError(f"a training is already running in {run_dir}; attach to it or stop it first.")
    run_dir.mkdir(parents=True, exist_ok=True)
    cmd = train_command(solver, weights, snapshot, run_dir, numerics, gpu)
    # where this launch's output begins: its outcome is told from what comes after (launch_failure)
    marks = {"events_at": _size(run_dir / EVENTS), "console_at": _size(run_dir / CONSOLE)}
    proc = spawn_detached(cmd, run_dir)
    record = {"command": cmd, "solver": str(Path(solver).resolve()), "pid": proc.pid,
              "weights": [str(Path(p).resolve()) for p in _listed(weights)],
              "snapshot": str(Path(snapshot).resolve()) if snapshot else "", **marks}
    (run_dir / LAUNCH).write_text(json.dumps(record, indent=1) + "\n")
    return proc.pid


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def spawn_detached(cmd: list[str], run_dir, console: str = CONSOLE, pid_file: str = PID) -> subprocess.Popen:
    """Run ``cmd`` in ``run_dir`` in a new session, output to ``console``, its pid to ``pid_file``."""
    run_dir = Path(run_dir)
    with open(run_dir / console, "ab") as out:
        proc = subprocess.Popen(
            cmd, cwd=run_dir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True,
        )
    (run_dir / pid_file).write_text(f"{proc.pid}\n")
    _KEEP[proc.pid] = proc  # reaped by poll() while the wizard lives, by init after
    return proc


_KEEP: dict[int, subprocess.Popen] = {}


def spawned_here(pid: int) -> bool:
    """``pid`` is a process this one started (and has not reaped)."""
    return pid in _KEEP


def read_pid(run_dir, pid_file: str = PID) -> int | None:
    """The pid ``pid_file`` in ``run_dir`` names (None: none, or unreadable)."""
    try:
        return int((Path(run_dir) / pid_file).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    proc = _KEEP.get(pid)
    if proc is not None and proc.poll() is not None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        return "\nState:\tZ" not in status
    except OSError:
        return True


def is_running(run_dir) -> bool:
    """A trainer holds this run folder (started by the wizard or from the command line), or the one the
    wizard launched here is still alive (it takes the folder's lock only once it has started up)."""
    if folder_owner(run_dir) is not None:
        return True
    pid = read_pid(run_dir)
    if pid is None or not pid_alive(pid):
        return False
    if spawned_here(pid):  # ours: between fork and exec its cmdline is still this process's
        return True
    try:  # a recycled pid must not be taken for our trainer
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        return any(b"train" in part for part in cmdline)
    except OSError:
        return True


def trainer_pid(run_dir) -> int | None:
    """The pid to signal: the folder's lock holder when it runs on this host (whoever started it), else
    the one in train.pid."""
    owner = folder_owner(run_dir)
    if owner is not None and owner.pid and owner.host in ("", socket.gethostname()):
        return owner.pid
    return read_pid(run_dir)


def launched_pid(run_dir) -> int | None:
    """The pid of the trainer the wizard last launched in this folder (launch.json)."""
    pid = read_launch(run_dir).get("pid")
    return pid if isinstance(pid, int) else None


def launch_failure(run_dir) -> str | None:
    """Why the trainer last launched here ended before training began: the last line it printed to
    console.log (its own refusal or error).  None while it runs, once it wrote its "started" event, or
    for a folder without the wizard's launch marks."""
    run_dir = Path(run_dir)
    record = read_launch(run_dir)
    pid = record.get("pid")
    if not isinstance(pid, int) or "console_at" not in record or pid_alive(pid):
        return None
    for line in _text_from(run_dir / EVENTS, record.get("events_at", 0)).splitlines():
        try:
            if isinstance(ev.parse_line(line).event, ev.Started):
                return None
        except ev.EventError:  # a torn or foreign line: not a start
            continue
    lines = [ln.strip() for ln in _text_from(run_dir / CONSOLE, record["console_at"]).splitlines()]
    lines = [ln for ln in lines if ln]
    errors = [i for i, ln in enumerate(lines) if ln.startswith(ERROR_PREFIX)]
    if errors:  # the command's own message, whole (one may span lines: a prototxt's excerpt, a command)
        lines = [" ".join(lines[errors[-1]:]).removeprefix(ERROR_PREFIX)]
    proc = _KEEP.get(pid)
    code = f" (exit status {proc.returncode})" if proc is not None and proc.returncode is not None else ""
    said = lines[-1] if lines else f"it printed nothing{code}"
    return f"the trainer (pid {pid}) ended before training began: {said}"


def _text_from(path: Path, offset, limit: int = 1 << 20) -> str:
    """The text a file gained after ``offset`` (its last ``limit`` bytes at most)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(int(offset), size - limit, 0) if isinstance(offset, int) else 0)
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _signal(run_dir, sig) -> None:
    pid = trainer_pid(run_dir)
    if pid is None or not is_running(run_dir):
        raise TunewizError(f"no training is running in {run_dir}.")
    os.kill(pid, sig)


def request_stop(run_dir) -> None:
    """Stop the run (SIGINT: the trainer snapshots first, as Caffe does)."""
    _signal(run_dir, signal.SIGINT)


def request_snapshot(run_dir) -> None:
    """Ask the trainer for a snapshot now (SIGHUP, Caffe's default effect)."""
    _signal(run_dir, signal.SIGHUP)


def gpu_memory(pid: int | None) -> str | None:
    """GPU memory the trainer process uses, from nvidia-smi (None without a GPU or the tool)."""
    import shutil

    if not pid or shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=2).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0] == str(pid):
            return parts[1]
    return None
