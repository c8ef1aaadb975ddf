"""Training runs against real Caffe's traces (tests/fixtures/training, from caffe-reference/training).

The bar: per-iteration loss <= 1e-4 relative to Caffe's losses_exact for every iteration, test outputs
equal to 1e-4, final weights <= 1e-5 relative (to the blob's largest magnitude), on CPU.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from training_util import FIX, max_rel, of_kind, read_tsv, run_solver, weights_of, workdir  # noqa: E402

RUNS = ["sgd_inv", "nesterov_step", "adagrad_fixed", "rmsprop_exp", "adadelta_poly", "adam_multistep",
        "sgd_sigmoid_itersize", "sgd_lrmult", "bn_sgd"]
WEIGHT_TOL: dict[str, float] = {}  # every run meets 1e-5


def _check_losses(run, events, upto=None):
    exact = np.load(FIX / run / "losses_exact.npy")
    ours = np.array([e.outputs["loss"] for e in of_kind(events, "iteration")], dtype=np.float64)
    assert len(ours) == len(exact)
    n = upto or len(exact)
    rel = np.abs(ours[:n] - exact[:n]) / np.abs(exact[:n])
    assert rel.max() <= 1e-4, (run, int(rel.argmax()), float(rel.max()))


def _check_tests(run, events, first=None):
    expect = read_tsv(FIX / run / "test.tsv")[:first]
    tests = of_kind(events, "test")[:first]
    assert [t.iter for t in tests] == [int(r["iter"]) for r in expect]
    for t, row in zip(tests, expect):
        for key in ("accuracy", "loss"):
            assert t.outputs[key] == pytest.approx(float(row[key]), rel=1e-4, abs=1e-5), (run, t.iter, key)


@pytest.mark.parametrize("run", RUNS)
def test_run_reproduces_caffe(tmp_path, run):
    root = workdir(tmp_path, run)
    events, _ = run_solver(root, run)
    _check_losses(run, events)
    _check_tests(run, events)
    final = weights_of(root / run / f"{run}_iter_{50 if run != 'bn_sgd' else 20}.caffemodel")
    expect = np.load(FIX / run / "final_weights.npz")
    assert sorted(final) == sorted(expect.files)
    worst = {k: max_rel(final[k], expect[k]) for k in expect.files}
    assert max(worst.values()) <= WEIGHT_TOL.get(run, 1e-5), worst


@pytest.mark.parametrize("run", ["sgd_inv", "adadelta_poly"])
def test_torch_numerics_also_reproduce_sgd_like_runs(tmp_path, run):
    """torch's own kernels (``--numerics torch``) differ from Caffe's in the last bits only: fine for these."""
    root = workdir(tmp_path, run)
    events, lines = run_solver(root, run, numerics="torch")
    assert not any("summation order" in line for line in lines)
    _check_losses(run, events)


def test_adagrad_needs_caffes_summation_order():
    """Why AdaGrad follows Caffe only in Caffe's summation order: it steps lr * g / (sqrt(h) + 1e-8), so
    an element whose gradient is a float32 sum that cancels (weight decay against the data gradient)
    steps by lr/2 or by 0 depending on the order of that sum.  IEEE float32 arithmetic, so the same on
    every CPU; how far a whole run drifts under torch's kernels depends on the BLAS kernel and is
    measured by ``python bench/numerics_drift.py``, not here."""
    import torch

    from tunewiz.caffe import caffe_pb2
    from tunewiz.engine.net.params import ParamInfo
    from tunewiz.engine.solvers.factory import create_solver

    x = torch.tensor([1.0, -1.0, 1e-8], dtype=torch.float32)
    left, right = (x[0] + x[1]) + x[2], x[0] + (x[1] + x[2])
    assert float(left) == pytest.approx(1e-8) and float(right) == 0.0
    steps = []
    for g in (left, right):
        info = ParamInfo("ip1", 0, torch.nn.Parameter(torch.zeros(1)), lr_mult=1.0, decay_mult=0.0)
        info.param.grad = g.reshape(1).clone()
        solver = create_solver(caffe_pb2.SolverParameter(type="AdaGrad", delta=1e-8), [info])
        solver.apply_update(0.01)
        steps.append(-float(info.param.detach()[0]))
    assert steps[0] == pytest.approx(0.005, rel=1e-5) and steps[1] == 0.0


def test_lr_mult_zero_freezes_bit_for_bit(tmp_path):
    root = workdir(tmp_path, "sgd_lrmult")
    run_solver(root, "sgd_lrmult")
    final = weights_of(root / "sgd_lrmult" / "sgd_lrmult_iter_50.caffemodel")
    init = np.load(FIX / "init_weights.npz")
    assert final["conv1/0"].tobytes() == init["conv1/0"].tobytes()
    assert final["conv1/1"].tobytes() == init["conv1/1"].tobytes()
    from tunewiz.caffe.solverstate import read_solverstate

    state = read_solverstate(root / "sgd_lrmult" / "sgd_lrmult_iter_50.solverstate")
    assert len(state.history) == 8 and state.current_step == 2
    assert not state.history[0].data.any() and not state.history[1].data.any()


def test_bn_history_has_the_zero_lr_blobs(tmp_path):
    root = workdir(tmp_path, "bn_sgd")
    run_solver(root, "bn_sgd")
    from tunewiz.caffe.solverstate import read_solverstate

    ours = read_solverstate(root / "bn_sgd" / "bn_sgd_iter_20.solverstate")
    caffe = read_solverstate(FIX / "bn_sgd" / "bn_sgd_iter_20.solverstate")
    assert [h.data.shape for h in ours.history] == [h.data.shape for h in caffe.history]
    assert len(ours.history) == 18 and ours.learned_net == "bn_sgd/bn_sgd_iter_20.caffemodel"


PREFIX = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ [\w.]+:\d+\] ")


def test_log_lines_read_as_caffe(tmp_path):
    """Same messages as Caffe's log (itersize + clip + sigmoid run), in glog's classic prefix."""
    run = "sgd_sigmoid_itersize"
    root = workdir(tmp_path, run)
    _, lines = run_solver(root, run)
    assert all(PREFIX.match(line) for line in lines)
    msgs = [PREFIX.sub("", line) for line in lines]
    lr_lines = [m for m in msgs if re.match(r"Iteration \d+, lr = ", m)]
    caffe = read_tsv(FIX / run / "losses.tsv")
    assert lr_lines == [f"Iteration {r['iter']}, lr = {r['lr']}" for r in caffe]
    clip = [m for m in msgs if m.startswith("Gradient clipping")]
    assert len(clip) == 50
    assert clip[0] == "Gradient clipping: scaling down gradients (L2 norm 3.42935 > 1) by scale factor 0.291601"
    first = msgs.index(next(m for m in msgs if m.startswith("Iteration 0 (")))
    assert msgs[first].endswith("loss = 1.41744")  # smoothed: mean of both sub-batches
    assert msgs[first + 1] == "    Train net output #0: loss = 1.42816 (* 1 = 1.42816 loss)"  # the last sub-batch
    assert "    Test net output #0: accuracy = 0.26" in msgs
    assert "    Test net output #1: loss = 1.38622 (* 1 = 1.38622 loss)" in msgs
    assert "Snapshotting to binary proto file sgd_sigmoid_itersize/sgd_sigmoid_itersize_iter_25.caffemodel" in msgs
    assert "Iteration 50, loss = 1.12395" in msgs  # the forward-only pass after training (Caffe's Solve)
    assert msgs[-1] == "Optimization Done."


def test_multistep_status_lines(tmp_path):
    root = workdir(tmp_path, "adam_multistep")
    _, lines = run_solver(root, "adam_multistep", edit=lambda sp: setattr(sp, "max_iter", 36))
    msgs = [PREFIX.sub("", line) for line in lines]
    assert [m for m in msgs if m.startswith("MultiStep")] == [
        "MultiStep Status: Iteration 20, step = 1", "MultiStep Status: Iteration 35, step = 2"]


def test_train_net_and_test_net_fields(tmp_path):
    """train_net + two test_net entries (with test_state) read as Caffe's InitTrainNet/InitTestNets."""
    root = workdir(tmp_path, "sgd_inv")

    def edit(sp):
        sp.ClearField("net")
        sp.train_net = "sgd_inv/train_val.prototxt"
        sp.test_net.extend(["sgd_inv/train_val.prototxt", "sgd_inv/train_val.prototxt"])
        sp.test_iter.append(1)
        sp.test_state.add()
        sp.test_state.add().stage.append("unused")
        sp.max_iter = 5
    events, lines = run_solver(root, "sgd_inv", edit=edit)
    exact = np.load(FIX / "sgd_inv" / "losses_exact.npy")[:5]
    ours = np.array([e.outputs["loss"] for e in of_kind(events, "iteration")])
    assert np.max(np.abs(ours - exact) / exact) <= 1e-4
    first = [t for t in of_kind(events, "test") if t.iter == 0]
    assert [t.net for t in first] == [0, 1]
    assert first[0].outputs["accuracy"] == pytest.approx(0.26)  # 2 batches: the whole test set
    assert any("Creating test net (#1) specified by test net file" in line for line in lines)


