"""pycaffe's solvers (``tunewiz.SGDSolver`` ... ``get_solver``) against real Caffe's training traces.

The runs of ``tests/fixtures/training`` (from ``../shared/caffe-reference/training``: BVLC Caffe 1.0, CPU,
``caffe train --weights=init.caffemodel``) are replayed as a pycaffe script would: solver from the run's
file, ``solver.net.copy_from(init)``, ``step``; Caffe's per-iteration losses, test outputs and weights
must come out within 1e-4 relative.  Each test runs in a copy of ``training/`` (Caffe's relative paths).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import tunewiz
from tunewiz.caffe.caffemodel import load_weights

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine" / "train"))
from training_util import FIX, max_rel, read_tsv, workdir  # noqa: E402

RUNS = {"sgd_inv": "SGDSolver", "nesterov_step": "NesterovSolver", "adagrad_fixed": "AdaGradSolver",
        "rmsprop_exp": "RMSPropSolver", "adadelta_poly": "AdaDeltaSolver", "adam_multistep": "AdamSolver"}


@pytest.fixture
def here(tmp_path, monkeypatch):
    """A training/ folder with the runs' inputs (no Caffe snapshots), made the current folder."""
    torch.set_num_threads(1)
    root = workdir(tmp_path, *RUNS, caffe_snapshots=False)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def make(here):
    """``make(tunewiz.SGDSolver, file)``: a solver that is closed after the test (its LMDB readers)."""
    made = []

    def build(kind, solver_file):
        made.append(kind(solver_file))
        return made[-1]
    yield build
    for solver in made:
        solver.close()


def _weights(solver) -> dict[str, np.ndarray]:
    return {f"{name}/{i}": blob.data.copy() for name, blobs in solver.net.params.items()
            for i, blob in enumerate(blobs)}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_the_pycaffe_finetune_script_gives_caffes_numbers(make):
    solver = make(tunewiz.SGDSolver, "sgd_inv/solver.prototxt")
    solver.net.copy_from("init.caffemodel")
    losses = []
    for _ in range(10):
        solver.step(1)
        losses.append(float(solver.net.blobs["loss"].data))
    exact = np.load(FIX / "sgd_inv" / "losses_exact.npy")
    assert np.max(np.abs(np.array(losses) - exact[:10]) / exact[:10]) <= 1e-4
    # the notebook's test: test_iter forwards of the test net (Caffe's TestAll at iteration 10)
    test_net, test_iter = solver.test_nets[0], solver.param.test_iter[0]
    outputs = [{k: v.copy() for k, v in test_net.forward().items()} for _ in range(test_iter)]  # views, as pycaffe's
    row = next(r for r in read_tsv(FIX / "sgd_inv" / "test.tsv") if r["iter"] == "10")
    for key in ("accuracy", "loss"):
        mean = np.mean([float(out[key]) for out in outputs])
        assert mean == pytest.approx(float(row[key]), rel=1e-4), key
    assert float(test_net.blobs["accuracy"].data) == float(outputs[-1]["accuracy"])
    solver.step(15)
    assert solver.iter == 25
    caffe = load_weights(FIX / "sgd_inv" / "sgd_inv_iter_25.caffemodel").arrays()
    for name, blobs in solver.net.params.items():
        for i, blob in enumerate(blobs):
            assert max_rel(blob.data, caffe[name][i]) <= 1e-4, (name, i)


@pytest.mark.parametrize("run", sorted(RUNS))
def test_get_solver_picks_the_class_and_trains_as_caffe(make, run):
    solver = make(tunewiz.get_solver, f"{run}/solver.prototxt")
    assert type(solver) is getattr(tunewiz, RUNS[run])
    solver.net.copy_from("init.caffemodel")
    losses = []
    while solver.iter < solver.param.max_iter:
        solver.step(1)
        losses.append(float(solver.net.blobs["loss"].data))
    exact = np.load(FIX / run / "losses_exact.npy")
    assert np.max(np.abs(np.array(losses) - exact) / exact) <= 1e-4
    final = np.load(FIX / run / "final_weights.npz")
    worst = max(max_rel(solver.net.params[k.split("/")[0]][int(k.split("/")[1])].data, final[k])
                for k in final.files)
    assert worst <= 1e-4


def test_the_class_decides_the_rule_as_in_pycaffe(make):
    """pycaffe's SGDSolver(file) is the C++ SGDSolver, whatever the file's type says."""
    as_sgd = make(tunewiz.SGDSolver, "adam_multistep/solver.prototxt")
    assert as_sgd.param.type == "Adam" and as_sgd.type == "SGD"
    text = Path("adam_multistep/solver.prototxt").read_text().replace('type: "Adam"', 'type: "SGD"')
    Path("adam_multistep/sgd.prototxt").write_text(text)
    sgd = make(tunewiz.get_solver, "adam_multistep/sgd.prototxt")
    assert type(sgd) is tunewiz.SGDSolver
    for solver in (as_sgd, sgd):
        solver.net.copy_from("init.caffemodel")
        solver.step(2)
    assert _same(_weights(as_sgd), _weights(sgd))


def test_unknown_type_and_missing_file_are_runtime_errors(make):
    Path("bad.prototxt").write_text(Path("sgd_inv/solver.prototxt").read_text().replace('"SGD"', '"Nope"'))
    with pytest.raises(RuntimeError, match="Unknown solver type: Nope"):
        tunewiz.get_solver("bad.prototxt")
    with pytest.raises(RuntimeError):
        tunewiz.SGDSolver("no_such_solver.prototxt")


