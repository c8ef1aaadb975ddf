"""Every head changed together (GoogLeNet's three), Accuracy top_k kept valid, on the real Model Zoo nets."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.recipe.helpers import make_db
from tunewiz.caffe.prototxt import read_net_text
from tunewiz.recipe.heads import change_heads, find_heads
from tunewiz.recipe.layers import RecipeError, layers_of

ZOO = Path(__file__).resolve().parents[1] / "fixtures" / "model_zoo"
HEADS = {"bvlc_googlenet": ["loss1/classifier", "loss2/classifier", "loss3/classifier"],
         "squeezenet_v1.1": ["conv10"], "bvlc_reference_caffenet": ["fc8"], "bvlc_alexnet": ["fc8"],
         "finetune_flickr_style": ["fc8_flickr"]}
TOP5 = {"bvlc_googlenet": ["loss1/top-5", "loss2/top-5", "loss3/top-5"], "squeezenet_v1.1": ["accuracy_top5"]}


@pytest.mark.parametrize("model", sorted(HEADS))
def test_every_head_that_feeds_a_loss_is_found(model):
    assert [h.name for h in find_heads(read_net_text(ZOO / model / "train_val.prototxt"))] == HEADS[model]


@pytest.mark.parametrize("model", sorted(HEADS))
def test_three_classes_rename_and_resize_every_head_and_drop_top5(model):
    tv = read_net_text(ZOO / model / "train_val.prototxt")
    dep = read_net_text(ZOO / model / "deploy.prototxt")
    plan = change_heads(tv, 3, run="new", deploy=dep)
    for old in HEADS[model]:
        layer = next(r for r in layers_of(tv) if r.name == f"{old}_new")
        assert layer.output_param().num_output == 3 and layer.multipliers() == [(10.0, 1.0), (20.0, 0.0)]
        assert not any(old in r.bottoms for r in layers_of(tv))  # every reader rewired
    names = {r.name for r in layers_of(tv)}
    for gone in TOP5.get(model, []):
        assert gone not in names and any(f"'{gone}' removed: top_k 5 with 3 classes" in l for l in plan.lines())
    main_head = HEADS[model][-1]
    deploy_layer = next(r for r in layers_of(dep) if r.name == f"{main_head}_new")
    assert deploy_layer.output_param().num_output == 3 and plan.warnings == []


def test_top_k_below_the_class_count_is_kept():
    tv = read_net_text(ZOO / "bvlc_googlenet" / "train_val.prototxt")
    plan = change_heads(tv, 10, run="r")
    assert sum(r.type == "Accuracy" for r in layers_of(tv)) == 6 and plan.accuracy == []


def test_named_heads_and_their_new_names_pair_up():
    tv = read_net_text(ZOO / "bvlc_googlenet" / "train_val.prototxt")
    plan = change_heads(tv, 3, outputs=("loss3/classifier",), renames=("cls3",))
    assert [h.new_name for h in plan.heads] == ["cls3"]
    with pytest.raises(RecipeError, match="--rename gives 1 name.* for 3 head"):
        change_heads(read_net_text(ZOO / "bvlc_googlenet" / "train_val.prototxt"), 3, renames=("one",))


@pytest.mark.parametrize("model", sorted(HEADS))
def test_plan_net_of_a_three_class_finetune(model, tmp_path, monkeypatch):
    """The whole net stage on each real train_val (3x256x256 records, ImageNet mean values)."""
    from tunewiz.recipe.finetune import plan_net
    from tunewiz.recipe.options import FinetuneOptions

    monkeypatch.chdir(tmp_path)
    make_db(tmp_path / "train_lmdb", [0, 1, 2] * 2, shape=(3, 256, 256))
    make_db(tmp_path / "val_lmdb", [0, 1, 2], shape=(3, 256, 256), seed=1)
    opts = FinetuneOptions(net=str(ZOO / model / "train_val.prototxt"), deploy=str(ZOO / model / "deploy.prototxt"),
                           train_db="train_lmdb", val_db="val_lmdb", out="run", mean_value=(104, 117, 123))
    net = plan_net(opts)
    text = "\n".join(line for sec in net.sections for line in sec.lines)
    for old in HEADS[model]:
        assert f"'{old}' renamed '{old}_run'" in text
    assert all(r.msg.data_param.source == str(tmp_path / ("train_lmdb" if r.in_phase(0) else "val_lmdb"))
               for r in layers_of(net.net) if r.type == "Data")


def test_a_net_frozen_everywhere_is_refused_in_the_plan(tmp_path, monkeypatch):
    """Every lr_mult 0 in the source and --keep-lr-mult: the net stage says nothing would learn."""
    import re

    from tunewiz.engine.checks.learning import NothingToLearn
    from tunewiz.recipe.finetune import plan_net
    from tunewiz.recipe.options import FinetuneOptions

    monkeypatch.chdir(tmp_path)
    text = (ZOO.parent / "recipe" / "lenet_train_val.prototxt").read_text()
    (tmp_path / "frozen.prototxt").write_text(re.sub(r"lr_mult: [0-9.]+", "lr_mult: 0", text))
    make_db(tmp_path / "train_lmdb", [0, 1, 2] * 2, shape=(1, 28, 28))
    make_db(tmp_path / "val_lmdb", [0, 1, 2], shape=(1, 28, 28), seed=1)
    opts = FinetuneOptions(net="frozen.prototxt", train_db="train_lmdb", val_db="val_lmdb", out="run",
                           keep_lr_mult=True)
    with pytest.raises(NothingToLearn, match="depends on nothing that learns.*has lr_mult 0"):
        plan_net(opts)


def test_a_head_sharing_its_weights_cannot_be_resized():
    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.prototxt import parse_text

    net = parse_text('''name: "siamese"
layer { name: "data" type: "DummyData" top: "a" top: "b" top: "label"
  dummy_data_param { shape { dim: 2 dim: 4 } shape { dim: 2 dim: 4 } shape { dim: 2 } } }
layer { name: "ip" type: "InnerProduct" bottom: "a" top: "fa" param { name: "w" } param { name: "bias" }
  inner_product_param { num_output: 5 } }
layer { name: "ip_p" type: "InnerProduct" bottom: "b" top: "fb" param { name: "w" } param { name: "bias" }
  inner_product_param { num_output: 5 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fa" bottom: "label" top: "loss" }
''', caffe_pb2.NetParameter())
    with pytest.raises(RecipeError, match="head 'ip' shares its weights .* with ip_p"):
        change_heads(net, 3)


def test_the_kept_mean_must_exist_and_is_named_absolutely(tmp_path, monkeypatch):
    """Model Zoo train_vals name Caffe's data/ilsvrc12/imagenet_mean.binaryproto: missing, the plan says how to
    give it; present, the copy names it by its absolute path (training may run from anywhere)."""
    import numpy as np

    from tunewiz.caffe.binaryproto import write_blob
    from tunewiz.recipe.finetune import plan_net
    from tunewiz.recipe.options import FinetuneOptions

    monkeypatch.chdir(tmp_path)
    make_db(tmp_path / "t", [0, 1, 2] * 2, shape=(3, 256, 256))
    make_db(tmp_path / "v", [0, 1, 2], shape=(3, 256, 256), seed=1)
    opts = FinetuneOptions(net=str(ZOO / "bvlc_reference_caffenet" / "train_val.prototxt"), train_db="t",
                           val_db="v", out="run")
    with pytest.raises(RecipeError, match="subtracts mean_file data/ilsvrc12/imagenet_mean.binaryproto, which is "
                                          "not here.*--mean-value"):
        plan_net(opts)
    (tmp_path / "data" / "ilsvrc12").mkdir(parents=True)
    write_blob(tmp_path / "data/ilsvrc12/imagenet_mean.binaryproto", np.full((1, 3, 256, 256), 110, np.float32))
    net = plan_net(opts)
    means = {r.msg.transform_param.mean_file for r in layers_of(net.net) if r.type == "Data"}
    assert means == {str(tmp_path / "data/ilsvrc12/imagenet_mean.binaryproto")}
