"""Freeze through a layer: lr_mult 0 + decay_mult 0 up to X, the file's values after it."""
import pytest

from tunewiz.caffe.prototxt import to_text
from tunewiz.recipe.freeze import freeze_through, trainable_layers
from tunewiz.recipe.layers import RecipeError, clone, layers_of


def _mults(net, name):
    return next(r for r in layers_of(net) if r.name == name).multipliers()


def test_freeze_conv1_matches_caffes_sgd_lrmult_conv1(net):
    tv = net("lenet_train_val.prototxt")
    plan = freeze_through(tv, "conv1")
    want = net("caffe_sgd_lrmult_train_val.prototxt")
    got_conv1 = [l for l in tv.layer if l.name == "conv1"][0]
    want_conv1 = [l for l in want.layer if l.name == "conv1"][0]
    assert to_text(got_conv1) == to_text(want_conv1)
    assert plan.frozen == ["conv1"] and plan.trainable == ["conv2", "ip1", "ip2"]


def test_freeze_through_and_param_counts(net):
    tv = net("lenet_train_val.prototxt")
    counts = {"conv1": [500, 20], "conv2": [25000, 50], "ip1": [20000, 100], "ip2": [400, 4]}
    plan = freeze_through(tv, "conv2", param_counts=counts)
    assert plan.frozen == ["conv1", "conv2"]
    assert plan.trainable_params == 20000 + 100 + 400 + 4
    assert plan.total_params == sum(map(sum, counts.values()))
    assert trainable_layers(tv) == ["ip1", "ip2"]
    assert "20,504 of" in plan.summary()


def test_layer_without_params_freezes_what_comes_before(net):
    tv = net("lenet_train_val.prototxt")
    assert freeze_through(tv, "pool2").frozen == ["conv1", "conv2"]


def test_unfreeze_restores_the_files_values(net):
    src = net("caffe_sgd_lrmult_train_val.prototxt")  # ip2 has lr_mult 10/20, conv1 frozen
    tv = clone(src)
    freeze_through(tv, "ip1", reference=src)
    assert _mults(tv, "ip1") == [(0, 0), (0, 0)]
    plan = freeze_through(tv, "conv2", reference=src)  # move the cut back up
    assert _mults(tv, "ip1") == [(1, 1), (2, 1)]
    assert _mults(tv, "ip2") == [(10, 1), (20, 0)]
    assert [l for l in tv.layer if l.name == "ip1"][0].param[0].HasField("decay_mult") is False
    assert any("ip1: learning again" in c for c in plan.changes)


def test_v1_file_gets_blobs_lr_0(net):
    tv = net("lenet_v1_train_val.prototxt")
    freeze_through(tv, "conv1")
    conv1 = [l for l in tv.layers if l.name == "conv1"][0]
    assert list(conv1.blobs_lr) == [0, 0] and list(conv1.weight_decay) == [0, 0]
    assert "blobs_lr: 0" in to_text(conv1) and "lr_mult" not in to_text(tv)


def test_unknown_layer_is_a_clear_error(net):
    with pytest.raises(RecipeError, match="no layer of that name; did you mean conv2"):
        freeze_through(net("lenet_train_val.prototxt"), "conv3")


def test_freezing_everything_is_refused(net):
    with pytest.raises(RecipeError, match="nothing would learn"):
        freeze_through(net("lenet_train_val.prototxt"), "ip2")


def test_both_phase_copies_are_frozen():
    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.prototxt import parse_text
    text = """
    layer { name: "d" type: "Input" top: "data" }
    layer { name: "bn" type: "BatchNorm" bottom: "data" top: "bn" include { phase: TRAIN } }
    layer { name: "bn" type: "BatchNorm" bottom: "data" top: "bn" include { phase: TEST } }
    layer { name: "fc" type: "InnerProduct" bottom: "bn" top: "fc" inner_product_param { num_output: 2 } }
    """
    n = parse_text(text, caffe_pb2.NetParameter())
    plan = freeze_through(n, "bn")
    assert plan.frozen == ["bn"]
    assert [len(l.param) for l in n.layer] == [0, 3, 3, 0]


def test_v1_freeze_equals_freezing_caffes_upgrade(net):
    """Freezing the V1 file, then upgrading it, gives what freezing Caffe's own V2 upgrade of it gives."""
    from tunewiz.caffe.upgrade import upgrade_net_param

    v1 = net("lenet_v1_train_val.prototxt")
    freeze_through(v1, "conv1")
    ours = upgrade_net_param(v1)
    caffes = net("lenet_v1_train_val.upgraded.prototxt")  # written by Caffe's upgrade_net_proto_text
    freeze_through(caffes, "conv1")
    assert to_text(ours) == to_text(caffes)
