"""The run folders under a runs root, as the wizard's Welcome screen offers them (re-attach or open)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunewiz.runs.conversion import is_converting, pending
from tunewiz.runs.follow import load_history
from tunewiz.runs.launch import is_running
from tunewiz.runs.layout import CONVERT_PID, DATA, EVENTS, LOCK, PID


@dataclass
class RunInfo:
    """A run folder as the Welcome screen lists it."""

    path: Path
    running: bool
    iteration: int
    max_iter: int | None
    state: str
    converting: bool = False  # its data conversion runs, or ended unseen (the Data step follows it)

    def label(self) -> str:
        if self.converting:
            return f"{self.path.name}  [{'CONVERTING' if self.running else 'CONVERSION ENDED'}]  its images"
        where = f"iter {self.iteration}" + (f"/{self.max_iter}" if self.max_iter else "")
        status = "RUNNING" if self.running else self.state
        return f"{self.path.name}  [{status}]  {where}"


def find_runs(root) -> list[RunInfo]:
    """Run folders under ``root`` (one level deep) that trained or convert, running ones first, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for sub in root.iterdir():
        marks = (sub / EVENTS, sub / PID, sub / LOCK, sub / DATA / CONVERT_PID)
        if sub.is_dir() and any(mark.exists() for mark in marks):
            history = load_history(sub)
            state = history.state if history.state != "running" else "ended"
            converting = is_converting(sub)
            found.append(RunInfo(sub, is_running(sub) or converting, history.iteration, history.max_iter,
                                 "converting" if converting else state, pending(sub)))
    found.sort(key=lambda r: (not r.running, -_mtime(r.path)))
    return found


def _mtime(path: Path) -> float:
    try:
        return (path / EVENTS).stat().st_mtime
    except OSError:
        return path.stat().st_mtime
