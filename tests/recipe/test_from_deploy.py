"""A model released as deploy + weights only: tunewiz writes its train_val and solver, then trains it."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.recipe.helpers import make_caffemodel, make_db
from tunewiz.caffe.prototxt import read_net_text, read_solver_text
from tunewiz.cli import main
from tunewiz.recipe.layers import layers_of

FIX = Path(__file__).resolve().parents[1] / "fixtures"
ZOO = FIX / "model_zoo"


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_db(tmp_path / "train_lmdb", [0, 1, 2] * 4, shape=(1, 19, 19))
    make_db(tmp_path / "val_lmdb", [0, 1, 2] * 2, shape=(1, 19, 19), seed=1)
    make_caffemodel(tmp_path / "w.caffemodel")
    return tmp_path


def _finetune(deploy, *extra):
    return main(["finetune", "--net", str(deploy), "--weights", "w.caffemodel", "--train-db", "train_lmdb",
                 "--val-db", "val_lmdb", "--out", "run", "--mode", "cpu", *extra])


def test_a_v1_deploy_with_input_dim_gets_a_train_val_and_a_solver_and_trains(work, capsys):
    assert _finetune(FIX / "recipe" / "lenet_v1_deploy.prototxt", "--mean-value", "0", "--scale", "0.00390625",
                     "--max-iter", "6", "--train") == 0
    out = capsys.readouterr()
    tv = read_net_text(work / "run" / "train_val.prototxt")
    types = [l.type for l in tv.layer]
    assert types[:2] == ["Data", "Data"] and types[-2:] == ["SoftmaxWithLoss", "Accuracy"]
    assert "Softmax" not in types and "Input" not in types
    assert tv.layer[0].data_param.batch_size == 12 and tv.layer[1].data_param.batch_size == 6
    tp = tv.layer[0].transform_param
    assert list(tp.mean_value) == [0.0] and tp.scale == pytest.approx(1 / 256) and not tp.crop_size
    dep = read_net_text(work / "run" / "deploy.prototxt")
    assert any(l.name == "ip2_run" for l in layers_of(dep)) and len(dep.input_dim) == 4  # still a V1 deploy
    s = read_solver_text(work / "run" / "solver.prototxt")
    assert s.type == "SGD" and s.momentum == pytest.approx(0.9) and s.base_lr == pytest.approx(0.001)
    assert s.lr_policy == "step" and s.max_iter == 6 and list(s.test_iter) == [1]
    assert "solver written from Caffe's fine-tuning defaults" in out.out
    assert (work / "run" / "run_iter_6.caffemodel").is_file()
    assert "Test net output #0: accuracy" in out.err


@pytest.mark.parametrize("net, records, says", [
    ("model_zoo/lenet_mnist/lenet.prototxt", (1, 19, 19), "the deploy takes 28x28 images, the records are 19x19"),
    ("model_zoo/lenet_mnist/lenet.prototxt", (3, 28, 28), "takes 1 channel(s), the records have 3"),
])
def test_data_the_deploy_cannot_take_is_one_line(work, capsys, net, records, says):
    make_db(work / "other_lmdb", [0, 1, 2] * 2, shape=records)
    assert main(["finetune", "--net", str(FIX / net), "--weights", "w.caffemodel", "--train-db", "other_lmdb",
                 "--val-db", "other_lmdb", "--out", "run", "--mean-value", "0"]) != 0
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err and not (work / "run").exists()


def test_a_deploy_without_the_preprocessing_asks_for_it(work, capsys):
    assert _finetune(FIX / "recipe" / "lenet_v1_deploy.prototxt") != 0
    err = capsys.readouterr().err
    assert "is a deploy file" in err and "--mean-value 104,117,123" in err and "--mean-file" in err


def test_neither_deploy_nor_train_val_is_named(work, capsys):
    (work / "odd.prototxt").write_text('name: "odd" layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" '
                                       'inner_product_param { num_output: 2 } }')
    assert _finetune(work / "odd.prototxt", "--mean-value", "0") != 0
    assert "neither a train_val" in capsys.readouterr().err


def test_a_deploy_that_is_not_a_classifier_is_refused(work, capsys):
    (work / "seg.prototxt").write_text(
        'name: "seg" layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 19 '
        'dim: 19 } } } layer { name: "score" type: "Convolution" bottom: "data" top: "score" '
        'convolution_param { num_output: 3 kernel_size: 3 } }')
    assert _finetune(work / "seg.prototxt", "--mean-value", "0") != 0
    assert "a map, not one score per class" in capsys.readouterr().err


@pytest.mark.parametrize("model, side, logits", [("squeezenet_v1.1", 227, "pool10"),
                                                 ("bvlc_googlenet", 224, "loss3/classifier")])
def test_zoo_deploys_get_a_cropping_train_val(tmp_path, monkeypatch, model, side, logits):
    from tunewiz.recipe.finetune import plan_net
    from tunewiz.recipe.options import FinetuneOptions

    monkeypatch.chdir(tmp_path)
    make_db(tmp_path / "t", [0, 1, 2] * 2, shape=(3, 256, 256))
    make_db(tmp_path / "v", [0, 1, 2], shape=(3, 256, 256), seed=1)
    net = plan_net(FinetuneOptions(net=str(ZOO / model / "deploy.prototxt"), train_db="t", val_db="v", out="r",
                                   mean_value=(104, 117, 123)))
    assert net.from_deploy and net.deploy is not None
    train = net.net.layer[0]
    assert train.transform_param.crop_size == side and train.transform_param.mirror
    assert not net.net.layer[1].transform_param.mirror
    loss = next(l for l in net.net.layer if l.type == "SoftmaxWithLoss")
    assert loss.bottom[1] == "label" and loss.bottom[0].startswith(logits.split("/")[0])


def test_a_resnet_style_deploy_with_batchnorm_and_scale_trains(tmp_path, monkeypatch, capsys):
    """Deploy-only, BatchNorm/Scale, pretrained weights written by tunewiz itself: plan, write, train."""
    import torch

    from tests.recipe.resnet_style import resnet_deploy
    from tunewiz.caffe.prototxt import parse_text
    from tunewiz.caffe import caffe_pb2
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import save_caffemodel

    monkeypatch.chdir(tmp_path)
    (tmp_path / "deploy.prototxt").write_text(resnet_deploy())
    net = Net(parse_text(resnet_deploy(), caffe_pb2.NetParameter()), "TEST", device="cpu")
    for layer in net.layers:  # pretrained-like statistics: variance 1, scale factor 1 (zeros would blow up)
        if layer.param.type == "BatchNorm":
            with torch.no_grad():
                layer.blobs[1].fill_(1.0), layer.blobs[2].fill_(1.0)
    save_caffemodel(net, tmp_path / "resnet.caffemodel")
    net.close()
    make_db(tmp_path / "t", [0, 1, 2] * 4, shape=(3, 36, 36))
    make_db(tmp_path / "v", [0, 1, 2] * 2, shape=(3, 36, 36), seed=1)
    assert main(["finetune", "--net", "deploy.prototxt", "--weights", "resnet.caffemodel", "--train-db", "t",
                 "--val-db", "v", "--out", "run", "--mode", "cpu", "--mean-value", "104,117,123", "--scale",
                 "0.017", "--train"]) == 0
    out = capsys.readouterr()
    tv = read_net_text(tmp_path / "run" / "train_val.prototxt")
    assert tv.layer[0].transform_param.crop_size == 32 and tv.layer[0].transform_param.mirror
    assert [l.name for l in tv.layer if l.type == "InnerProduct"] == ["fc1000_run"]
    assert "copied from the weights: conv1, bn_conv1, scale_conv1" in out.out
    assert "Test net output #0: accuracy" in out.err and (tmp_path / "run" / "run_iter_20.caffemodel").is_file()


def test_mean_values_for_other_channels_are_refused_in_the_plan(work, capsys):
    """Three ImageNet means for a gray deploy: Caffe would stop at the first batch; the plan says it first."""
    assert _finetune(FIX / "recipe" / "lenet_v1_deploy.prototxt", "--mean-value", "104,117,123") != 0
    err = capsys.readouterr().err
    assert "the deploy takes 1 channel(s), so give 1 value or 1" in err and "Traceback" not in err
    assert not (work / "run").exists()


def test_a_model_folder_with_a_deploy_only(work, capsys):
    """--model on a folder released as deploy + caffemodel: the deploy is the net, train_val and solver written."""
    import shutil

    zoo = work / "zoo"
    zoo.mkdir()
    shutil.copy(FIX / "recipe" / "lenet_v1_deploy.prototxt", zoo / "deploy.prototxt")
    shutil.copy(work / "w.caffemodel", zoo / "w.caffemodel")
    assert main(["finetune", "--model", "zoo", "--train-db", "train_lmdb", "--val-db", "val_lmdb", "--out", "run",
                 "--mode", "cpu", "--mean-value", "0", "--scale", "0.00390625"]) == 0
    assert "train_val written from the deploy" in capsys.readouterr().out
    assert [l.type for l in read_net_text(work / "run" / "train_val.prototxt").layer][:2] == ["Data", "Data"]
    assert read_solver_text(work / "run" / "solver.prototxt").lr_policy == "step"
