"""``tunewiz.Net`` as pycaffe's ``caffe.Net``: construction, blobs and params bound to the net, forward,
weights in and out, and real Caffe's numbers (``tests/fixtures/engine``: pycaffe's blobs of the LeNet
deploy net at batch 4, see the README of ``../shared/caffe-reference``, ``formats/forward/``); a deploy's
forward on the prepared inference path: its values, every blob there when read, weights written through
numpy arrays seen, nets that need a backward left on the recording pass."""
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

import tunewiz
from tunewiz.caffe.netio import read_net
from tunewiz.engine.net.net import Net as EngineNet
from tunewiz.engine.net.weights import copy_trained_layers
from tunewiz.pycaffe import mode
from tunewiz.sample_models import LENET_DIGITS

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "engine"
DEPLOY = str(LENET_DIGITS / "lenet_deploy.prototxt")
WEIGHTS = str(LENET_DIGITS / "lenet_digits04.caffemodel")
BLOBS = ["data", "conv1", "pool1", "conv2", "pool2", "ip1", "ip2", "prob"]


@pytest.fixture
def net():
    return tunewiz.Net(DEPLOY, WEIGHTS, tunewiz.TEST)


def _digits(n=3, seed=0):
    return np.random.default_rng(seed).random((n, 1, 20, 20), dtype=np.float32)


def test_blobs_layers_and_params_in_caffes_order(net):
    assert isinstance(net.blobs, OrderedDict) and list(net.blobs) == BLOBS == net._blob_names
    assert net._layer_names == ["data", "conv1", "pool1", "conv2", "pool2", "ip1", "relu1", "ip2", "prob"]
    assert [layer.type for layer in net.layers][:3] == ["Input", "Convolution", "Pooling"]
    assert net.layer_dict["conv1"] is net.layers[1] and net.layers[1].blobs[0] is net.params["conv1"][0]
    assert net.blobs["conv1"].shape == (1, 20, 16, 16) and net.blobs["ip2"].shape == (1, 5)
    assert {k: [b.shape for b in v] for k, v in net.params.items()} == {
        "conv1": [(20, 1, 5, 5), (20,)], "conv2": [(50, 20, 5, 5), (50,)], "ip1": [(100, 200), (100,)],
        "ip2": [(5, 100), (5,)]}
    assert net.inputs == ["data"] and net.outputs == ["prob"]
    assert net.top_names["relu1"] == ["ip1"] and net.bottom_names["ip2"] == ["ip1"]
    assert set(net.blob_loss_weights.values()) == {0.0} and list(net.blob_loss_weights) == BLOBS


def test_signatures():
    a = tunewiz.Net(DEPLOY, tunewiz.TEST, weights=WEIGHTS)
    b = tunewiz.Net(DEPLOY, phase=tunewiz.TEST, weights=WEIGHTS)
    c = tunewiz.Net(DEPLOY, WEIGHTS, tunewiz.TEST)
    assert all((n.params["ip2"][0].data == c.params["ip2"][0].data).all() for n in (a, b))
    with pytest.raises(TypeError, match="phase is required"):
        tunewiz.Net(DEPLOY)
    with pytest.raises(TypeError, match="weights given twice"):
        tunewiz.Net(DEPLOY, WEIGHTS, tunewiz.TEST, weights=WEIGHTS)


def test_writing_data_changes_the_next_forward(net):
    x = _digits(1)
    out = net.forward(data=x)["prob"].copy()
    net.blobs["data"].data[...] = 0
    assert not np.allclose(net.forward()["prob"], out)
    data = net.blobs["data"].data  # an array kept by the script stays bound
    data[...] = x
    assert np.array_equal(net.forward()["prob"], out)


def test_params_are_bound(net):
    x = _digits(1)
    before = net.forward(data=x)["ip2"].copy() if "ip2" in net.outputs else None
    net.forward(data=x, blobs=["ip2"])
    ip2 = net.blobs["ip2"].data.copy()
    weights = net.params["ip2"][1].data
    weights[...] += 1.0  # the bias, through an array taken before the forward
    assert before is None and np.allclose(net.forward(blobs=["ip2"])["ip2"], ip2 + 1.0, atol=1e-5)
    net.params["conv1"][0].data[...] = 0
    net.params["conv1"][1].data[...] = 0
    net.forward()
    assert not net.blobs["conv1"].data.any()


def test_forward_end_stops_there(net):
    net.blobs["ip1"].data[...] = 123.0
    out = net.forward(data=_digits(1), end="conv1")
    assert list(out) == ["conv1"] and out["conv1"].shape == (1, 20, 16, 16)
    assert (net.blobs["ip1"].data == 123.0).all()  # not reached
    rest = net.forward(start="pool1")
    assert list(rest) == ["prob"] and np.isclose(rest["prob"].sum(), 1.0)


