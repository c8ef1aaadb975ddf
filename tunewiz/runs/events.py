"""Typed events of a training run (what the wizard's progress panel and ``events.jsonl`` carry).

The trainer yields these; :func:`to_json` turns one into the JSON line appended to
``<run dir>/events.jsonl`` (key ``"event"`` = the kind, ``"time"`` = Unix seconds).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field


@dataclass
class Started:
    """Training begins (``iter`` > 0 when resuming)."""

    iter: int
    max_iter: int
    device: str
    solver: str
    net: str
    kind = "started"


@dataclass
class IterationDone:
    """One update made: the loss of iteration ``iter`` (mean of its iter_size sub-batches), the smoothed
    loss Caffe logs, the learning rate used and the speed."""

    iter: int
    loss: float
    smoothed_loss: float
    lr: float
    images_per_s: float
    outputs: dict = field(default_factory=dict)
    kind = "iteration"


@dataclass
class TestDone:
    """A test phase finished: mean of each TEST-net output over test_iter batches."""

    iter: int
    net: int
    outputs: dict
    loss: float | None = None
    kind = "test"


@dataclass
class SnapshotSaved:
    """A ``.caffemodel`` + ``.solverstate`` pair was written (``paths``)."""

    iter: int
    paths: list
    kind = "snapshot"


@dataclass
class Stopped:
    """The run ended before max_iter (``reason``: signal, request, NaN loss, a fault; ``fault``:
    an error ended it, and that error is raised next)."""

    iter: int
    reason: str
    fault: bool = False
    kind = "stopped"


@dataclass
class Finished:
    """The run is over (after Stopped too); ``iter`` = updates made."""

    iter: int
    kind = "finished"


Event = Started | IterationDone | TestDone | SnapshotSaved | Stopped | Finished


def to_dict(event) -> dict:
    """The event as a plain dict: ``{"event": kind, "time": ..., **fields}``."""
    return {"event": event.kind, "time": time.time(), **asdict(event)}


def to_json(event) -> str:
    """One JSON line (no newline) for ``events.jsonl``; NaN/inf become null."""
    return json.dumps(_clean(to_dict(event)), allow_nan=False)


def _clean(value):
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class EventWriter:
    """Appends events as JSON lines to ``<run dir>/events.jsonl`` (flushed per line)."""

    def __init__(self, path) -> None:
        self.path = path
        self._file = open(path, "a", encoding="utf-8")

    def write(self, event) -> None:
        self._file.write(to_json(event) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
