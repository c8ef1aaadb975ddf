"""pycaffe's ``Net.forward`` of a deploy net on the prepared inference path: the values (the layer-by-layer
pass's within 1e-5), every blob there when read, weights written through numpy arrays seen, and nets that
need a backward left on the recording pass."""
import numpy as np
import pytest

import tunewiz
from tunewiz.pycaffe import mode
from tunewiz.sample_models import LENET_DIGITS

DEPLOY = str(LENET_DIGITS / "lenet_deploy.prototxt")
WEIGHTS = str(LENET_DIGITS / "lenet_digits04.caffemodel")
BLOBS = ["data", "conv1", "pool1", "conv2", "pool2", "ip1", "ip2", "prob"]


@pytest.fixture
def net():
    return tunewiz.Net(DEPLOY, WEIGHTS, tunewiz.TEST)


def _digits(n=1, seed=0):
    return np.random.default_rng(seed).random((n, 1, 20, 20), dtype=np.float32)


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
    x = _digits()
    out = net.forward(data=x)
    assert "_prepared" in net._engine.__dict__
    want = _exact(x, monkeypatch)
    _near(out["prob"], want["prob"])
    for name in BLOBS:
        _near(net.blobs[name].data, want[name])


def test_an_array_taken_before_sees_the_values_after_and_an_unread_blob_the_last_pass(net, monkeypatch):
    before = net.blobs["ip1"].data
    net.forward(data=_digits(seed=1))
    net.forward(data=_digits(seed=2))
    want = _exact(_digits(seed=2), monkeypatch)
    _near(before, want["ip1"])
    _near(net.blobs["conv2"].data, want["conv2"])


def test_writing_the_input_after_a_pass_changes_no_stored_blob(net, monkeypatch):
    x = _digits(seed=3)
    net.forward(data=x)
    net.blobs["data"].data[...] = 0.0
    want = _exact(x, monkeypatch)
    _near(net.blobs["conv1"].data, want["conv1"])


def test_weights_written_through_numpy_are_seen_by_the_next_forward(net, monkeypatch):
    x = _digits(seed=4)
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
    net.forward(data=_digits())
    assert "_prepared" not in net._engine.__dict__
    monkeypatch.setitem(mode._state, "forward_numerics", "torch")
    net.forward(data=_digits(), end="ip1")
    assert "_prepared" not in net._engine.__dict__
    with pytest.raises(Exception, match="'caffe' or 'torch'"):
        tunewiz.set_forward_numerics("fast")


def test_a_net_with_force_backward_records_its_pass(tmp_path):
    text = open(DEPLOY).read()
    path = tmp_path / "deploy.prototxt"
    path.write_text("force_backward: true\n" + text)
    net = tunewiz.Net(str(path), WEIGHTS, tunewiz.TEST)
    net.forward(data=_digits())
    assert "_prepared" not in net._engine.__dict__
    net.blobs["prob"].diff[...] = 1.0
    assert np.abs(net.backward()["data"]).sum() > 0
