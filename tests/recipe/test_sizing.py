"""Defaults sized to the new data: max_iter in epochs, a test about once an epoch, a TEST batch no larger than
the validation set; each with its reason, each overridden by its flag."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.recipe.helpers import make_db
from tunewiz.recipe.finetune import plan_net
from tunewiz.recipe.options import FinetuneOptions
from tunewiz.recipe.sizing import (MAX_SNAPSHOTS, dividing_interval, iterations_per_epoch, proposed_max_iter,
                                   snapshot_interval)
from tunewiz.recipe.solver_stage import plan_solver

ZOO = Path(__file__).resolve().parents[1] / "fixtures" / "model_zoo" / "bvlc_reference_caffenet"


@pytest.fixture
def caffenet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_db(tmp_path / "t", [0, 1, 2] * 100, shape=(3, 227, 227))  # 300 training images
    make_db(tmp_path / "v", [0, 1, 2] * 6, shape=(3, 227, 227), seed=1)  # 18 validation images

    def stages(**extra):
        opts = FinetuneOptions(net=str(ZOO / "train_val.prototxt"), solver=str(ZOO / "solver.prototxt"),
                               train_db="t", val_db="v", out="r", mean_value=(104, 117, 123), mode="cpu", **extra)
        net = plan_net(opts)
        return net, plan_solver(opts, net)
    return stages


def _lines(net, solver) -> str:
    return "\n".join(line for sec in net.sections + solver.sections for line in sec.lines)


def test_a_zoo_solver_is_resized_to_twenty_epochs_of_the_new_data(caffenet):
    net, stage = caffenet(batch_size=32, iter_size=1)
    s = stage.solver
    assert iterations_per_epoch(300, 32, 1) == 10 and s.max_iter == 200 and s.test_interval == 10
    assert s.stepsize == 67  # at most two drops
    assert s.snapshot == 40  # every 4 tests: 5 snapshots, each tested, the end's included
    assert s.base_lr == pytest.approx(0.001) and list(s.test_iter) == [1]
    assert net.net.layer[1].data_param.batch_size == 18  # TEST: the 18 validation images once
    text = _lines(net, stage)
    assert "about 20 epochs: 300 training images at an effective batch of 32 are 10 iteration(s) an epoch" in text
    assert "450000 iterations would be 45,000 epochs" in text and "about once an epoch" in text
    assert "batch_size 50 -> 18 (the 18 validation images" in text
    assert stage.schedule[-1][1] >= 0.001 * 0.01 * (1 - 1e-6)  # the lr ends at base_lr * gamma^2 at the lowest


def test_every_sized_value_has_its_flag(caffenet):
    net, stage = caffenet(batch_size=32, max_iter=50, test_interval=25, test_batch_size=9, test_iter=3)
    s = stage.solver
    assert s.max_iter == 50 and s.test_interval == 25 and list(s.test_iter) == [3]
    assert net.net.layer[1].data_param.batch_size == 9


def test_a_schedule_already_sized_to_the_data_is_kept():
    assert proposed_max_iter(300, 10, 300, 32) is None  # 30 epochs: not "far longer"
    assert proposed_max_iter(301, 10, 300, 32)[0] == 200


def test_the_effective_batch_counts_iter_size(caffenet):
    """--batch-size 32 alone keeps CaffeNet's effective batch of 256 (iter_size 8): 2 iterations an epoch."""
    net, stage = caffenet(batch_size=32)
    assert stage.solver.iter_size == 8 and stage.solver.max_iter == 40 and stage.solver.test_interval == 2


def _snapshots_and_tests(s) -> tuple[set, set]:
    """The iterations Caffe snapshots (every ``snapshot``, and the end) and tests (every ``test_interval``)."""
    snapshots = set(range(s.snapshot, s.max_iter + 1, s.snapshot)) | {s.max_iter}
    return snapshots, set(range(s.test_interval, s.max_iter + 1, s.test_interval))


