"""Net building: NetState rules, wiring, errors naming the layer, loss weights, backward needs,
sharing, learnable_params, and a whole LeNet forward against real Caffe's blobs."""
from pathlib import Path

import numpy as np
import pytest
import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text, read_net_text
from tunewiz.engine.net.net import Net
from tunewiz.engine.net.state import make_state, state_meets_rule
from tunewiz.engine.layers.base import NetError, UnsupportedLayerError
from tunewiz.engine.net.weights import copy_trained_layers
from tunewiz.errors import TunewizError

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "engine"


def net_of(text: str, phase="TRAIN", **kw) -> Net:
    return Net(parse_text(text, caffe_pb2.NetParameter()), phase, **kw)


INPUT = 'layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 5 dim: 5 } } }\n'
IP = ('layer {{ name: "{n}" type: "InnerProduct" bottom: "{b}" top: "{t}" {extra} '
      'inner_product_param {{ num_output: 4 weight_filler {{ type: "gaussian" std: 0.5 }} }} }}\n')


def rule(text):
    return parse_text(text, caffe_pb2.NetStateRule())


def test_state_meets_rule_fields():
    state = make_state(caffe_pb2.NetParameter(), "TEST", level=2, stages=["deploy", "big"])
    assert state_meets_rule(state, rule("phase: TEST"))
    assert not state_meets_rule(state, rule("phase: TRAIN"))
    assert state_meets_rule(state, rule("min_level: 2 max_level: 2"))
    assert not state_meets_rule(state, rule("min_level: 3"))
    assert not state_meets_rule(state, rule("max_level: 1"))
    assert state_meets_rule(state, rule('stage: "deploy" stage: "big"'))
    assert not state_meets_rule(state, rule('stage: "small"'))
    assert not state_meets_rule(state, rule('not_stage: "big"'))
    assert state_meets_rule(state, rule('not_stage: "small"'))


def test_include_exclude_filtering():
    text = INPUT + IP.format(n="a", b="data", t="a", extra='include { phase: TRAIN }') \
        + IP.format(n="b", b="data", t="b", extra='exclude { phase: TRAIN }') \
        + IP.format(n="c", b="data", t="c", extra='include { stage: "x" } include { min_level: 1 }')
    assert [l.name for l in net_of(text, "TRAIN").layers] == ["in", "a"]
    assert [l.name for l in net_of(text, "TEST").layers] == ["in", "b"]
    assert [l.name for l in net_of(text, "TEST", stages=["x"]).layers] == ["in", "b", "c"]
    assert [l.name for l in net_of(text, "TEST", level=1).layers] == ["in", "b", "c"]
    both = INPUT + IP.format(n="a", b="data", t="a", extra="include { phase: TRAIN } exclude { phase: TEST }")
    with pytest.raises(TunewizError, match="'a'.*both include and exclude"):
        net_of(both)


def test_unknown_bottom_names_layer():
    with pytest.raises(NetError, match="layer 'a'.*bottom 'nope'"):
        net_of(INPUT + IP.format(n="a", b="nope", t="a", extra=""))


def test_bottom_of_excluded_layer_is_unknown():
    text = INPUT + IP.format(n="a", b="data", t="a", extra="include { phase: TEST }") \
        + IP.format(n="b", b="a", t="b", extra="")
    with pytest.raises(NetError, match="layer 'b'.*bottom 'a'.*this phase"):
        net_of(text, "TRAIN")


def test_top_made_twice():
    text = INPUT + IP.format(n="a", b="data", t="x", extra="") + IP.format(n="b", b="data", t="x", extra="")
    with pytest.raises(NetError, match="layer 'b'.*multiple sources"):
        net_of(text)


def test_unsupported_type_lists_supported():
    text = INPUT + 'layer { name: "roi" type: "ROIPooling" bottom: "data" top: "y" }'
    with pytest.raises(UnsupportedLayerError, match="(?si)'roi' has type 'ROIPooling'.*supported types:.*Convolution"):
        net_of(text)


