"""The seven lr policies against the rates real Caffe logged (fixtures' losses.tsv) and Caffe's checks."""
from __future__ import annotations

import csv

import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import read_solver_text
from tunewiz.engine.solvers import lr_policy
from tunewiz.engine.solvers.lr_policy import LrPolicyError, learning_rate

RUNS = ["sgd_inv", "nesterov_step", "adagrad_fixed", "rmsprop_exp", "adadelta_poly", "adam_multistep",
        "sgd_sigmoid_itersize", "sgd_lrmult", "bn_sgd"]


def _logged_rates(path):
    with open(path) as f:
        return [(int(r["iter"]), float(r["lr"])) for r in csv.DictReader(f, delimiter="\t")]


@pytest.mark.parametrize("run", RUNS)
def test_rates_match_caffe_log(fixtures, run):
    sp = read_solver_text(fixtures / "training" / run / "solver.prototxt")
    current_step = 0
    for it, logged in _logged_rates(fixtures / "training" / run / "losses.tsv"):
        rate, current_step, _ = learning_rate(sp, it, current_step)
        assert float(f"{rate:g}") == pytest.approx(logged, rel=1e-6), (run, it)


def test_current_step_as_caffe_stores_it(fixtures):
    """step: (iter-1)//stepsize after iter updates (nesterov_step stores 2 at 25, 4 at 50);
    multistep: stepvalues passed (adam_multistep stores 1 at 25, 2 at 50)."""
    for run, expect in (("nesterov_step", {25: 2, 50: 4}), ("adam_multistep", {25: 1, 50: 2}),
                        ("sgd_inv", {25: 0, 50: 0})):
        sp = read_solver_text(fixtures / "training" / run / "solver.prototxt")
        current_step = 0
        for it in range(50):
            _, current_step, _ = learning_rate(sp, it, current_step)
            if it + 1 in expect:
                assert current_step == expect[it + 1], (run, it + 1)


def test_multistep_log_lines(fixtures):
    sp = read_solver_text(fixtures / "training" / "adam_multistep" / "solver.prototxt")
    current_step, lines = 0, []
    for it in range(50):
        _, current_step, line = learning_rate(sp, it, current_step)
        if line:
            lines.append(line)
    assert lines == ["MultiStep Status: Iteration 20, step = 1", "MultiStep Status: Iteration 35, step = 2"]


def test_formulas():
    assert lr_policy.fixed(0.01) == pytest.approx(0.01)
    assert lr_policy.step(0.01, 0.5, 10, 25) == (pytest.approx(0.0025), 2)
    assert lr_policy.exp(0.001, 0.95, 2) == pytest.approx(0.001 * 0.95 ** 2, rel=1e-6)
    assert lr_policy.inv(0.01, 1e-4, 0.75, 100) == pytest.approx(0.01 * (1 + 1e-2) ** -0.75, rel=1e-6)
    assert lr_policy.poly(1.0, 1.0, 50, 25) == pytest.approx(0.5)
    assert lr_policy.poly(1.0, 1.0, 50, 49) == pytest.approx(0.02, rel=1e-6)
    assert lr_policy.sigmoid(0.01, 0.1, 25, 0) == pytest.approx(0.000758582, rel=1e-5)


@pytest.mark.parametrize("policy", ["step", "exp", "inv", "sigmoid"])
def test_negative_gamma_is_caffes_error(policy):
    sp = caffe_pb2.SolverParameter(base_lr=0.01, lr_policy=policy, gamma=-0.1, stepsize=10, power=1)
    with pytest.raises(LrPolicyError, match="gamma >= 0"):
        lr_policy.check_policy(sp)


def test_step_needs_stepsize_and_unknown_policy():
    with pytest.raises(LrPolicyError, match="stepsize"):
        lr_policy.check_policy(caffe_pb2.SolverParameter(base_lr=0.01, lr_policy="step", gamma=0.1))
    with pytest.raises(LrPolicyError, match="unknown lr_policy 'cosine'"):
        lr_policy.check_policy(caffe_pb2.SolverParameter(base_lr=0.01, lr_policy="cosine"))
