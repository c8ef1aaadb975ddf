"""The run folder's typed, versioned events: what the trainer and the conversion write, and read back.

One JSON object per line: ``{"v": VERSION, "event": kind, "time": Unix seconds, **fields}``, where the
fields are exactly the dataclass's own.  :func:`to_json` writes a line; :func:`parse_line` reads one back
into the same dataclass (as a :class:`Stamped` with its time) and refuses, with one line saying why, a
version or kind this tunewiz does not know and a key the writer never writes.  The trainer's events
go to ``events.jsonl``; the data conversion's (:class:`Progress`, :class:`Converted`,
:class:`ConvertFailed`) to ``data/convert.jsonl`` (names in :mod:`tunewiz.runs.layout`).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields

from tunewiz.errors import TunewizError

VERSION = 1


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


@dataclass(frozen=True)
class Progress:
    """Images converted so far: ``done`` of ``total`` (``skipped`` unreadable), ``rate`` images/s; ``db``
    the database being written.  The data core yields it per database; the wizard's conversion counts
    over both databases."""

    db: str
    done: int
    total: int
    skipped: int
    rate: float
    kind = "progress"


@dataclass(frozen=True)
class Converted:
    """The conversion and the mean are done (``mean_file`` empty when no mean could be computed)."""

    summary: str
    train_db: str
    val_db: str
    mean_file: str
    skipped: int
    val_count: int
    kind = "converted"


@dataclass(frozen=True)
class ConvertFailed:
    """The conversion ended without databases (``cancelled``: it was asked to stop); ``details``: the
    images it skipped before, often the why."""

    error: str
    details: list = field(default_factory=list)
    cancelled: bool = False
    kind = "convert_failed"


Event = Started | IterationDone | TestDone | SnapshotSaved | Stopped | Finished
ConvertEvent = Progress | Converted | ConvertFailed
KINDS = {cls.kind: cls for cls in (Started, IterationDone, TestDone, SnapshotSaved, Stopped, Finished,
                                   Progress, Converted, ConvertFailed)}
HEAD = ("v", "event", "time")


class EventError(TunewizError):
    """A line this tunewiz cannot read as an event (its message says which and why)."""


@dataclass(frozen=True)
class Stamped:
    """An event read back, with the time it was written."""

    time: float
    event: object


def to_dict(event) -> dict:
    """The event as a plain dict: ``{"v": VERSION, "event": kind, "time": ..., **fields}``."""
    return {"v": VERSION, "event": event.kind, "time": time.time(), **asdict(event)}


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


def parse_line(line: str | bytes) -> Stamped:
    """One line back into its dataclass; :class:`EventError` for anything the writer would not write."""
    try:
        data = json.loads(line)
    except ValueError:
        raise EventError(f"not a JSON line: {_excerpt(line)}") from None
    if not isinstance(data, dict):
        raise EventError(f"not an event (a JSON object): {_excerpt(line)}")
    return from_dict(data)


def from_dict(data: dict) -> Stamped:
    """A written event's dict back into its dataclass (see :func:`parse_line`)."""
    if data.get("v") != VERSION:
        raise EventError(f"event schema version {data.get('v')!r}, this tunewiz reads version {VERSION} "
                         "(written by another tunewiz: open it with that one)")
    cls = KINDS.get(data.get("event"))
    if cls is None:
        raise EventError(f"unknown event kind {data.get('event')!r} (known: {', '.join(KINDS)})")
    names = {f.name for f in fields(cls)}
    given = set(data) - set(HEAD)
    if given != names:
        extra, missing = sorted(given - names), sorted(names - given)
        said = "; ".join(part for part in (f"unknown key(s) {', '.join(extra)}" if extra else "",
                                           f"missing {', '.join(missing)}" if missing else "") if part)
        raise EventError(f"a '{cls.kind}' event with {said}")
    stamp = data.get("time")
    if not isinstance(stamp, (int, float)):
        raise EventError(f"a '{cls.kind}' event without its time")
    return Stamped(float(stamp), cls(**{name: data[name] for name in names}))


def _excerpt(line) -> str:
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
    return text if len(text) <= 60 else text[:57] + "..."


class EventWriter:
    """Appends events as JSON lines to ``path`` (flushed per line)."""

    def __init__(self, path) -> None:
        self.path = path
        self._file = open(path, "a", encoding="utf-8")

    def write(self, event) -> None:
        self._file.write(to_json(event) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