def test_kernel_larger_than_padded_input():
    conv = INPUT + 'layer { name: "c1" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 2 kernel_size: 7 pad: 0 } }'
    with pytest.raises(NetError, match="layer 'c1'.*larger than the padded input"):
        net_of(conv)
    pool = INPUT + 'layer { name: "p1" type: "Pooling" bottom: "data" top: "p" pooling_param { pool: MAX kernel_size: 6 } }'
    with pytest.raises(NetError, match="layer 'p1'.*larger than the padded input"):
        net_of(pool)


def test_inner_product_input_size_changed():
    net = net_of(INPUT + IP.format(n="fc", b="data", t="fc", extra=""))
    net.forward({"data": torch.zeros(7, 3, 5, 5)})  # another batch size is fine
    with pytest.raises(NetError, match="layer 'fc'.*input size changed"):
        net.forward({"data": torch.zeros(2, 3, 6, 6)})


def test_outputs_are_sorted_and_inplace_counts():
    text = INPUT + IP.format(n="z", b="data", t="zz", extra="") + IP.format(n="a", b="data", t="aa", extra="") \
        + 'layer { name: "r" type: "ReLU" bottom: "aa" top: "aa" }'
    net = net_of(text)
    assert net.output_names == ["aa", "zz"]
    assert net.blob_shapes == {"data": (2, 3, 5, 5), "zz": (2, 4), "aa": (2, 4)}


def test_split_sums_gradients_and_loss_weights():
    text = 'force_backward: true\n' + INPUT \
        + 'layer { name: "p1" type: "Power" bottom: "data" top: "p1" power_param { scale: 3 } loss_weight: 2 }\n' \
        + 'layer { name: "p2" type: "Power" bottom: "data" top: "p2" power_param { power: 2 } loss_weight: 0.5 }\n'
    net = net_of(text)
    x = torch.randn(2, 3, 5, 5)
    blobs = net.forward({"data": x})
    loss = net.loss(blobs)
    torch.testing.assert_close(loss, 2 * (3 * x).sum() + 0.5 * (x * x).sum())
    loss.backward()
    torch.testing.assert_close(blobs["data"].grad, 6 + x)


def test_loss_layer_default_weight_and_no_input_grad_without_force_backward():
    text = INPUT + 'layer { name: "lbl" type: "Input" top: "label" input_param { shape { dim: 2 } } }\n' \
        + IP.format(n="fc", b="data", t="fc", extra="") \
        + 'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }\n'
    net = net_of(text)
    blobs = net.forward({"data": torch.randn(2, 3, 5, 5), "label": torch.tensor([1.0, 3.0])})
    assert net._loss_tops == [("loss", 1.0)]
    net.loss(blobs).backward()
    assert not blobs["data"].requires_grad
    assert net.layers[2].blobs[0].grad is not None


def test_propagate_down_false_stops_gradient():
    text = INPUT + IP.format(n="h", b="data", t="h", extra="") \
        + 'layer { name: "p" type: "Power" bottom: "h" top: "p" propagate_down: false loss_weight: 1 }\n' \
        + IP.format(n="fc", b="h", t="fc", extra="loss_weight: 1")
    net = net_of(text)
    blobs = net.forward({"data": torch.randn(2, 3, 5, 5)}, retain_grad=True)
    net.loss(blobs).backward()
    w = net.layer_by_name("fc").blobs[0]
    torch.testing.assert_close(blobs["h"].grad, w.sum(0).expand(2, 4).detach())
    # force_backward overrides propagate_down: false, as in Caffe
    forced = net_of("force_backward: true\n" + text)
    blobs = forced.forward({"data": torch.randn(2, 3, 5, 5)}, retain_grad=True)
    forced.loss(blobs).backward()
    w = forced.layer_by_name("fc").blobs[0]
    torch.testing.assert_close(blobs["h"].grad, (w.sum(0) + 1).expand(2, 4).detach())
    with pytest.raises(NetError, match="propagate_down"):
        net_of(INPUT + 'layer { name: "p" type: "Power" bottom: "data" top: "p" propagate_down: false propagate_down: true }')


