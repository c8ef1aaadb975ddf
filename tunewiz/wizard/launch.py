"""Start ``tunewiz train`` detached from the wizard's terminal, and reach it with signals.

The trainer runs as its own process in a new session (``setsid``): it has no
controlling terminal, so closing the wizard, Ctrl-C in the wizard or a dropped SSH
connection (SIGHUP to the terminal's session) never reaches it.  Its stdout/stderr go to
``<run dir>/console.log``; its pid to ``<run dir>/train.pid``.  Stop and snapshot-now use
Caffe's signals: SIGINT stops (after a snapshot), SIGHUP snapshots now.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tunewiz.errors import TunewizError
from tunewiz.wizard.follow import EVENTS_FILE, load_history

PID_FILE = "train.pid"
LAUNCH_FILE = "launch.json"
CONSOLE_FILE = "console.log"


def train_command(solver: str | os.PathLike, weights=None, snapshot=None, run_dir=None,
                  numerics: str = "caffe") -> list[str]:
    """The ``tunewiz train`` command line for a solver and weights or snapshot (``numerics``: the run's
    ``FinetuneOptions.numerics``, on the CPU Caffe's summation order or torch's kernels)."""
    cmd = [sys.executable, "-m", "tunewiz", "train", "--solver", str(Path(solver).resolve())]
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
        return json.loads((Path(run_dir) / LAUNCH_FILE).read_text())
    except (OSError, ValueError):
        return {}


def run_numerics(run_dir) -> str:
    """The numerics a run folder was made with (its finetune.json's options), for a resume; Caffe's order
    for a folder that holds none."""
    from tunewiz.recipe.run import read_options

    try:
        return read_options(run_dir).numerics
    except TunewizError:  # no finetune.json, or one from before it held the options
        return "caffe"


def start_training(run_dir, solver, weights=None, snapshot=None, numerics: str = "caffe") -> int:
    """Start the trainer detached; return its pid (also written to ``train.pid``)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if is_running(run_dir):
        raise TunewizError(f"a training is already running in {run_dir}; attach to it or stop it first.")
    cmd = train_command(solver, weights, snapshot, run_dir, numerics)
    proc = spawn_detached(cmd, run_dir)
    record = {"command": cmd, "solver": str(Path(solver).resolve()), "pid": proc.pid,
              "weights": [str(Path(p).resolve()) for p in _listed(weights)],
              "snapshot": str(Path(snapshot).resolve()) if snapshot else ""}
    (run_dir / LAUNCH_FILE).write_text(json.dumps(record, indent=1) + "\n")
    return proc.pid


def spawn_detached(cmd: list[str], run_dir) -> subprocess.Popen:
    """Run ``cmd`` in ``run_dir`` in a new session, output to console.log, pid to train.pid."""
    run_dir = Path(run_dir)
    with open(run_dir / CONSOLE_FILE, "ab") as out:
        proc = subprocess.Popen(
            cmd, cwd=run_dir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True,
        )
    (run_dir / PID_FILE).write_text(f"{proc.pid}\n")
    _KEEP[proc.pid] = proc  # reaped by poll() while the wizard lives, by init after
    return proc


_KEEP: dict[int, subprocess.Popen] = {}


def read_pid(run_dir) -> int | None:
    try:
        return int((Path(run_dir) / PID_FILE).read_text().split()[0])
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
    """A trainer started for this run folder is still alive."""
    pid = read_pid(run_dir)
    if pid is None or not pid_alive(pid):
        return False
    try:  # a recycled pid must not be taken for our trainer
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        return any(b"train" in part for part in cmdline)
    except OSError:
        return True


def _signal(run_dir, sig) -> None:
    pid = read_pid(run_dir)
    if pid is None or not is_running(run_dir):
        raise TunewizError(f"no training is running in {run_dir}.")
    os.kill(pid, sig)


def request_stop(run_dir) -> None:
    """Stop the run (SIGINT: the trainer snapshots first, as Caffe does)."""
    _signal(run_dir, signal.SIGINT)


def request_snapshot(run_dir) -> None:
    """Ask the trainer for a snapshot now (SIGHUP, Caffe's default effect)."""
    _signal(run_dir, signal.SIGHUP)


@dataclass
class RunInfo:
    path: Path
    running: bool
    iteration: int
    max_iter: int | None
    state: str

    def label(self) -> str:
        where = f"iter {self.iteration}" + (f"/{self.max_iter}" if self.max_iter else "")
        status = "RUNNING" if self.running else self.state
        return f"{self.path.name}  [{status}]  {where}"


def find_runs(root) -> list[RunInfo]:
    """Run folders under ``root`` (one level deep) holding an events.jsonl, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for sub in root.iterdir():
        if sub.is_dir() and ((sub / EVENTS_FILE).exists() or (sub / PID_FILE).exists()):
            history = load_history(sub)
            state = history.state if history.state != "running" else "ended"
            found.append(RunInfo(sub, is_running(sub), history.iteration, history.max_iter, state))
    found.sort(key=lambda r: (not r.running, -_mtime(r.path)))
    return found


def _mtime(path: Path) -> float:
    try:
        return (path / EVENTS_FILE).stat().st_mtime
    except OSError:
        return path.stat().st_mtime


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
