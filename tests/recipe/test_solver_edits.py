"""Solver copy: net, snapshot_prefix, base_lr ÷ divisor, max_iter with scaled steps, test_iter, mode, schedule."""
import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text, read_solver_text
from tunewiz.engine.solvers.lr_policy import learning_rate
from tunewiz.recipe.layers import RecipeError
from tunewiz.recipe.solver_edits import edit_solver, schedule_preview
from tests.recipe.conftest import FIX


def _solver(text):
    return parse_text(text, caffe_pb2.SolverParameter())


def test_sgd_inv_copy():
    src = read_solver_text(FIX / "sgd_inv_solver.prototxt")
    s, plan = edit_solver(src, net_path="run/train_val.prototxt", snapshot_prefix="run/r", lr_divisor=10,
                          max_iter=20, val_records=180, val_batch=60, solver_mode="gpu")
    assert src.net == "sgd_inv/train_val.prototxt" and src.base_lr == pytest.approx(0.01)  # source untouched
    assert s.net == "run/train_val.prototxt" and s.snapshot_prefix == "run/r"
    assert s.base_lr == pytest.approx(0.001, rel=1e-7) and s.max_iter == 20
    assert s.snapshot == 20  # was 25 > max_iter
    assert list(s.test_iter) == [3] and s.solver_mode == caffe_pb2.SolverParameter.GPU
    assert plan.alternatives == {10: pytest.approx(0.001), 100: pytest.approx(0.0001)}
    assert "base_lr: 0.01 -> 0.001" in "\n".join(plan.changes)


def test_step_and_multistep_scale_with_max_iter():
    src = _solver('base_lr: 0.01 lr_policy: "step" gamma: 0.1 stepsize: 100000 max_iter: 1000000 net: "x"')
    s, plan = edit_solver(src, net_path="n", snapshot_prefix="p", max_iter=10000)
    assert s.stepsize == 3334  # 1000 in proportion, raised: at most two drops in 10,000 iterations
    src = _solver('base_lr: 0.01 lr_policy: "multistep" gamma: 0.1 stepvalue: 20 stepvalue: 35 max_iter: 50')
    s, _ = edit_solver(src, net_path="n", snapshot_prefix="p", max_iter=100)
    assert list(s.stepvalue) == [40, 70]
    src = _solver('base_lr: 0.01 lr_policy: "step" gamma: 0.1 stepsize: 1000 max_iter: 10000 net: "x"')
    s, plan = edit_solver(src, net_path="n", snapshot_prefix="p", max_iter=20000)
    assert s.stepsize == 6667  # 2000 in proportion would drop 9 times; the rule holds for longer runs too


@pytest.mark.parametrize("old_max, stepsize, new_max", [(450000, 100000, 20), (450000, 100000, 4500),
                                                         (100000, 20000, 7), (1000, 1, 3), (50, 10, 1)])
def test_a_shortened_step_schedule_drops_the_lr_at_most_twice(old_max, stepsize, new_max):
    """Issue 'Real Model Zoo nets': 450,000 -> 20 iterations in proportion gave lr 1e-7 by iteration 16."""
    src = _solver(f'base_lr: 0.01 lr_policy: "step" gamma: 0.1 stepsize: {stepsize} max_iter: {old_max}')
    s, plan = edit_solver(src, net_path="n", snapshot_prefix="p", max_iter=new_max, lr_divisor=10)
    last = learning_rate(s, new_max - 1, 0)[0]
    assert last >= 0.001 * 0.1 ** 2 * (1 - 1e-6)
    assert s.stepsize >= max(1, round(stepsize * new_max / old_max))  # never shorter than in proportion


def test_multistep_keeps_its_last_two_drops_when_shortened():
    src = _solver('base_lr: 0.01 lr_policy: "multistep" gamma: 0.1 stepvalue: 100 stepvalue: 200 '
                  'stepvalue: 300 stepvalue: 400 max_iter: 500')
    s, plan = edit_solver(src, net_path="n", snapshot_prefix="p", max_iter=50)
    assert list(s.stepvalue) == [30, 40]
    assert "the last 2 kept" in "\n".join(plan.changes)


def test_schedule_preview_is_the_engines_policy():
    src = _solver('base_lr: 0.01 lr_policy: "step" gamma: 0.1 stepsize: 100000 max_iter: 450000')
    s, plan = edit_solver(src, net_path="n", snapshot_prefix="p", max_iter=4500, lr_divisor=10)
    pts = dict(plan.schedule)
    assert s.stepsize == 1500
    assert pts[0] == pytest.approx(0.001) and pts[1499] == pytest.approx(0.001)
    assert pts[1500] == pytest.approx(0.0001) and pts[4499] == pytest.approx(1e-5, rel=1e-5)
    for it, lr in plan.schedule:
        assert lr == learning_rate(s, it, 0)[0]


def test_multistep_preview_counts_steps():
    s = _solver('base_lr: 1 lr_policy: "multistep" gamma: 0.5 stepvalue: 10 stepvalue: 30 max_iter: 50')
    pts = dict(schedule_preview(s))
    assert pts[0] == 1 and pts[10] == 0.5 and pts[30] == 0.25 and pts[49] == 0.25


def test_train_net_test_net_are_folded_into_net():
    src = _solver('train_net: "a.prototxt" test_net: "b.prototxt" base_lr: 0.1 max_iter: 10')
    s, plan = edit_solver(src, net_path="run/tv.prototxt", snapshot_prefix="run/r")
    assert s.net == "run/tv.prototxt" and not s.HasField("train_net") and not list(s.test_net)


def test_test_iter_warns_when_batches_wrap():
    src = _solver('base_lr: 0.1 max_iter: 10 test_interval: 5')
    s, plan = edit_solver(src, net_path="n", snapshot_prefix="p", val_records=100, val_batch=30)
    assert list(s.test_iter) == [4] and "reads 20 images twice" in plan.warnings[0]


@pytest.mark.parametrize("kw,msg", [({"lr_divisor": 0}, "lr-divisor"), ({"max_iter": 0}, "max-iter")])
def test_bad_values(kw, msg):
    with pytest.raises(RecipeError, match=msg):
        edit_solver(_solver("base_lr: 0.1 max_iter: 10"), net_path="n", snapshot_prefix="p", **kw)
