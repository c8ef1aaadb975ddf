"""The detached trainer: its own session, found again from the run folder, reached by signals."""
from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from tunewiz.errors import TunewizError
from tunewiz.runs import events as ev, launch, listing

# A process that behaves like the trainer towards signals (SIGINT: stop, SIGHUP: snapshot);
# its command line says "train" as the real one does.
TRAINER_LIKE = r"""
import signal, sys, time, pathlib  # train
run = pathlib.Path.cwd()
signal.signal(signal.SIGHUP, lambda *a: (run / "snapshot-asked").write_text("yes"))
def stop(*a):
    (run / "stop-asked").write_text("yes"); sys.exit(0)
signal.signal(signal.SIGINT, stop)
(run / "ready").write_text("yes")
while True:
    time.sleep(0.05)
"""


def _wait(path, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def running(tmp_path):
    proc = launch.spawn_detached([sys.executable, "-c", TRAINER_LIKE], tmp_path)
    assert _wait(tmp_path / "ready")
    yield tmp_path, proc
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def test_trainer_runs_in_its_own_session(running):
    run_dir, proc = running
    assert os.getsid(proc.pid) == proc.pid != os.getsid(0)  # no SIGHUP from our terminal reaches it
    assert launch.read_pid(run_dir) == proc.pid
    assert launch.is_running(run_dir)


def test_snapshot_and_stop_are_caffe_signals(running):
    run_dir, proc = running
    launch.request_snapshot(run_dir)
    assert _wait(run_dir / "snapshot-asked")
    assert proc.poll() is None  # a snapshot does not stop it
    launch.request_stop(run_dir)
    assert _wait(run_dir / "stop-asked")
    proc.wait(timeout=10)
    assert not launch.is_running(run_dir)
    with pytest.raises(TunewizError, match="no training is running"):
        launch.request_stop(run_dir)


def test_find_runs_lists_running_first(tmp_path, running):
    run_dir, _ = running
    (run_dir / "events.jsonl").write_text(ev.to_json(ev.Started(0, 50, "cpu", "s", "n")) + "\n")
    old = tmp_path.parent / f"{tmp_path.name}-old"
    old.mkdir()
    (old / "events.jsonl").write_text(ev.to_json(ev.Started(0, 5, "cpu", "s", "n")) + "\n" + ev.to_json(ev.Finished(5)) + "\n")
    runs = listing.find_runs(tmp_path.parent)
    mine = [r for r in runs if r.path in (run_dir, old)]
    assert [r.path for r in mine] == [run_dir, old]
    assert mine[0].running and "RUNNING" in mine[0].label()
    assert not mine[1].running and "finished" in mine[1].label()


def test_train_command_uses_absolute_paths(tmp_path):
    cmd = launch.train_command("s.prototxt", weights=["a.caffemodel", "b.caffemodel"])
    assert cmd[1:4] == ["-m", "tunewiz", "train"]
    assert os.path.isabs(cmd[cmd.index("--solver") + 1])
    assert all(os.path.isabs(p) for p in cmd[cmd.index("--weights") + 1].split(","))
