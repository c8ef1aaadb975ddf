"""Backward as Caffe's: diffs into ``.diff`` of blobs (overwritten) and params (accumulated), checked against
torch autograd on the engine's Net and a finite difference; Caffe's Split blobs; nets with Data layers."""
from pathlib import Path

import numpy as np
import pytest
import torch

import tunewiz
from tunewiz.caffe.prototxt import read_net_text
from tunewiz.engine.net.net import Net as EngineNet
from tunewiz.sample_models import LENET_DIGITS

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "engine"
NET = """force_backward: true
layer { name: "in" type: "Input" top: "data" top: "label"
        input_param { shape { dim: 2 dim: 3 dim: 5 dim: 5 } shape { dim: 2 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "gaussian" std: 0.3 }
                            bias_filler { type: "gaussian" std: 0.1 } } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "ip" type: "InnerProduct" bottom: "conv" top: "ip"
        inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" loss_weight: 2 }
layer { name: "prob" type: "Softmax" bottom: "ip" top: "prob" }
"""


@pytest.fixture
def net(tmp_path):
    path = tmp_path / "net.prototxt"
    path.write_text(NET)
    tunewiz.set_random_seed(11)
    net = tunewiz.Net(str(path), tunewiz.TRAIN)
    rng = np.random.default_rng(1)
    net.blobs["data"].data[...] = rng.standard_normal((2, 3, 5, 5))
    net.blobs["label"].data[...] = [0, 2]
    return net


def _engine_grads(net, path):
    """d(2 * loss)/d(everything) by autograd on the engine's own Net with the same weights and inputs."""
    engine = EngineNet(read_net_text(path), "TRAIN")
    for name, blobs in net.params.items():
        for j, blob in enumerate(blobs):
            engine.layer_by_name(name).blobs[j].data.copy_(torch.from_numpy(blob.data))
    blobs = engine.forward({"data": torch.from_numpy(net.blobs["data"].data.copy()),
                            "label": torch.from_numpy(net.blobs["label"].data.copy())}, retain_grad=True)
    engine.loss(blobs).backward()
    return engine


def test_split_layers_and_blobs_as_caffe_names_them(net):
    assert net._layer_names == ["in", "conv", "relu", "ip", "ip_ip_0_split", "loss", "prob"]
    assert net._blob_names == ["data", "label", "conv", "ip", "ip_ip_0_split_0", "ip_ip_0_split_1", "loss", "prob"]
    assert net.layer_dict["ip_ip_0_split"].type == "Split"
    assert net.outputs == ["loss", "prob"] and net.blob_loss_weights["loss"] == 2.0
    assert net.blobs["loss"].diff == 2.0  # Caffe's SetLossWeights puts the weight in the top's diff


def test_backward_equals_autograd_of_the_engine(net, tmp_path):
    net.forward()
    diffs = net.backward()
    engine = _engine_grads(net, tmp_path / "net.prototxt")
    assert list(diffs) == ["data", "label"] and not diffs["label"].any()  # a loss never propagates to its labels
    np.testing.assert_allclose(diffs["data"], engine.diff_blobs["data"].grad.numpy(), rtol=1e-5, atol=1e-7)
    # the in-place blob holds the diff of its first version (the conv output), as Caffe's shared buffer
    np.testing.assert_allclose(net.blobs["conv"].diff, engine.diff_blobs["conv"].grad.numpy(), rtol=1e-5, atol=1e-7)
    for name, blobs in net.params.items():
        for j, blob in enumerate(blobs):
            want = engine.layer_by_name(name).blobs[j].grad.numpy()
            np.testing.assert_allclose(blob.diff, want, rtol=1e-5, atol=1e-7, err_msg=f"{name}/{j}")
    # each split top gets the diff of its own reader: prob's diff is 0, so the split's second top too
    assert not net.blobs["ip_ip_0_split_1"].diff.any() and net.blobs["ip_ip_0_split_0"].diff.any()


def test_backward_agrees_with_a_finite_difference(net):
    net.forward()
    net.backward()
    analytic = float(net.params["conv"][0].diff[1, 2, 0, 1])
    weight, eps, losses = net.params["conv"][0].data, 1e-2, []
    for step in (eps, -2 * eps):
        weight[1, 2, 0, 1] += step
        losses.append(2 * float(net.forward()["loss"]))
    weight[1, 2, 0, 1] += eps
    assert analytic == pytest.approx((losses[0] - losses[1]) / (2 * eps), rel=2e-2, abs=1e-4)


