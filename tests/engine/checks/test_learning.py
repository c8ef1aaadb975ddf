"""A net that cannot learn is refused before training: no loss (a deploy file), or a loss that no learning
parameter feeds (everything frozen, or the loss reads the data only)."""
from __future__ import annotations

import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text
from tunewiz.cli import main
from tunewiz.engine.checks.learning import NothingToLearn, check_can_learn
from tunewiz.engine.net.net import Net

DATA = """layer { name: "data" type: "DummyData" top: "data" top: "label"
  dummy_data_param { shape { dim: 4 dim: 3 } shape { dim: 4 } data_filler { type: "gaussian" } } }
"""
IP = """layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" LR
  inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
"""
LOSS = 'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }\n'
PROB = 'layer { name: "prob" type: "Softmax" bottom: "ip" top: "prob" }\n'
FROZEN = "param { lr_mult: 0 } param { lr_mult: 0 }"


def _net(text: str) -> Net:
    return Net(parse_text('name: "t"\n' + text, caffe_pb2.NetParameter()), "TRAIN", device="meta")


def test_a_net_that_learns_passes():
    check_can_learn(_net(DATA + IP.replace("LR", "") + LOSS))
    check_can_learn(_net(DATA + IP.replace("LR", "param { lr_mult: 0 } param { lr_mult: 1 }") + LOSS))


@pytest.mark.parametrize("text, says", [
    (DATA + IP.replace("LR", "") + PROB, ("has no loss layer", "deploy file", "SoftmaxWithLoss")),
    (DATA + IP.replace("LR", FROZEN) + LOSS, ("depends on nothing that learns", "ip) has lr_mult 0", "unfreeze")),
    (DATA + IP.replace("LR", "") + 'layer { name: "loss" type: "EuclideanLoss" bottom: "data" bottom: "data" '
     'top: "loss" }\n', ("no layer with parameters feeds it",)),
])
def test_a_net_that_cannot_learn_says_why(text, says):
    with pytest.raises(NothingToLearn) as info:
        check_can_learn(_net(text))
    for words in says:
        assert words in str(info.value)


def test_train_refuses_a_deploy_net_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deploy.prototxt").write_text('name: "d"\n' + DATA + IP.replace("LR", "") + PROB)
    (tmp_path / "solver.prototxt").write_text('net: "deploy.prototxt" base_lr: 0.01 lr_policy: "fixed" max_iter: 5 '
                                              'snapshot_prefix: "s"')
    assert main(["train", "-solver", "solver.prototxt", "-run_dir", "run"]) != 0
    err = capsys.readouterr().err
    assert "has no loss layer" in err and "Traceback" not in err
    assert not list(tmp_path.glob("s_iter_*"))  # nothing trained, nothing snapshotted
