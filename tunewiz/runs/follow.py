"""Follow a run's ``events.jsonl`` (written by ``tunewiz train``) from another process.

:class:`EventFollower` reads only the bytes added since the last call and keeps a half-written last line
until its newline arrives, so it is safe to poll while the trainer writes; it returns the typed events of
:mod:`tunewiz.runs.events` and keeps what it refused (another schema version, an unknown kind) in
``refused``.  :class:`RunHistory` folds events (the follower's own, mutable) and hands out
:class:`RunSnapshot`, the immutable view the progress panel draws.  No textual here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tunewiz.runs import events as ev
from tunewiz.runs.layout import EVENTS


class EventFollower:
    """Incremental reader of a typed events file (``<run dir>/events.jsonl`` unless ``name`` says else)."""

    def __init__(self, run_dir: str | os.PathLike, name: str = EVENTS):
        self.path = Path(run_dir) / name
        self._offset = 0
        self._partial = b""
        self.refused: list[str] = []  # one line per event this tunewiz could not read

    def poll(self) -> list[ev.Stamped]:
        """Events appended since the last poll (all of them on the first call)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        events = []
        for line in lines:
            if not line.strip():
                continue
            try:
                events.append(ev.parse_line(line))
            except ev.EventError as exc:  # a torn or foreign line must not stop the panel: said, skipped
                self.refused.append(f"{self.path.name}: {exc}")
        return events


def tail_lines(path: str | os.PathLike, count: int = 8, max_bytes: int = 16384) -> list[str]:
    """The last ``count`` lines of a text file (empty list if it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except FileNotFoundError:
        return []
    lines = data.decode("utf-8", "replace").splitlines()
    return lines[-count:]


@dataclass(frozen=True)
class RunSnapshot:
    """What the progress panel draws, at one moment (immutable: posted from the follower's thread)."""

    max_iter: int | None = None
    device: str = ""
    iters: tuple = ()
    loss: tuple = ()
    smoothed: tuple = ()
    lr: float | None = None
    images_per_s: float | None = None
    test_iters: tuple = ()
    accuracy: tuple = ()
    last_test: tuple = ()  # (name, value) pairs of the last test
    snapshots: tuple = ()  # every file written by a snapshot
    snapshot_count: int = 0
    state: str = "waiting"  # waiting, running, stopped, finished
    reason: str = ""
    start_iter: int = 0
    final_iter: int = 0  # updates made, from the stopped/finished events
    first_at: float | None = None  # time and number of the first iteration since the last start
    first_iter: int = 0
    last_at: float | None = None

    @property
    def iteration(self) -> int:
        return max(self.iters[-1] if self.iters else self.start_iter, self.final_iter)

    @property
    def done(self) -> bool:
        return self.state in ("stopped", "finished")

    def eta_seconds(self) -> float | None:
        """Seconds left at the pace since the first iteration of this start (setup time excluded)."""
        if not (self.max_iter and self.first_at is not None and self.last_at and self.iters):
            return None
        run = self.iters[-1] - self.first_iter
        spent = self.last_at - self.first_at
        if run <= 0 or spent <= 0:
            return None
        return max(0.0, (self.max_iter - self.iteration) * spent / run)

    def best_accuracy(self) -> float | None:
        return max(self.accuracy) if self.accuracy else None


def _float(value) -> float:
    return float(value) if isinstance(value, (int, float)) else float("nan")  # null: NaN written


@dataclass
class RunHistory:
    """The follower's fold of the events; :meth:`snapshot` is what leaves its thread."""

    head: dict = field(default_factory=dict)  # the scalar fields of RunSnapshot
    series: dict = field(default_factory=lambda: {k: [] for k in ("iters", "loss", "smoothed", "test_iters",
                                                                    "accuracy", "snapshots")})

    def snapshot(self) -> RunSnapshot:
        return RunSnapshot(**self.head, **{k: tuple(v) for k, v in self.series.items()})

    def apply(self, stamped: ev.Stamped) -> None:
        """Fold one event into the history."""
        event, h, s = stamped.event, self.head, self.series
        if isinstance(event, ev.Started):
            h.update(state="running", max_iter=event.max_iter, device=str(event.device), start_iter=event.iter,
                     first_at=None)
        elif isinstance(event, ev.IterationDone):
            self._iteration(event, stamped.time)
        elif isinstance(event, ev.TestDone):
            self._test(event)
        elif isinstance(event, ev.SnapshotSaved):
            h["snapshot_count"] = h.get("snapshot_count", 0) + 1
            s["snapshots"].extend(str(p) for p in event.paths)
        elif isinstance(event, ev.Stopped):
            h.update(state="stopped", reason=str(event.reason), final_iter=event.iter)
        elif isinstance(event, ev.Finished):
            if h.get("state") != "stopped":
                h["state"] = "finished"
            h["final_iter"] = event.iter

    def _iteration(self, event: ev.IterationDone, t: float) -> None:
        h, s = self.head, self.series
        if h.get("state", "waiting") == "waiting":
            h["state"] = "running"
        s["iters"].append(event.iter)
        s["loss"].append(_float(event.loss))
        s["smoothed"].append(_float(event.smoothed_loss))
        h["lr"] = event.lr if event.lr is not None else h.get("lr")
        h["images_per_s"] = event.images_per_s if event.images_per_s is not None else h.get("images_per_s")
        if h.get("first_at") is None:
            h["first_at"], h["first_iter"] = t, event.iter
        h["last_at"] = t

    def _test(self, event: ev.TestDone) -> None:
        self.head["last_test"] = tuple(event.outputs.items())
        for name, value in event.outputs.items():
            if "acc" in str(name).lower() and isinstance(value, (int, float)):
                self.series["test_iters"].append(event.iter)
                self.series["accuracy"].append(float(value))
                break


def load_history(run_dir: str | os.PathLike) -> RunSnapshot:
    """The whole history of a run folder (for attach and the Done screen)."""
    history = RunHistory()
    for stamped in EventFollower(run_dir).poll():
        history.apply(stamped)
    return history.snapshot()
