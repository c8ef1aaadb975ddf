"""Following events.jsonl: incremental reads, half-written lines, refused lines, the history the panel draws."""
from __future__ import annotations

import json

from tunewiz.runs import events as ev
from tunewiz.runs.follow import EventFollower, RunHistory, load_history, tail_lines


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
    assert [type(s.event) for s in first] == [ev.Started]
    line = ev.to_json(ev.IterationDone(1, 2.5, 2.5, 0.01, 100.0))
    _write(path, partial=line[:10])
    assert follower.poll() == []  # half a line: not yet
    _write(path, partial=line[10:] + "\n")
    (second,) = follower.poll()
    assert second.event == ev.IterationDone(1, 2.5, 2.5, 0.01, 100.0)
    assert follower.poll() == [] and follower.refused == []


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
    assert h.iters == (1, 2, 3) and h.loss == (2.0, 1.0, 0.5) and h.smoothed[-1] == 1.1666
    assert h.max_iter == 10 and h.device == "cpu" and h.lr == 0.001 and h.images_per_s == 70.0
    assert h.accuracy == (0.5, 0.75) and h.best_accuracy() == 0.75 and h.test_iters == (2, 3)
    assert h.snapshots == ("r_iter_3.caffemodel", "r_iter_3.solverstate")
    assert h.state == "stopped" and h.reason == "SIGINT" and h.done


def test_a_snapshot_does_not_change_with_the_history():
    history = RunHistory()
    history.apply(ev.Stamped(1.0, ev.IterationDone(1, 2.0, 2.0, 0.01, 50.0)))
    before = history.snapshot()
    history.apply(ev.Stamped(2.0, ev.IterationDone(2, 1.0, 1.5, 0.01, 60.0)))
    assert before.iters == (1,) and history.snapshot().iters == (1, 2)


def test_eta_from_the_pace_since_the_first_iteration():
    h = RunHistory()
    h.apply(ev.Stamped(1000.0, ev.Started(0, 100, "cpu", "s", "n")))
    h.apply(ev.Stamped(1030.0, ev.IterationDone(0, 1.0, 1.0, 0.1, 1.0)))  # 30 s of setup: not the pace
    assert h.snapshot().eta_seconds() is None
    h.apply(ev.Stamped(1050.0, ev.IterationDone(10, 1.0, 1.0, 0.1, 1.0)))
    assert abs(h.snapshot().eta_seconds() - 180.0) < 1e-9  # 2 s per iteration, 90 left


def test_damaged_and_foreign_lines_are_skipped_and_said(tmp_path):
    good = [ev.to_json(ev.Started(0, 5, "cpu", "s", "n")), ev.to_json(ev.Finished(5))]
    other = json.dumps({"v": 99, "event": "finished", "time": 1.0, "iter": 5})
    (tmp_path / "events.jsonl").write_text("\n".join([good[0], "not json", other, good[1]]) + "\n")
    follower = EventFollower(tmp_path)
    assert [type(s.event) for s in follower.poll()] == [ev.Started, ev.Finished]
    assert len(follower.refused) == 2 and "schema version 99" in follower.refused[1]
    h = load_history(tmp_path)
    assert h.max_iter == 5 and h.state == "finished"


def test_tail_lines(tmp_path):
    log = tmp_path / "train.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail_lines(log, 3) == ["line 97", "line 98", "line 99"]
    assert tail_lines(tmp_path / "missing.log") == []
