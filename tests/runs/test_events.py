"""The event schema: every event written reads back into the same dataclass; anything else is refused in
one line (another version, an unknown kind, a key the writer never writes)."""
from __future__ import annotations

import json
import math

import pytest

from tunewiz.runs import events as ev

WRITTEN = [
    ev.Started(0, 40, "cpu", "s.prototxt", "n.prototxt"),
    ev.IterationDone(1, 2.5, 2.4, 0.01, 100.0, {"loss": 2.5}),
    ev.TestDone(2, 0, {"accuracy": 0.5}, 1.2),
    ev.SnapshotSaved(2, ["a.caffemodel", "a.solverstate"]),
    ev.Stopped(2, "SIGINT", fault=False),
    ev.Finished(2),
    ev.Progress("train_lmdb", 3, 10, 1, 50.0),
    ev.Converted("3 records", "t", "v", "m", 1, 2),
    ev.ConvertFailed("no images", ["a.jpg: cannot decode"], cancelled=False),
]


@pytest.mark.parametrize("event", WRITTEN, ids=lambda e: e.kind)
def test_each_event_reads_back_as_written(event):
    line = ev.to_json(event)
    data = json.loads(line)
    assert data["v"] == ev.VERSION and data["event"] == event.kind
    stamped = ev.parse_line(line)
    assert stamped.event == event and isinstance(stamped.time, float)


def test_nan_is_written_as_null_and_read_back_as_none():
    stamped = ev.parse_line(ev.to_json(ev.IterationDone(1, math.nan, math.inf, 0.01, 1.0)))
    assert stamped.event.loss is None and stamped.event.smoothed_loss is None


@pytest.mark.parametrize("change, said", [
    ({"v": 2}, "schema version 2, this tunewiz reads version 1"),
    ({"v": None}, "schema version None"),
    ({"event": "epoch"}, "unknown event kind 'epoch'"),
    ({"type": "finished"}, "a 'finished' event with unknown key(s) type"),
    ({"images/s": 3.0}, "unknown key(s) images/s"),
])
def test_foreign_lines_are_refused_in_one_line(change, said):
    data = json.loads(ev.to_json(ev.Finished(3)))
    data.update(change)
    with pytest.raises(ev.EventError) as info:
        ev.parse_line(json.dumps(data))
    assert said in str(info.value) and "\n" not in str(info.value)


def test_a_missing_field_or_time_is_refused():
    with pytest.raises(ev.EventError, match="missing iter"):
        ev.parse_line(json.dumps({"v": 1, "event": "finished", "time": 1.0}))
    with pytest.raises(ev.EventError, match="without its time"):
        ev.parse_line(json.dumps({"v": 1, "event": "finished", "iter": 1}))
    with pytest.raises(ev.EventError, match="not a JSON line"):
        ev.parse_line("{torn")


def test_one_progress_type():
    """The data core, the conversion process and the wizard share the schema's Progress (no copies)."""
    import re
    from pathlib import Path

    from tunewiz.data import imageset

    package = Path(ev.__file__).resolve().parents[1]
    defined = [str(p.relative_to(package)) for p in package.rglob("*.py")
               if re.search(r"^class \w*Progress\b", p.read_text(), re.M)]
    assert defined == ["runs/events.py"] and imageset.Progress is ev.Progress