def test_param_diffs_accumulate_blob_diffs_are_overwritten(net):
    net.forward()
    once = {k: [b.diff.copy() for b in v] for k, v in net.params.items()}
    data = net.backward()["data"].copy()
    twice_data = net.backward()["data"]
    np.testing.assert_array_equal(twice_data, data)
    np.testing.assert_allclose(net.params["ip"][0].diff, 2 * (net.params["ip"][0].diff / 2), rtol=0)
    assert not any(b.any() for v in once.values() for b in v)  # nothing before the first backward
    first = net.params["conv"][0].diff.copy() / 2
    net.clear_param_diffs()
    assert not any(b.diff.any() for v in net.params.values() for b in v)
    net.backward()
    np.testing.assert_allclose(net.params["conv"][0].diff, first, rtol=1e-6, atol=1e-8)


def test_backward_with_top_diffs_and_end(net):
    net.forward()
    prob_diff = np.array([[1, 0, 0], [0, 0, 1]], np.float32)
    full = net.backward(loss=np.float32(0), prob=prob_diff)["data"].copy()
    assert full.any() and net.blobs["ip_ip_0_split_1"].diff.any() and not net.blobs["ip_ip_0_split_0"].diff.any()
    net.clear_param_diffs()
    net.blobs["data"].diff[...] = 0
    out = net.backward(end="ip", loss=np.float32(0), prob=prob_diff)
    assert list(out) == ["conv"] and out["conv"].any()
    assert not net.blobs["data"].diff.any() and not net.params["conv"][0].diff.any()  # below 'end': untouched
    assert net.params["ip"][0].diff.any()
    with pytest.raises(RuntimeError, match="do not match net outputs"):
        net.backward(prob=prob_diff)


def test_a_deploy_net_with_force_backward_gives_input_gradients(tmp_path):
    """Saliency as pycaffe users compute it: force_backward, a one-hot diff on prob, the data's diff."""
    path = tmp_path / "deploy.prototxt"
    path.write_text("force_backward: true\n" + (LENET_DIGITS / "lenet_deploy.prototxt").read_text())
    net = tunewiz.Net(str(path), tunewiz.TEST, weights=str(LENET_DIGITS / "lenet_digits04.caffemodel"))
    net.blobs["data"].reshape(2, 1, 20, 20)
    net.reshape()
    x = np.random.default_rng(2).random((3, 1, 20, 20), dtype=np.float32)
    onehot = np.eye(5, dtype=np.float32)[[0, 3, 4]]
    outs, diffs = net.forward_backward_all(data=x, prob=onehot)
    assert outs["prob"].shape == (3, 5) and diffs["data"].shape == (3, 1, 20, 20)
    engine = EngineNet(read_net_text(path), "TEST")
    from tunewiz.engine.net.weights import copy_trained_layers

    copy_trained_layers(engine, LENET_DIGITS / "lenet_digits04.caffemodel")
    blobs = engine.forward({"data": torch.from_numpy(x)}, retain_grad=True)
    (blobs["prob"] * torch.from_numpy(onehot)).sum().backward()
    np.testing.assert_allclose(diffs["data"], engine.diff_blobs["data"].grad.numpy(), rtol=1e-4, atol=1e-7)


def test_backward_before_forward_is_a_runtime_error(net):
    with pytest.raises(RuntimeError, match="forward"):
        net.backward()


@pytest.mark.parametrize("phase", ["TRAIN", "TEST"])
def test_a_train_val_with_data_layers(phase, monkeypatch):
    """Caffe resolves data sources against the working directory; its log at iteration 0 from init.caffemodel:
    train loss 1.40671 on the first batch, test accuracy 0.26 / loss 1.38622 over 2 batches of 25."""
    monkeypatch.chdir(FIX / "lenet")
    net = tunewiz.Net("train_val.prototxt", getattr(tunewiz, phase), weights=str(FIX / "training" / "init.caffemodel"))
    passes = [{k: float(v) for k, v in net.forward().items()} for _ in range(1 if phase == "TRAIN" else 2)]
    data_layer = net._layer_names[0]
    if phase == "TRAIN":
        assert passes[0]["loss"] == pytest.approx(1.40671, rel=5e-6)
        assert net.blobs["data"].shape == (16, 1, 19, 19)
    else:
        assert np.mean([p["accuracy"] for p in passes]) == pytest.approx(0.26, abs=1e-6)
        assert np.mean([p["loss"] for p in passes]) == pytest.approx(1.38622, rel=5e-6)
        assert f"label_{data_layer}_1_split_0" in net.blobs and f"label_{data_layer}_1_split" in net.layer_dict and "ip2_ip2_0_split_1" in net.blobs
    net.backward()
    assert net.params["conv1"][0].diff.any()


def test_backward_from_a_middle_layer_reads_that_layers_top_diff(net):
    """Caffe's BackwardFrom(start): the diff the top of 'ip' holds (here the full one, from a whole
    backward) is where the chain rule starts, so the data's diff comes out the same."""
    net.forward()
    full = net.backward()["data"].copy()
    net.blobs["data"].diff[...] = 0
    again = net.backward(start="ip")["data"]
    np.testing.assert_allclose(again, full, rtol=1e-6, atol=1e-9)