def test_solver_without_a_net_is_a_clear_error(tmp_path):
    from tunewiz.engine.train.nets import SolverSetupError

    root = workdir(tmp_path, "sgd_inv")
    with pytest.raises(SolverSetupError, match="names no net"):
        run_solver(root, "sgd_inv", edit=lambda sp: sp.ClearField("net"))
    with pytest.raises(SolverSetupError, match="test_iter must be specified for each test network"):
        run_solver(root, "sgd_inv", edit=lambda sp: sp.test_net.extend(["a", "b", "c"]))


def test_max_iter_zero_is_caffes_init_run(tmp_path):
    """training/init: max_iter 0 snapshots iteration 0, shows its loss, tests the untrained net."""
    root = workdir(tmp_path, "sgd_inv")

    def edit(sp):
        sp.max_iter, sp.snapshot = 0, 0  # init/solver.prototxt has no snapshot interval
    events, lines = run_solver(root, "sgd_inv", edit=edit)
    msgs = [PREFIX.sub("", line) for line in lines]
    assert "Iteration 0, loss = 1.40671" in msgs
    assert [s.iter for s in of_kind(events, "snapshot")] == [0]
    assert of_kind(events, "test")[-1].outputs == {"accuracy": pytest.approx(0.26), "loss": pytest.approx(1.38622, rel=1e-5)}


def test_inline_net_param_and_test_compute_loss(tmp_path):
    from tunewiz.caffe.netio import read_net

    root = workdir(tmp_path, "sgd_inv")

    def edit(sp):
        sp.ClearField("net")
        sp.net_param.CopyFrom(read_net(root / "sgd_inv" / "train_val.prototxt"))
        sp.max_iter, sp.test_compute_loss = 3, True
    events, lines = run_solver(root, "sgd_inv", edit=edit)
    exact = np.load(FIX / "sgd_inv" / "losses_exact.npy")[:3]
    assert [e.outputs["loss"] for e in of_kind(events, "iteration")] == pytest.approx(list(exact), rel=1e-5)
    assert any("Creating training net specified in net_param." in line for line in lines)
    assert of_kind(events, "test")[0].loss == pytest.approx(1.38622, rel=1e-5)
    assert any(line.endswith("Test loss: 1.38622") for line in lines)
