"""A trainer's claim: its folders locked, no other run's snapshots in its way, dead processes' temporaries
removed (live ones and users' files never), and all of it said in one line or one log line."""
import hashlib
import os
import subprocess
import sys

import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.engine.train.caffelog import CaffeLog
from tunewiz.engine.train.runguard import (FolderBusy, SnapshotsInTheWay, check_snapshot_names, claim_run,
                                     existing_snapshots, remove_stale_temps, resume_iteration)
from tunewiz.runs.lock import folder_owner


def _sums(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _snapshots(folder, prefix, *iters, state=True):
    for n in iters:
        (folder / f"{prefix}_iter_{n}.caffemodel").write_bytes(b"model")
        if state:
            (folder / f"{prefix}_iter_{n}.solverstate").write_bytes(caffe_pb2.SolverState(iter=n).SerializeToString())


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_existing_snapshots_are_read_from_the_prefix_only(tmp_path):
    _snapshots(tmp_path, "net", 10, 20)
    _snapshots(tmp_path, "net_v2", 30)  # another prefix in the same folder
    (tmp_path / "net_iter_20.tunewiz.json").write_text("{}")
    (tmp_path / "net_iter_x.caffemodel").write_text("")
    assert existing_snapshots(str(tmp_path / "net")) == {10: [".caffemodel", ".solverstate"],
                                                         20: [".caffemodel", ".solverstate", ".tunewiz.json"]}
    assert list(existing_snapshots("net", root=tmp_path, after=10)) == [20]
    assert existing_snapshots(str(tmp_path / "none" / "net")) == {}


def test_a_new_run_beside_another_runs_snapshots_is_refused_with_the_ways_out(tmp_path):
    _snapshots(tmp_path, "net", 10, 20)
    before = _sums(tmp_path)
    with pytest.raises(SnapshotsInTheWay) as info:
        check_snapshot_names("net", "solver.prototxt", None, root=tmp_path)
    text = str(info.value)
    assert "net_iter_10.{caffemodel,solverstate}, net_iter_20.{caffemodel,solverstate}" in text
    assert "another run" in text and "--snapshot net_iter_20.solverstate" in text
    assert "another snapshot_prefix in solver.prototxt" in text and "delete" in text and "\n" not in text
    assert _sums(tmp_path) == before


def test_a_resume_is_refused_only_by_later_snapshots(tmp_path):
    _snapshots(tmp_path, "net", 10, 20)
    assert resume_iteration("net_iter_10.solverstate", tmp_path) == 10
    with pytest.raises(SnapshotsInTheWay) as info:
        check_snapshot_names("net", "s.prototxt", "net_iter_10.solverstate", root=tmp_path)
    assert "resuming from iteration 10" in str(info.value) and "net_iter_20" in str(info.value)
    assert "net_iter_10" not in str(info.value)
    check_snapshot_names("net", "s.prototxt", "net_iter_20.solverstate", root=tmp_path)  # the latest: fine
    (tmp_path / "bad.solverstate").write_bytes(b"\xff\xff")
    assert resume_iteration("bad.solverstate", tmp_path) is None  # the trainer's restore names that fault
    check_snapshot_names("net", "s.prototxt", "bad.solverstate", root=tmp_path)


def test_many_snapshots_are_listed_short(tmp_path):
    _snapshots(tmp_path, "net", *range(1, 11), state=False)
    with pytest.raises(SnapshotsInTheWay) as info:
        check_snapshot_names("net", "s.prototxt", None, root=tmp_path)
    text = str(info.value)
    assert "net_iter_1.caffemodel, net_iter_2.caffemodel, net_iter_3.caffemodel, ..., net_iter_9" in text
    assert "(10 files)" in text and "--snapshot" not in text  # no solverstate: nothing to resume


def test_stale_temporaries_of_dead_processes_only_are_removed(tmp_path):
    dead = _dead_pid()
    stale = [f".net_iter_5.caffemodel.tunewiz-{dead}-ab12.tmp", f".net_iter_5.solverstate.tmp{dead}"]
    kept = [f".net_iter_5.caffemodel.tunewiz-{os.getpid()}-ab12.tmp",  # ours: being written
            f".x.caffemodel.tunewiz-1-ab12.tmp",  # init: alive (or another user's)
            "net_iter_5.caffemodel", f".notes.tmp{dead}", f"net.tunewiz-{dead}-ab.tmp"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"x" * 10)
    removed = remove_stale_temps(tmp_path)
    assert sorted(s.path.name for s in removed) == sorted(stale) and {s.pid for s in removed} == {dead}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


def test_claim_locks_both_folders_cleans_and_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "snaps").mkdir()
    dead = _dead_pid()
    (tmp_path / "snaps" / f".net_iter_5.caffemodel.tunewiz-{dead}-ab12.tmp").write_bytes(b"x" * 2048)
    sp = caffe_pb2.SolverParameter(snapshot_prefix="snaps/net")
    (tmp_path / "run").mkdir()
    (tmp_path / "run2").mkdir()
    claim = claim_run(tmp_path / "run", sp, "s.prototxt", None)
    try:
        assert folder_owner(tmp_path / "run").pid == os.getpid() and folder_owner("snaps").pid == os.getpid()
        with pytest.raises(FolderBusy) as info:
            claim_run(tmp_path / "run2", sp, "s.prototxt", None)
        assert "snapshot folder snaps (snapshot_prefix 'snaps/net') is in use by another trainer" in str(info.value)
        assert f"pid {os.getpid()}" in str(info.value) and "change snapshot_prefix in s.prototxt" in str(info.value)
        assert folder_owner(tmp_path / "run2") is None  # a refused claim lets go of what it took
        log = CaffeLog(None, None)
        log.keep = True
        claim.log_to(log)
        assert len(log.lines) == 1 and log.lines[0].startswith("W")
        assert f"removed 1 stale temporary file(s), 2.0 KB, left in snaps by tunewiz process {dead}" in log.lines[0]
    finally:
        claim.release()
    assert folder_owner(tmp_path / "run") is None and folder_owner("snaps") is None
    assert os.listdir("snaps") == [] and os.listdir("run") == []
