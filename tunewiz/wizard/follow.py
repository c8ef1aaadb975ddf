"""Follow a run's ``events.jsonl`` (written by ``tunewiz train``) from another process.

The trainer appends one JSON object per line: ``started``, ``iteration`` (iter, loss,
smoothed_loss, lr, images/s), ``test`` (outputs), ``snapshot`` (paths), ``stopped``
(reason), ``finished``.  :class:`EventFollower` reads only the bytes added since the last
call and keeps a half-written last line until its newline arrives, so it is safe to
poll while the trainer writes.  :class:`RunHistory` folds events into what the progress
panel shows.  No textual here: the follower is plain Python and unit-tested alone.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

EVENTS_FILE = "events.jsonl"
LOG_FILE = "train.log"
KIND_KEYS = ("event", "type", "kind")


def event_kind(event: dict) -> str:
    """The event's kind, whatever key the trainer used for it."""
    for key in KIND_KEYS:
        if isinstance(event.get(key), str):
            return event[key]
    return "unknown"


class EventFollower:
    """Incremental reader of ``<run dir>/events.jsonl``."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / EVENTS_FILE
        self._offset = 0
        self._partial = b""

    def poll(self) -> list[dict]:
        """Events appended since the last poll (all of them on the first call)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        events = []
        for line in lines:
            line = line.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a damaged line must not stop the panel
            if isinstance(event, dict):
                events.append(event)
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


def _num(value, default=None):
    return value if isinstance(value, (int, float)) else default


@dataclass
class RunHistory:
    """Everything the progress panel draws, built from events."""

    max_iter: int | None = None
    device: str = ""
    iters: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    lr: float | None = None
    images_per_s: float | None = None
    test_iters: list[int] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    last_test: dict = field(default_factory=dict)
    snapshots: list[str] = field(default_factory=list)  # every file written by a snapshot
    snapshot_count: int = 0
    state: str = "waiting"  # waiting, running, stopped, finished
    reason: str = ""
    started_at: float | None = None
    last_at: float | None = None
    start_iter: int = 0
    final_iter: int = 0  # updates made, from the stopped/finished events
    first_at: float | None = None  # time and number of the first iteration since the last start
    first_iter: int = 0

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

    def apply(self, event: dict) -> None:
        """Fold one event into the history."""
        kind = event_kind(event)
        t = _num(event.get("time"))
        if kind == "started":
            self.state = "running"
            self.max_iter = _num(event.get("max_iter"), self.max_iter)
            self.device = str(event.get("device", self.device) or "")
            self.start_iter = int(_num(event.get("iter"), 0))
            self.started_at, self.first_at = t, None
        elif kind == "iteration":
            self._apply_iteration(event, t)
        elif kind == "test":
            self._apply_test(event)
        elif kind == "snapshot":
            self.snapshot_count += 1
            paths = event.get("paths") or []
            self.snapshots.extend(str(p) for p in (paths if isinstance(paths, list) else [paths]))
        elif kind == "stopped":
            self.state, self.reason = "stopped", str(event.get("reason", ""))
            self.final_iter = int(_num(event.get("iter"), self.final_iter))
        elif kind == "finished":
            if self.state != "stopped":
                self.state = "finished"
            self.final_iter = int(_num(event.get("iter"), self.final_iter))

    def _apply_iteration(self, event: dict, t) -> None:
        if self.state == "waiting":
            self.state = "running"
        it = int(_num(event.get("iter"), len(self.iters)))
        loss = _num(event.get("loss"))
        self.iters.append(it)
        self.loss.append(float(loss) if loss is not None else float("nan"))
        sm = _num(event.get("smoothed_loss"), loss)
        self.smoothed.append(float(sm) if sm is not None else float("nan"))
        self.lr = _num(event.get("lr"), self.lr)
        ips = event.get("images_per_s", event.get("images/s"))
        self.images_per_s = _num(ips, self.images_per_s)
        if t is not None:
            if self.started_at is None:
                self.started_at = t
            if self.first_at is None:
                self.first_at, self.first_iter = t, it
            self.last_at = t

    def _apply_test(self, event: dict) -> None:
        outputs = event.get("outputs") or {}
        if isinstance(outputs, list):  # [{"name":..., "value":...}] or [[name, value]]
            outputs = {
                (o.get("name") if isinstance(o, dict) else o[0]): (o.get("value") if isinstance(o, dict) else o[1])
                for o in outputs
            }
        self.last_test = dict(outputs)
        it = int(_num(event.get("iter"), self.iteration))
        for name, value in outputs.items():
            if "acc" in str(name).lower() and _num(value) is not None:
                self.test_iters.append(it)
                self.accuracy.append(float(value))
                break


def load_history(run_dir: str | os.PathLike) -> RunHistory:
    """The whole history of a run folder (for attach and the Done screen)."""
    history = RunHistory()
    for event in EventFollower(run_dir).poll():
        history.apply(event)
    return history
