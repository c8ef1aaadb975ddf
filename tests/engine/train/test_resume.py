"""Resume: from Caffe's solverstates as Caffe does (data cursor reset), and from ours exactly."""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from training_util import FIX, max_rel, of_kind, read_tsv, run_solver, weights_of, workdir  # noqa: E402

from tunewiz.engine.train.snapshot import SnapshotError  # noqa: E402
from tunewiz.engine.solvers.sgd import SolverError  # noqa: E402


def _close(final: dict, expect, tol=1e-5):
    worst = {k: max_rel(final[k], expect[k]) for k in expect.files}
    assert max(worst.values()) <= tol, worst


def test_resume_from_caffes_solverstate(tmp_path):
    """caffe train --solver=resume/solver.prototxt --snapshot=sgd_inv/sgd_inv_iter_25.solverstate"""
    root = workdir(tmp_path, "resume", "sgd_inv")
    events, lines = run_solver(root, "resume", snapshot="sgd_inv/sgd_inv_iter_25.solverstate")
    assert any(line.endswith("Resuming from sgd_inv/sgd_inv_iter_25.solverstate") for line in lines)
    assert any("sgd_inv/sgd_inv_iter_25.caffemodel" in line and "stored in the solverstate" in line for line in lines)
    its = of_kind(events, "iteration")
    caffe = read_tsv(FIX / "resume" / "losses.tsv")
    assert [e.iter for e in its] == [int(r["iter"]) for r in caffe] == list(range(25, 50))
    for e, r in zip(its, caffe):
        assert e.outputs["loss"] == pytest.approx(float(r["loss"]), rel=2e-5)
        assert e.smoothed_loss == pytest.approx(float(r["smoothed_loss"]), rel=2e-5)  # fresh window at 25
        assert e.lr == pytest.approx(float(r["lr"]), rel=1e-6)
    assert [t.iter for t in of_kind(events, "test")] == [int(r["iter"]) for r in read_tsv(FIX / "resume" / "test.tsv")]
    _close(weights_of(root / "resume" / "resume_iter_50.caffemodel"), np.load(FIX / "resume" / "final_weights.npz"))


def test_caffes_solverstate_resets_the_data_cursor(tmp_path):
    """resume_misaligned: Caffe restarts the data at record 0, so the weights differ from sgd_inv's."""
    root = workdir(tmp_path, "resume_misaligned", "sgd_inv")
    run_solver(root, "resume_misaligned", snapshot="resume_misaligned/resume_misaligned_iter_15.solverstate")
    final = weights_of(root / "resume_misaligned" / "resume_misaligned_iter_50.caffemodel")
    _close(final, np.load(FIX / "resume_misaligned" / "final_weights.npz"))
    assert max_rel(final["conv1/0"], np.load(FIX / "sgd_inv" / "final_weights.npz")["conv1/0"]) > 1e-4


def _short(sp, max_iter=30):
    sp.max_iter = max_iter


def test_stop_and_resume_ours_is_bit_identical(tmp_path):
    """Stop at iteration 13 (cursor mid-epoch: record 208), resume, compare with an uninterrupted run."""
    root = workdir(tmp_path, "sgd_inv")
    straight, _ = run_solver(root, "sgd_inv", edit=_short)
    expect = (root / "sgd_inv" / "sgd_inv_iter_30.caffemodel").read_bytes()
    (root / "sgd_inv" / "sgd_inv_iter_30.caffemodel").unlink()
    stop = threading.Event()
    first, _ = run_solver(root, "sgd_inv", edit=_short, stop=stop,
                          on_event=lambda e: e.kind == "iteration" and e.iter == 12 and stop.set())
    assert of_kind(first, "stopped") and of_kind(first, "snapshot")[-1].iter == 13
    assert (root / "sgd_inv" / "sgd_inv_iter_13.tunewiz.json").is_file()
    second, lines = run_solver(root, "sgd_inv", edit=_short, snapshot="sgd_inv/sgd_inv_iter_13.solverstate")
    assert (root / "sgd_inv" / "sgd_inv_iter_30.caffemodel").read_bytes() == expect
    ours = [(e.iter, e.loss, e.smoothed_loss) for e in of_kind(first, "iteration") + of_kind(second, "iteration")]
    assert ours == [(e.iter, e.loss, e.smoothed_loss) for e in of_kind(straight, "iteration")]
    assert any("restored data cursors" in line for line in lines)


def test_snapshot_request_keeps_training(tmp_path):
    root = workdir(tmp_path, "sgd_inv")
    now = threading.Event()
    events, _ = run_solver(root, "sgd_inv", edit=lambda sp: _short(sp, 8), snapshot_now=now,
                           on_event=lambda e: e.kind == "iteration" and e.iter == 4 and now.set())
    assert [s.iter for s in of_kind(events, "snapshot")] == [5, 8]
    assert of_kind(events, "finished") and not of_kind(events, "stopped")


def test_learned_net_found_beside_the_solverstate(tmp_path):
    """Caffe's learned_net is relative to the folder it ran in; from elsewhere we look beside the file."""
    root = workdir(tmp_path, "sgd_inv")
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for ext in (".solverstate", ".caffemodel"):
        (root / "sgd_inv" / f"sgd_inv_iter_25{ext}").rename(moved / f"sgd_inv_iter_25{ext}")
    events, lines = run_solver(root, "sgd_inv", edit=lambda sp: _short(sp, 27),
                               snapshot=str(moved / "sgd_inv_iter_25.solverstate"))
    assert any("beside the solverstate" in line and "sgd_inv_iter_25.caffemodel" in line for line in lines)
    assert of_kind(events, "iteration")[0].iter == 25


def test_history_that_does_not_fit(tmp_path):
    root = workdir(tmp_path, "sgd_inv", "adam_multistep")
    with pytest.raises(SolverError, match="16|history"):
        run_solver(root, "adam_multistep", snapshot="sgd_inv/sgd_inv_iter_25.solverstate")


def test_caffemodel_given_as_snapshot(tmp_path):
    root = workdir(tmp_path, "sgd_inv")
    with pytest.raises(SnapshotError, match="caffemodel.*--weights"):
        run_solver(root, "sgd_inv", snapshot="sgd_inv/sgd_inv_iter_25.caffemodel")


def test_solverstate_layout_is_caffes(tmp_path):
    from tunewiz.caffe.solverstate import read_solverstate

    root = workdir(tmp_path, "sgd_inv")
    run_solver(root, "sgd_inv", edit=lambda sp: _short(sp, 25))
    ours = read_solverstate(root / "sgd_inv" / "sgd_inv_iter_25.solverstate")
    caffe = read_solverstate(FIX / "sgd_inv" / "sgd_inv_iter_25.solverstate")
    assert (ours.iter, ours.learned_net, ours.current_step) == (caffe.iter, caffe.learned_net, caffe.current_step)
    assert len(ours.history) == len(caffe.history)
    for a, b in zip(ours.history, caffe.history):
        assert list(a.header.shape.dim) == list(b.header.shape.dim)
        np.testing.assert_allclose(a.data, b.data, rtol=1e-4, atol=1e-6)