def test_step_3_twice_is_step_6(make):
    a, b = (make(tunewiz.SGDSolver, "sgd_inv/solver.prototxt") for _ in range(2))
    for solver in (a, b):
        solver.net.copy_from("init.caffemodel")
    a.step(3)
    a.step(3)
    b.step(6)
    assert a.iter == b.iter == 6 and _same(_weights(a), _weights(b))


def test_snapshot_then_restore_in_a_new_solver_continues(make):
    first = make(tunewiz.SGDSolver, "sgd_inv/solver.prototxt")
    first.net.copy_from("init.caffemodel")
    first.step(4)
    first.snapshot()
    first.snapshot()  # Caffe replaces its own snapshot files
    first.step(4)
    second = make(tunewiz.SGDSolver, "sgd_inv/solver.prototxt")
    second.restore("sgd_inv/sgd_inv_iter_4.solverstate")
    assert second.iter == 4
    second.step(4)
    assert second.iter == 8 and _same(_weights(first), _weights(second))
    third = make(tunewiz.SGDSolver, "sgd_inv/solver.prototxt")
    third.solve("sgd_inv/sgd_inv_iter_4.solverstate")
    assert third.iter == third.param.max_iter


def test_writing_a_param_changes_training_and_test_nets_share_it(make):
    a, b = (make(tunewiz.SGDSolver, "sgd_inv/solver.prototxt") for _ in range(2))
    for solver in (a, b):
        solver.net.copy_from("init.caffemodel")
    b.net.params["ip2"][0].data[...] *= 0.5
    test_blob = b.test_nets[0].params["ip2"][0]
    assert np.shares_memory(test_blob.data, b.net.params["ip2"][0].data)
    assert np.array_equal(test_blob.data, b.net.params["ip2"][0].data)
    a.step(1)
    b.step(1)
    assert float(a.net.blobs["loss"].data) != float(b.net.blobs["loss"].data)
    assert not np.array_equal(a.net.params["conv1"][0].data, b.net.params["conv1"][0].data)
    assert np.array_equal(test_blob.data, b.net.params["ip2"][0].data)


def test_test_net_blobs_show_the_last_test_forward(make):
    solver = make(tunewiz.SGDSolver, "sgd_inv/solver.prototxt")
    solver.net.copy_from("init.caffemodel")
    solver.step(1)  # tests at iteration 0 (test_iter 2 over the 50 test records), then one update
    test_net = solver.test_nets[0]
    labels = test_net.blobs["label"].data.copy()
    assert test_net.blobs["data"].data.shape[0] == 25 and test_net.blobs["data"].data.any()
    test_net.forward()
    test_net.forward()  # the test set again from its start: its second batch
    assert np.array_equal(test_net.blobs["label"].data, labels)


def test_apply_update_after_forward_backward_is_one_step(make):
    a, b = (make(tunewiz.SGDSolver, "sgd_inv/solver.prototxt") for _ in range(2))
    for solver in (a, b):
        solver.net.copy_from("init.caffemodel")
    a.step(1)
    b.net.forward()
    b.net.backward()
    b.apply_update()
    assert b.iter == 0
    for name, blobs in a.net.params.items():
        for i, blob in enumerate(blobs):
            assert max_rel(b.net.params[name][i].data, blob.data) <= 1e-6, (name, i)


def test_solve_trains_to_max_iter(make):
    solver = make(tunewiz.get_solver, "adam_multistep/solver.prototxt")
    solver.net.copy_from("init.caffemodel")
    solver.solve()
    assert solver.iter == solver.param.max_iter
    final = np.load(FIX / "adam_multistep" / "final_weights.npz")
    assert max_rel(solver.net.params["ip2"][0].data, final["ip2/0"]) <= 1e-4


def test_the_solver_names_are_at_the_top_of_the_package():
    from tunewiz.pycaffe import solver

    names = ["SGDSolver", "NesterovSolver", "AdaGradSolver", "RMSPropSolver", "AdaDeltaSolver", "AdamSolver",
             "get_solver"]
    assert set(names) <= set(tunewiz.__all__) & set(dir(tunewiz))
    assert all(getattr(tunewiz, name) is getattr(solver, name) for name in names)


def test_a_gpu_solver_without_a_gpu_is_a_runtime_error(here):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    tunewiz.set_mode_gpu()
    try:
        with pytest.raises(RuntimeError, match="CUDA"):
            tunewiz.SGDSolver("sgd_inv/solver.prototxt")
    finally:
        tunewiz.set_mode_cpu()


def test_step_trains_on_what_was_written_into_input_blobs(monkeypatch, capsys):
    """Caffe's InputLayer keeps what pycaffe wrote into it, so ``solver.step`` trains on it (not on zeros);
    the losses are real pycaffe's (tests/fixtures/pycaffe_solver_input)."""
    folder = Path(__file__).resolve().parents[1] / "fixtures" / "pycaffe_solver_input"
    monkeypatch.chdir(folder)
    monkeypatch.setitem(sys.modules, "caffe", tunewiz)
    exec(compile((folder / "make_fixture.py").read_text(), "make_fixture.py", "exec"), {"__name__": "fixture"})
    ours = [line.split() for line in capsys.readouterr().out.splitlines()]
    caffe = [line.split() for line in (folder / "expected.txt").read_text().splitlines()]
    assert [i for i, _ in ours] == [i for i, _ in caffe] == ["0", "1", "2"]
    for (_, mine), (_, theirs) in zip(ours, caffe):
        assert abs(float(mine) - float(theirs)) <= 1e-6 * abs(float(theirs))