def test_shared_params_and_learnable_params():
    shared = 'param { name: "w" lr_mult: 2 decay_mult: 0 }'
    text = INPUT + IP.format(n="a", b="data", t="a", extra=shared) + IP.format(n="b", b="data", t="b", extra='param { name: "w" }') \
        + IP.format(n="c", b="data", t="c", extra='param { lr_mult: 0 } param { lr_mult: 3 decay_mult: 4 }')
    net = net_of(text)
    a, b = net.layer_by_name("a"), net.layer_by_name("b")
    assert a.blobs[0] is b.blobs[0] and a.blobs[1] is not b.blobs[1]
    infos = [(i.layer_name, i.index, i.lr_mult, i.decay_mult) for i in net.learnable_params()]
    assert infos == [("a", 0, 2, 0), ("a", 1, 1, 1), ("b", 1, 1, 1), ("c", 0, 0, 1), ("c", 1, 3, 4)]
    assert not net.layer_by_name("c").blobs[0].requires_grad
    bad_shape = INPUT + IP.format(n="a", b="data", t="a", extra='param { name: "w" }') \
        + 'layer { name: "b" type: "InnerProduct" bottom: "data" top: "b" param { name: "w" } inner_product_param { num_output: 5 } }'
    with pytest.raises(NetError, match="Cannot share param 'w' owned by layer 'a' with layer 'b'; shape mismatch"):
        net_of(bad_shape)
    bad_lr = INPUT + IP.format(n="a", b="data", t="a", extra=shared) + IP.format(n="b", b="data", t="b", extra='param { name: "w" lr_mult: 1 }')
    with pytest.raises(NetError, match="Shared param 'w' has mismatched lr_mult"):
        net_of(bad_lr)


def test_batchnorm_blobs_are_learnable_entries_with_lr_mult_0():
    text = INPUT + 'layer { name: "bn" type: "BatchNorm" bottom: "data" top: "bn" }'
    infos = net_of(text).learnable_params()
    assert [(i.layer_name, i.index, i.lr_mult) for i in infos] == [("bn", 0, 0), ("bn", 1, 0), ("bn", 2, 0)]


@pytest.mark.parametrize("prototxt,weights", [("lenet_v1_deploy.upgraded.prototxt", "lenet_iter_10.caffemodel"),
                                              ("lenet_v1_deploy.prototxt", "lenet_v1.caffemodel")])
def test_lenet_deploy_forward_matches_caffe(prototxt, weights):
    x = torch.from_numpy(np.load(FIX / "input.npy"))
    net = Net(read_net_text(FIX / prototxt), "TEST")
    copy_trained_layers(net, FIX / weights)
    blobs = net.forward({"data": x})
    ref = np.load(FIX / "blobs.npz")
    for name in ref.files:
        np.testing.assert_allclose(blobs[name].detach().numpy(), ref[name], rtol=1e-5, atol=2e-6, err_msg=name)
    assert net.output_names == ["prob"]


def test_seed_makes_fillers_repeatable():
    text = INPUT + IP.format(n="a", b="data", t="a", extra="")
    w1 = net_of(text, seed=5).layers[1].blobs[0]
    w2 = net_of(text, seed=5).layers[1].blobs[0]
    assert torch.equal(w1, w2) and w1.abs().sum() > 0


@pytest.mark.parametrize("phase,want", [("TRAIN", {"loss": 1.40671}), ("TEST", {"accuracy": 0.26, "loss": 1.38622})])
def test_lenet_train_val_with_data_layers_matches_caffes_log(phase, want):
    """Caffe's log at iteration 0 from init.caffemodel: train loss 1.40671 on the first batch;
    test (2 batches of 25, averaged) accuracy 0.26, loss 1.38622."""
    net = Net(read_net_text(FIX / "lenet" / "train_val.prototxt"), phase, root=FIX / "lenet", seed=1701)
    copy_trained_layers(net, FIX / "training" / "init.caffemodel")
    with torch.no_grad():
        passes = [net.forward() for _ in range(1 if phase == "TRAIN" else 2)]
    net.close()
    for name, value in want.items():
        got = np.mean([p[name].item() for p in passes])
        assert abs(got - value) <= 5e-6 * max(1, abs(value)), (name, got, value)


