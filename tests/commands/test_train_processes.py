"""``tunewiz train`` as real processes: one trainer per run folder, SIGTERM keeps the work, kill -9 leftovers.

Each refusal is one line with exit 2, no traceback, and every file that was there before keeps its sha256.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine" / "train"))
from training_util import workdir  # noqa: E402

from tunewiz.cli import main  # noqa: E402

ENV = dict(os.environ, OMP_NUM_THREADS="1")


def _solver(root: Path, **fields) -> str:
    from tunewiz.caffe.netio import read_solver
    from tunewiz.caffe.prototxt import to_text

    sp = read_solver(root / "sgd_inv" / "solver.prototxt")
    for key, value in dict(test_interval=1000, test_initialization=False, **fields).items():
        setattr(sp, key, value)
    (root / "sgd_inv" / "s.prototxt").write_text(to_text(sp))
    return "sgd_inv/s.prototxt"


def _sums(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file under root (symlinked folders not entered), but those under ``skip``."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            if not rel.startswith(skip):
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _wait_for(path: Path, text: str, count: int = 1, proc=None) -> None:
    deadline = time.time() + 90
    while time.time() < deadline:
        if path.exists() and path.read_text().count(text) >= count:
            return
        assert proc is None or proc.poll() is None, f"the trainer ended ({proc.returncode}) before {text}"
        time.sleep(0.05)
    raise AssertionError(f"no {text} in {path}")


def _finished(cmd: list[str], cwd: Path) -> tuple[subprocess.Popen, str]:
    """Run to the end (Popen: its pid is wanted afterwards); return it and its stderr."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=120)
    return proc, err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tunewiz: error: ") and "Traceback" not in err, err
    return lines[0]


def test_second_trainer_is_refused_and_sigterm_snapshots_the_first(tmp_path, capsys, monkeypatch):
    root = workdir(tmp_path, "sgd_inv", caffe_snapshots=False)
    solver = _solver(root, max_iter=100000, snapshot=0)
    argv = ["train", "--solver", solver, "--weights", "init.caffemodel", "--run_dir", "run"]
    first = subprocess.Popen([sys.executable, "-m", "tunewiz", *argv], cwd=root, env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    events = root / "run" / "events.jsonl"
    try:
        _wait_for(events, '"iteration"', 2, first)
        before = _sums(root, skip=("run",))
        second, err = _finished([sys.executable, "-m", "tunewiz", *argv], root)
        line = _one_error_line(err)
        assert second.returncode == 2
        assert f"run folder run is in use by another trainer: pid {first.pid} (since " in line
        assert f"tunewiz train --solver {solver} --weights init.caffemodel --run_dir run" in line
        assert f"kill -INT {first.pid}" in line and "another --run_dir" in line
        monkeypatch.chdir(root)  # another run folder, the same snapshot_prefix: refused as well
        assert main([*argv[:-1], "run2"]) == 2
        line = _one_error_line(capsys.readouterr().err)
        assert "snapshot folder sgd_inv (snapshot_prefix 'sgd_inv/sgd_inv') is in use" in line
        assert f"pid {first.pid} " in line and f"change snapshot_prefix in {solver}" in line
        assert _sums(root, skip=("run",)) == before and os.listdir(root / "run2") == []
        log = (root / "run" / "train.log").read_text()
        assert not re.search(rf"^\S+ \S+ +{second.pid} ", log, re.M)  # not a line of the refused one
        first.send_signal(signal.SIGTERM)  # as a scheduler's time limit: a snapshot, then the end
        assert first.wait(60) == 0
    finally:
        first.kill()
        first.wait()
    records = [json.loads(line) for line in events.read_text().splitlines()]
    assert [r["event"] for r in records].count("started") == 1
    assert [r["event"] for r in records][-3:] == ["snapshot", "stopped", "finished"]
    done = records[-1]["iter"]
    for ext in (".caffemodel", ".solverstate"):
        assert (root / "sgd_inv" / f"sgd_inv_iter_{done}{ext}").is_file()
    assert "Optimization stopped early." in (root / "run" / "train.log").read_text()
    assert not (root / "run" / "tunewiz.lock").exists() and not (root / "sgd_inv" / "tunewiz.lock").exists()

    # a new run beside those snapshots: refused before training, with the list and the ways out
    before = _sums(root)
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"sgd_inv/sgd_inv_iter_{done}.{{caffemodel,solverstate,tunewiz.json}}" in line
    assert f"--snapshot sgd_inv/sgd_inv_iter_{done}.solverstate" in line and "another snapshot_prefix" in line
    assert _sums(root) == before


KILLED_MID_SNAPSHOT = """
import os, signal, sys
from tunewiz.engine.train import snapshot

real = snapshot._write_fsync

def die(path, data):  # the caffemodel is written, the solverstate too, nothing renamed yet: kill -9
    real(path, data)
    os.kill(os.getpid(), signal.SIGKILL)

snapshot._write_fsync = die
from tunewiz.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_mid_snapshot_leaves_temporaries_the_next_trainer_removes(tmp_path, monkeypatch, capsys):
    root = workdir(tmp_path, "sgd_inv", caffe_snapshots=False)
    solver = _solver(root, max_iter=2, snapshot=1, display=0)
    argv = ["train", "--solver", solver, "--weights", "init.caffemodel", "--run_dir", "run"]
    killed, _ = _finished([sys.executable, "-c", KILLED_MID_SNAPSHOT, *argv], root)
    assert killed.returncode == -signal.SIGKILL
    left = sorted(p.name for p in (root / "sgd_inv").iterdir() if p.name.startswith("."))
    assert [re.sub(r"-\w+\.tmp$", "", n) for n in left] == [f".sgd_inv_iter_1.caffemodel.tunewiz-{killed.pid}",
                                                            f".sgd_inv_iter_1.solverstate.tunewiz-{killed.pid}"]
    assert not list((root / "sgd_inv").glob("sgd_inv_iter_*"))  # the kill left no half snapshot in sight
    before = {k: v for k, v in _sums(root, skip=("run",)).items()  # the user's files: all but the leftovers
              if not Path(k).name.startswith(".") and Path(k).name != "tunewiz.lock"}
    monkeypatch.chdir(root)
    assert main(argv) == 0
    err = capsys.readouterr().err
    removed = [line for line in err.splitlines() if "stale temporary" in line]
    assert len(removed) == 1 and removed[0].startswith("W")
    assert f"removed 2 stale temporary file(s)" in removed[0] and f"by tunewiz process {killed.pid}" in removed[0]
    assert all(name in removed[0] for name in left) and removed[0] in (root / "run" / "train.log").read_text()
    assert not [p for p in (root / "sgd_inv").iterdir() if p.name.startswith(".")]
    after = _sums(root, skip=("run",))
    assert {k: v for k, v in after.items() if k in before} == before  # only the new snapshots were added
    assert sorted(set(after) - set(before)) == [f"sgd_inv/sgd_inv_iter_{n}{ext}" for n in (1, 2)
                                                 for ext in (".caffemodel", ".solverstate", ".tunewiz.json")]