def test_reshape_then_forward_a_batch(net):
    net.blobs["data"].reshape(3, 1, 20, 20)
    net.reshape()
    assert net.blobs["prob"].shape == (3, 5) and net.blobs["conv1"].shape == (3, 20, 16, 16)
    x = _digits(3)
    batch = net.forward(data=x)["prob"].copy()
    net.blobs["data"].reshape(1, 1, 20, 20)
    single = net.forward(data=x[1:2])["prob"]
    assert np.allclose(batch[1], single[0], atol=1e-6)
    with pytest.raises(RuntimeError, match="batch of 1"):
        net.forward(data=x)
    with pytest.raises(RuntimeError, match="do not match net inputs"):
        net.forward(image=x[:1])


def test_forward_all_pads_and_cuts(net):
    x = _digits(5)
    out = net.forward_all(data=x, blobs=["ip1"])
    assert out["prob"].shape == (5, 5) and out["ip1"].shape == (5, 100)
    one = [net.forward(data=x[i:i + 1])["prob"][0].copy() for i in range(5)]
    assert np.allclose(out["prob"], np.stack(one), atol=1e-6)


def test_same_outputs_as_the_engine_net_and_tunewiz_forward(net, monkeypatch):
    """``tunewiz forward --numerics caffe`` runs the engine's Net with Caffe's CPU order; pycaffe's Net with
    ``set_forward_numerics("caffe")`` gives the same bits, and by default (the prepared path) the same values
    within 1e-5 of each blob's largest."""
    engine = EngineNet(read_net(DEPLOY), "TEST", numerics="caffe")
    copy_trained_layers(engine, WEIGHTS)
    x = _digits(1, seed=4)
    with torch.no_grad():
        want = engine.forward({"data": torch.from_numpy(x)})
    net.forward(data=x)
    for name in BLOBS:
        got, ref = net.blobs[name].data, want[name].numpy()
        assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max() + 1e-6, name
    monkeypatch.setitem(mode._state, "forward_numerics", "caffe")
    net.forward(data=x)
    for name in BLOBS:
        assert np.array_equal(net.blobs[name].data, want[name].numpy()), name


def test_matches_caffe_at_batch_4():
    """pycaffe: reshape the V1 deploy net to batch 4, copy lenet_iter_10, forward (formats/forward/)."""
    ref = np.load(FIX / "blobs.npz")
    net = tunewiz.Net(str(FIX / "lenet_v1_deploy.upgraded.prototxt"), tunewiz.TEST,
                      weights=str(FIX / "lenet_iter_10.caffemodel"))
    net.blobs["data"].reshape(4, 1, 19, 19)
    net.reshape()
    net.blobs["data"].data[...] = np.load(FIX / "input.npy")
    net.forward()
    assert list(net.blobs) == ref.files
    for name in ref.files:
        np.testing.assert_allclose(net.blobs[name].data, ref[name], rtol=1e-4, atol=1e-6, err_msg=name)
    conv1 = net.forward(end="conv1")["conv1"]
    np.testing.assert_allclose(conv1, ref["conv1"], rtol=1e-4, atol=1e-6)


def test_save_round_trips(net, tmp_path):
    net.params["ip2"][0].data[...] *= 2
    path = tmp_path / "saved.caffemodel"
    net.save(str(path))
    again = tunewiz.Net(DEPLOY, tunewiz.TEST, weights=str(path))
    for name, blobs in net.params.items():
        for mine, theirs in zip(blobs, again.params[name]):
            assert np.array_equal(mine.data, theirs.data), name
    x = _digits(1)
    assert np.array_equal(net.forward(data=x)["prob"], again.forward(data=x)["prob"])


def test_copy_from_and_share_with(net):
    fresh = tunewiz.Net(DEPLOY, tunewiz.TEST)
    view = fresh.params["conv1"][0].data
    fresh.copy_from(WEIGHTS)
    assert np.array_equal(view, net.params["conv1"][0].data)  # copied into the same memory
    other = tunewiz.Net(DEPLOY, tunewiz.TEST)
    other.share_with(net)
    net.params["ip2"][1].data[...] = 5
    assert (other.params["ip2"][1].data == 5).all()
    x = _digits(1)
    assert np.array_equal(other.forward(data=x)["prob"], net.forward(data=x)["prob"])


def test_bad_graphs_and_weights_are_runtime_errors(tmp_path):
    bad = tmp_path / "bad.prototxt"
    bad.write_text('layer { name: "ip" type: "InnerProduct" bottom: "nowhere" top: "ip" '
                   'inner_product_param { num_output: 2 } }\n')
    with pytest.raises(RuntimeError, match="nowhere"):
        tunewiz.Net(str(bad), tunewiz.TEST)
    with pytest.raises(RuntimeError):
        tunewiz.Net(str(tmp_path / "missing.prototxt"), tunewiz.TEST)
    wrong = str(FIX / "lenet_iter_10.caffemodel")  # 4 classes and 19x19 inputs: ip1/ip2 do not fit
    with pytest.raises(RuntimeError, match="shape mismatch"):
        tunewiz.Net(DEPLOY, wrong, tunewiz.TEST)
    with pytest.raises(RuntimeError, match="no layer 'conv9'"):
        tunewiz.Net(DEPLOY, tunewiz.TEST).forward(end="conv9")


