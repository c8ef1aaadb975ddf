"""Changing the class count: rename, num_output, rewire (train_val AND deploy), lr_mult, filler."""
import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text, to_text
from tunewiz.recipe.classes import change_classes, check_class_count
from tunewiz.recipe.layers import RecipeError, layers_of
from tunewiz.recipe.output_layer import find_output_layer
from tests.recipe.conftest import FIX


def _layer(net, name):
    return next(r for r in layers_of(net) if r.name == name)


def test_same_edit_as_caffes_finetune_rename_file(net):
    """Our rename of ip2 -> ip2_new with 3 classes gives Caffe's own finetune_rename net."""
    tv = net("lenet_train_val.prototxt")
    plan = change_classes(tv, 3, new_name="ip2_new", mults=None)
    want = net("caffe_finetune_rename_train_val.prototxt")
    tv.name = want.name
    tv.layer[0].data_param.source, tv.layer[1].data_param.source = "data/train3_lmdb", "data/test3_lmdb"
    assert to_text(tv) == to_text(want)
    assert plan.renamed and "Ignoring source layer ip2" in plan.consequence
    assert sorted(plan.rewired) == ["train_val: accuracy (Accuracy) now reads 'ip2_new'",
                                    "train_val: loss (SoftmaxWithLoss) now reads 'ip2_new'"]
    # Caffe's own log of that net says exactly what the plan promises
    log = (FIX / "caffe_finetune_rename.log").read_text()
    assert log.count("Ignoring source layer ip2") == 2


def test_default_name_and_flickr_multipliers(net):
    tv = net("lenet_train_val.prototxt")
    plan = change_classes(tv, 5, run="digits")
    assert plan.new_name == "ip2_digits"
    ref = _layer(tv, "ip2_digits")
    assert ref.multipliers() == [(10.0, 1.0), (20.0, 0.0)]
    assert ref.msg.inner_product_param.num_output == 5
    assert ref.msg.inner_product_param.weight_filler.type == "xavier"  # sensible filler kept
    assert not any("ip2" in b for r in layers_of(tv) for b in r.bottoms if b != "ip2_digits")
    assert find_output_layer(tv).name == "ip2_digits"


def test_deploy_is_rewired_too(net):
    tv, dep = net("lenet_train_val.prototxt"), net("lenet_deploy.prototxt")
    plan = change_classes(tv, 5, run="digits", deploy=dep)
    prob = _layer(dep, "prob")
    assert prob.bottoms == ["ip2_digits"]
    assert _layer(dep, "ip2_digits").msg.inner_product_param.num_output == 5
    assert not _layer(dep, "ip2_digits").msg.param  # deploy gets no multipliers
    assert "deploy: prob (Softmax) now reads 'ip2_digits'" in plan.rewired


def test_v1_files_stay_v1(net):
    tv, dep = net("lenet_v1_train_val.prototxt"), net("lenet_v1_deploy.prototxt")
    plan = change_classes(tv, 3, run="x", deploy=dep)
    assert not tv.layer and not dep.layer
    ip = next(l for l in tv.layers if l.name == "ip2_x")
    assert list(ip.blobs_lr) == [10, 20] and list(ip.weight_decay) == [1, 0]
    assert ip.top == ["ip2_x"] and ip.inner_product_param.num_output == 3
    assert [list(l.bottom) for l in tv.layers if l.name in ("accuracy", "loss")] == [["ip2_x", "label"]] * 2
    assert list(next(l for l in dep.layers if l.name == "prob").bottom) == ["ip2_x"]
    assert "text" and "layers {" in to_text(tv)
    assert len(plan.rewired) == 3


def test_missing_or_constant_filler_becomes_gaussian(net):
    dep = net("lenet_deploy.prototxt")  # deploy has no fillers; use it as a train net
    plan = change_classes(dep, 3, run="r")
    ip = _layer(dep, "ip2_r").msg.inner_product_param
    assert (ip.weight_filler.type, ip.weight_filler.std) == ("gaussian", pytest.approx(0.01))
    assert ip.bias_filler.type == "constant"
    assert any("weight_filler" in c for c in plan.changes)


def test_kept_name_with_new_size_warns_mismatch(net):
    tv = net("lenet_train_val.prototxt")
    plan = change_classes(tv, 3, new_name="ip2")
    assert not plan.renamed and "shape mismatch" in plan.consequence
    assert plan.warnings
    # Caffe really fails that way (finetune_mismatch log)
    assert "rename the layer" in (FIX / "caffe_finetune_mismatch.log").read_text()


def test_kept_name_same_size_is_copied(net):
    tv = net("lenet_train_val.prototxt")
    plan = change_classes(tv, 4, new_name="ip2")
    assert "copied" in plan.consequence and not plan.warnings and not plan.rewired


@pytest.mark.parametrize("n", [0, -3, 1])
def test_bad_class_counts(n, net):
    """A given count below 2 is the flag's fault, never "the data" (issue 12: --classes 1 blamed the data)."""
    for call in (lambda: check_class_count(n), lambda: change_classes(net("lenet_train_val.prototxt"), n, run="r")):
        with pytest.raises(RecipeError) as info:
            call()
        assert f"--classes {n}: --classes must be at least 2" in str(info.value) and "data have" not in str(info.value)


def test_new_name_taken(net):
    with pytest.raises(RecipeError, match="already exists"):
        change_classes(net("lenet_train_val.prototxt"), 3, new_name="ip1")


def test_inplace_layer_on_output_is_rewired():
    text = """
    layer { name: "d" type: "Input" top: "data" top: "label" }
    layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" inner_product_param { num_output: 3 } }
    layer { name: "relu" type: "ReLU" bottom: "fc" top: "fc" }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
    """
    n = parse_text(text, caffe_pb2.NetParameter())
    change_classes(n, 2, run="r")
    assert list(n.layer[2].bottom) == ["fc_r"] and list(n.layer[2].top) == ["fc_r"]
    assert list(n.layer[3].bottom) == ["fc_r", "label"]