def test_inplace_blob_diff_is_the_first_versions_gradient():
    """Caffe's in-place ReLU overwrites the blob's diff with the diff of its input, so after
    backward the blob 'h' holds d loss / d (ip output)."""
    text = INPUT + IP.format(n="h", b="data", t="h", extra="") \
        + 'layer { name: "r" type: "ReLU" bottom: "h" top: "h" }\n' \
        + 'layer { name: "p" type: "Power" bottom: "h" top: "p" power_param { scale: 3 } loss_weight: 1 }\n'
    net = net_of(text)
    blobs = net.forward({"data": torch.randn(2, 3, 5, 5)}, retain_grad=True)
    net.loss(blobs).backward()
    pre = net.diff_blobs["h"]
    torch.testing.assert_close(pre.grad, 3.0 * (pre > 0).float())
    assert net.output_names == ["p"]


def test_splits_are_named_and_weighted_as_caffes_insert_splits():
    """Caffe's names put the blob first (its logs: ``label_data_1_split_0``); a weighted top that other layers
    also read gets its weight on the split's first top and 0 on the others (``ConfigureSplitLayer``)."""
    from tunewiz.engine.net.graph import insert_splits

    text = ('layer { name: "data" type: "Input" top: "x" top: "label" '
            'input_param { shape { dim: 2 dim: 3 } shape { dim: 2 } } }\n'
            'layer { name: "p" type: "Power" bottom: "x" top: "p" loss_weight: 2 }\n'
            'layer { name: "q" type: "Eltwise" bottom: "p" bottom: "x" top: "q" }\n'
            'layer { name: "r" type: "Power" bottom: "p" top: "r" }\n')
    split, origin = insert_splits(parse_text(text, caffe_pb2.NetParameter()))
    assert [lp.name for lp in split.layer] == ["data", "x_data_0_split", "p", "p_p_0_split", "q", "r"]
    assert origin[3] == -1 and list(split.layer[4].bottom) == ["p_p_0_split_1", "x_data_0_split_1"]
    assert list(split.layer[3].top) == ["p_p_0_split_0", "p_p_0_split_1", "p_p_0_split_2"]
    assert list(split.layer[3].loss_weight) == [2.0, 0.0, 0.0] and not len(split.layer[2].loss_weight)
    two = text + 'layer { name: "s" type: "Power" bottom: "label" top: "s" }\n' \
        + 'layer { name: "t" type: "Power" bottom: "label" top: "t" }\n'
    split, _ = insert_splits(parse_text(two, caffe_pb2.NetParameter()))
    assert "label_data_1_split" in [lp.name for lp in split.layer]
    with pytest.raises(NetError, match="Unknown bottom blob 'y'"):
        insert_splits(parse_text(text.replace('bottom: "x"', 'bottom: "y"'), caffe_pb2.NetParameter()))
    net = net_of(text)
    x = torch.randn(2, 3)
    assert torch.allclose(net.loss(net.forward({"x": x, "label": torch.zeros(2)})), 2 * x.sum())


def test_a_loss_layer_without_a_top_gets_an_automatic_one_that_counts_in_the_loss():
    """Caffe's AutoTopBlobs: a SoftmaxWithLoss naming no top still trains (its loss counts), and its blob
    is no net output; the same net with the top named gives the same loss and gradients."""
    labels = 'layer { name: "lab" type: "Input" top: "label" input_param { shape { dim: 2 } } }\n'
    body = INPUT + labels + IP.format(n="ip", b="data", t="ip", extra="")
    auto = net_of(body + 'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" }', seed=3)
    named = net_of(body + 'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "l" }',
                   seed=3)
    assert auto.output_names == [] and named.output_names == ["l"]
    assert auto.automatic_tops == {"(automatic) loss"}
    inputs = {"data": torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(1)),
              "label": torch.tensor([1.0, 3.0])}
    losses, grads = [], []
    for net in (auto, named):
        loss = net.loss(net.forward(inputs))
        loss.backward()
        losses.append(float(loss.detach()))
        grads.append(net.layers[2].blobs[0].grad.clone())
    assert losses[0] == losses[1] > 0
    assert torch.equal(grads[0], grads[1]) and grads[0].abs().sum() > 0
    with pytest.raises(NetError, match="tops"):  # a layer that is no loss still has to name its tops
        net_of(INPUT + 'layer { name: "ip" type: "InnerProduct" bottom: "data" inner_product_param { num_output: 2 } }')