def test_level_and_stages_choose_the_layers(tmp_path):
    path = tmp_path / "staged.prototxt"
    path.write_text('layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 } } }\n'
                    'layer { name: "deploy_only" type: "ReLU" bottom: "data" top: "r" include { stage: "deploy" } }\n'
                    'layer { name: "deep" type: "TanH" bottom: "data" top: "t" include { min_level: 2 } }\n')
    assert tunewiz.Net(str(path), tunewiz.TEST)._layer_names == ["in"]
    assert tunewiz.Net(str(path), tunewiz.TEST, stages=["deploy"])._layer_names == ["in", "deploy_only"]
    assert tunewiz.Net(str(path), phase=tunewiz.TRAIN, level=2)._layer_names == ["in", "deep"]
    assert tunewiz.Net(str(path), "TEST", level=2, stages=("deploy",)).outputs == ["r", "t"]


# -- a deploy's forward on the prepared inference path (tunewiz.pycaffe.fast) --------------------------------

def _near(got, want) -> None:
    """Within 1e-5 of the blob's largest value: the sums run in another order (oneDNN's), so a value that
    cancels to near zero can differ by more than 1e-5 of itself."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max() + 1e-6


def _exact(x, monkeypatch, surgery=None) -> dict:
    monkeypatch.setitem(mode._state, "forward_numerics", "caffe")
    other = tunewiz.Net(DEPLOY, WEIGHTS, tunewiz.TEST)
    if surgery:
        surgery(other)
    other.forward(data=x)
    monkeypatch.setitem(mode._state, "forward_numerics", "torch")
    return {name: other.blobs[name].data.copy() for name in BLOBS}


def test_a_deploy_forward_runs_prepared_and_every_blob_has_its_value(net, monkeypatch):
    x = _digits(1)
    out = net.forward(data=x)
    assert "_prepared" in net._engine.__dict__
    want = _exact(x, monkeypatch)
    _near(out["prob"], want["prob"])
    for name in BLOBS:
        _near(net.blobs[name].data, want[name])


def test_an_array_taken_before_sees_the_values_after_and_an_unread_blob_the_last_pass(net, monkeypatch):
    before = net.blobs["ip1"].data
    net.forward(data=_digits(1, seed=1))
    net.forward(data=_digits(1, seed=2))
    want = _exact(_digits(1, seed=2), monkeypatch)
    _near(before, want["ip1"])
    _near(net.blobs["conv2"].data, want["conv2"])


def test_writing_the_input_after_a_pass_changes_no_stored_blob(net, monkeypatch):
    x = _digits(1, seed=3)
    net.forward(data=x)
    net.blobs["data"].data[...] = 0.0
    want = _exact(x, monkeypatch)
    _near(net.blobs["conv1"].data, want["conv1"])


def test_weights_written_through_numpy_are_seen_by_the_next_forward(net, monkeypatch):
    x = _digits(1, seed=4)
    net.forward(data=x)
    weights = net.params["ip2"][0].data
    weights[...] *= -1.0
    out = net.forward(data=x)["prob"].copy()
    want = _exact(x, monkeypatch, lambda other: other.params["ip2"][0].data.__imul__(-1.0))
    _near(out, want["prob"])
    weights[...] *= -1.0  # the same array, written again after a pass
    _near(net.forward(data=x)["prob"], _exact(x, monkeypatch)["prob"])


def test_caffes_order_on_request_and_partial_passes_stay_layer_by_layer(net, monkeypatch):
    monkeypatch.setitem(mode._state, "forward_numerics", "caffe")
    net.forward(data=_digits(1))
    assert "_prepared" not in net._engine.__dict__
    monkeypatch.setitem(mode._state, "forward_numerics", "torch")
    net.forward(data=_digits(1), end="ip1")
    assert "_prepared" not in net._engine.__dict__
    with pytest.raises(Exception, match="'caffe' or 'torch'"):
        tunewiz.set_forward_numerics("fast")


def test_a_net_with_force_backward_records_its_pass(tmp_path):
    text = open(DEPLOY).read()
    path = tmp_path / "deploy.prototxt"
    path.write_text("force_backward: true\n" + text)
    net = tunewiz.Net(str(path), WEIGHTS, tunewiz.TEST)
    net.forward(data=_digits(1))
    assert "_prepared" not in net._engine.__dict__
    net.blobs["prob"].diff[...] = 1.0
    assert np.abs(net.backward()["data"]).sum() > 0
