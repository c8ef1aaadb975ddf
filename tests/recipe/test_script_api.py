"""A script builds FinetuneOptions by hand and runs the same stages as the CLI: the same files come out."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.recipe.helpers import make_caffemodel, make_db
from tunewiz.cli import main

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "recipe"


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_db(tmp_path / "train_lmdb", [0, 1, 2] * 10)
    make_db(tmp_path / "val_lmdb", [0, 1, 2] * 5, seed=1)
    make_caffemodel(tmp_path / "w.caffemodel")
    return tmp_path


def test_script_stages_write_what_the_cli_writes(work):
    from tunewiz.recipe import FinetuneOptions, plan_and_write, plan_finetune, plan_net, plan_solver, plan_start, write

    opts = FinetuneOptions(net=str(FIX / "lenet_train_val.prototxt"), deploy=str(FIX / "lenet_deploy.prototxt"),
                           solver=str(FIX / "sgd_inv_solver.prototxt"), weights=("w.caffemodel",),
                           train_db="train_lmdb", val_db="val_lmdb", out="runs/script", mode="cpu",
                           freeze_through="conv1", max_iter=40, run_name="mine")
    net = plan_net(opts)
    solver = plan_solver(opts, net)
    start = plan_start(opts, net, solver)
    assert [l.name for l in net.net.layer][-3] == "ip2_mine" and solver.solver.max_iter == 40
    assert any("copied from the weights" in line for sec in start for line in sec.lines)
    plan = plan_finetune(opts)
    assert not (work / "runs" / "script").exists()  # the stages write nothing
    write(plan)
    assert main(["finetune", *opts.replace(out="runs/cli").to_argv()]) == 0
    for name in ("train_val.prototxt", "deploy.prototxt"):
        assert (work / "runs/script" / name).read_text() == (work / "runs/cli" / name).read_text()
    script_solver = (work / "runs/script/solver.prototxt").read_text().replace("runs/script", "runs/cli")
    assert script_solver == (work / "runs/cli/solver.prototxt").read_text()
    record = json.loads((work / "runs/cli/finetune.json").read_text())
    assert record["options"] == opts.replace(out="runs/cli").to_json()
    again = plan_and_write(opts.replace(out="runs/once"))
    assert (work / "runs/once/solver.prototxt").is_file() and again.options.out == str(work / "runs/once")


def test_one_call_plans_writes_and_trains(work, capsys):
    """``tunewiz.finetune(options)``: the copies of ``tunewiz finetune --train``, then the training on them."""
    import tunewiz
    from tunewiz.runs import layout

    opts = tunewiz.FinetuneOptions(net=str(FIX / "lenet_train_val.prototxt"),
                                   solver=str(FIX / "sgd_inv_solver.prototxt"), weights=("w.caffemodel",), train_db="train_lmdb", val_db="val_lmdb",
                                   out="runs/onecall", mode="cpu", max_iter=2, run_name="mine")
    plan = tunewiz.finetune(opts)
    out = work / "runs" / "onecall"
    assert plan.out_dir == out and (out / layout.SOLVER).is_file() and (out / layout.FINETUNE).is_file()
    kinds = [json.loads(line)["event"] for line in (out / layout.EVENTS).read_text().splitlines()]
    assert kinds[0] == "started" and kinds[-1] == "finished" and kinds.count("iteration") == 2
    assert list(out.glob("*_iter_2.caffemodel")), "snapshot_after_train writes the last weights"
    assert tunewiz.finetune(opts, train=False).out_dir == out  # the same copies again: nothing to replace
    with pytest.raises(tunewiz_error(), match="overwrite"):  # other copies: never replaced silently
        tunewiz.finetune(opts.replace(max_iter=3), train=False)


def tunewiz_error():
    from tunewiz.errors import TunewizError

    return TunewizError
