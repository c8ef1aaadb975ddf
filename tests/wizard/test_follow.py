"""Following events.jsonl: incremental reads, half-written lines, the history the panel draws."""
from __future__ import annotations

import json

from tunewiz.runs import events as ev
from tunewiz.wizard.follow import EventFollower, RunHistory, load_history, tail_lines


def _write(path, *events, partial: str = ""):
    with open(path, "a", encoding="utf-8") as f:
        for e in events:
            f.write(ev.to_json(e) + "\n")
        f.write(partial)


def test_follower_reads_only_new_lines_and_waits_for_a_whole_line(tmp_path):
    path = tmp_path / "events.jsonl"
    follower = EventFollower(tmp_path)
    assert follower.poll() == []  # no file yet
    _write(path, ev.Started(0, 40, "cpu", "s.prototxt", "n.prototxt"))
    first = follower.poll()
    assert [e["event"] for e in first] == ["started"]
    line = ev.to_json(ev.IterationDone(1, 2.5, 2.5, 0.01, 100.0))
    _write(path, partial=line[:10])
    assert follower.poll() == []  # half a line: not yet
    _write(path, partial=line[10:] + "\n")
    (second,) = follower.poll()
    assert second["iter"] == 1 and second["loss"] == 2.5
    assert follower.poll() == []


def test_history_folds_the_trainer_events(tmp_path):
    _write(tmp_path / "events.jsonl",
           ev.Started(0, 10, "cpu", "s", "n"),
           ev.IterationDone(1, 2.0, 2.0, 0.01, 50.0),
           ev.IterationDone(2, 1.0, 1.5, 0.01, 60.0),
           ev.TestDone(2, 0, {"accuracy": 0.5, "loss": 1.2}),
           ev.IterationDone(3, 0.5, 1.1666, 0.001, 70.0),
           ev.TestDone(3, 0, {"accuracy": 0.75, "loss": 0.9}),
           ev.SnapshotSaved(3, ["r_iter_3.caffemodel", "r_iter_3.solverstate"]),
           ev.Stopped(3, "SIGINT"),
           ev.Finished(3))
    h = load_history(tmp_path)
    assert h.iters == [1, 2, 3] and h.loss == [2.0, 1.0, 0.5] and h.smoothed[-1] == 1.1666
    assert h.max_iter == 10 and h.device == "cpu" and h.lr == 0.001 and h.images_per_s == 70.0
    assert h.accuracy == [0.5, 0.75] and h.best_accuracy() == 0.75 and h.test_iters == [2, 3]
    assert h.snapshots == ["r_iter_3.caffemodel", "r_iter_3.solverstate"]
    assert h.state == "stopped" and h.reason == "SIGINT" and h.done


def test_eta_from_the_pace_since_the_first_iteration():
    h = RunHistory()
    h.apply({"event": "started", "iter": 0, "max_iter": 100, "time": 1000.0})
    h.apply({"event": "iteration", "iter": 0, "loss": 1.0, "time": 1030.0})  # 30 s of setup: not the pace
    assert h.eta_seconds() is None
    h.apply({"event": "iteration", "iter": 10, "loss": 1.0, "time": 1050.0})
    assert abs(h.eta_seconds() - 180.0) < 1e-9  # 2 s per iteration, 90 left


def test_damaged_line_is_skipped(tmp_path):
    (tmp_path / "events.jsonl").write_text('{"event": "started", "max_iter": 5}\nnot json\n'
                                           + json.dumps({"event": "finished", "iter": 5}) + "\n")
    h = load_history(tmp_path)
    assert h.max_iter == 5 and h.state == "finished"


def test_tail_lines(tmp_path):
    log = tmp_path / "train.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail_lines(log, 3) == ["line 97", "line 98", "line 99"]
    assert tail_lines(tmp_path / "missing.log") == []