@pytest.mark.parametrize("extra", [{}, {"max_iter": 200}, {"max_iter": 96}, {"test_interval": 7},
                                   {"max_iter": 6}, {"max_iter": 45000}])
def test_every_snapshot_is_tested_the_last_included(caffenet, extra):
    """Issue 19: from a deploy's defaults (snapshot 10000) a run tested every 23 iterations snapshotted only at
    200, untested, so `classify --run` could never pick the best snapshot."""
    net, stage = caffenet(batch_size=32, iter_size=1, **extra)
    s = stage.solver
    snapshots, tests = _snapshots_and_tests(s)
    assert snapshots <= tests and len(snapshots) <= MAX_SNAPSHOTS, (s.snapshot, s.test_interval, s.max_iter)
    assert s.max_iter == extra.get("max_iter", s.max_iter)  # the user's max_iter is never changed
    assert not [w for w in stage.warnings if "not a multiple of test_interval" in w]
    assert "each snapshot is tested, so the best can be told" in _lines(net, stage)


def test_a_max_iter_the_user_gave_is_kept_and_a_test_interval_near_once_an_epoch_divides_it(caffenet):
    net, stage = caffenet(batch_size=32, iter_size=1, max_iter=96)  # an epoch is 10 iterations
    s = stage.solver
    assert (s.max_iter, s.test_interval, s.snapshot) == (96, 8, 24)  # 8 and 12 are as near: the more often
    assert "test_interval: 1000 -> 8 (about once an epoch (10 iteration(s)), a divisor of max_iter 96, so the " \
           "last iteration is tested; --test-interval sets another)" in _lines(net, stage)


def test_the_recipes_max_iter_is_rounded_to_the_test_interval_and_the_steps_follow(caffenet):
    net, stage = caffenet(batch_size=32, iter_size=1, test_interval=7)
    s = stage.solver
    assert (s.max_iter, s.test_interval, s.snapshot) == (203, 7, 42)  # 20 epochs (200), rounded up
    assert s.stepsize == 68  # the step rule on 203 iterations: at most two drops
    assert "rounded up to a multiple of test_interval 7, so the last iteration is tested" in _lines(net, stage)


def test_an_end_that_cannot_be_tested_is_said(caffenet):
    net, stage = caffenet(batch_size=32, iter_size=1, max_iter=200, test_interval=30)  # both the user's: kept
    s = stage.solver
    assert (s.max_iter, s.test_interval, s.snapshot) == (200, 30, 60)
    assert any("max_iter 200 is not a multiple of test_interval 30: Caffe does not test the last iteration" in w
               and "--max-iter 210" in w for w in stage.warnings), stage.warnings
    net, stage = caffenet(batch_size=32, iter_size=1, max_iter=97)  # a prime: no divisor within 5 of 10
    assert stage.solver.test_interval == 10 and any("max_iter 97 is not a multiple" in w for w in stage.warnings)


def test_the_users_snapshot_interval_is_kept(caffenet):
    net, stage = caffenet(batch_size=32, iter_size=1, max_iter=200, snapshot_every=15)
    assert stage.solver.snapshot == 15 and "snapshot: 10000 -> 15 (--snapshot-every)" in _lines(net, stage)


@pytest.mark.parametrize("max_iter, interval, expected", [(200, 23, 25), (96, 10, 8), (97, 10, None),
                                                          (6, 20, 6), (460, 23, 23), (100, 1, 1)])
def test_dividing_interval(max_iter, interval, expected):
    assert dividing_interval(max_iter, interval) == expected


@pytest.mark.parametrize("max_iter, interval, expected", [(200, 25, 50), (460, 23, 92), (200, 10, 40),
                                                          (5, 5, 5), (200, 1000, 200), (199, 23, 46)])
def test_snapshot_interval(max_iter, interval, expected):
    snapshot, why = snapshot_interval(max_iter, interval)
    assert snapshot == expected and f"a multiple of test_interval {interval}" in why
