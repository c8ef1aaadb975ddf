"""Defaults sized to the new data: max_iter in epochs, a test about once an epoch, a TEST batch no larger than
the validation set; each with its reason, each overridden by its flag."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.recipe.helpers import make_db
from tunewiz.recipe.finetune import plan_net
from tunewiz.recipe.options import FinetuneOptions
from tunewiz.recipe.sizing import iterations_per_epoch, proposed_max_iter
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
    assert s.stepsize == 67 and s.snapshot == 200  # at most two drops; a snapshot at the end
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
