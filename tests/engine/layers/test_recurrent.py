"""LSTMUnit, RNN and LSTM against real Caffe (tests/fixtures/layers_recurrent, made by its make_fixture.py).

Each case runs through test_layer_fidelity's ``check_case`` (forward, backward, param diffs; 1e-5
relative); beyond it: the hidden state Caffe carries from one forward to the next, Caffe's snapshots
of these layers loading and saving unchanged, a tunewiz-saved caffemodel giving in Caffe the forward
it gives here, shapes on 'meta', and the errors of a badly wired layer."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import tunewiz
from tests.engine.layers import test_layer_fidelity as fidelity
from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.caffemodel import load_weights
from tunewiz.caffe.prototxt import parse_text, read_net_text
from tunewiz.engine.layers import recurrent
from tunewiz.engine.layers.base import NetError
from tunewiz.engine.net.net import Net
from tunewiz.engine.net.weights import copy_trained_layers, save_caffemodel

HERE = Path(__file__).resolve().parents[2] / "fixtures" / "layers_recurrent"
INDEX = json.loads((HERE / "index.json").read_text())
CASES = [c["case"] for c in INDEX]
CARRY = [c["case"] for c in INDEX if c["carry"]]
ROUNDTRIP = ["lstm_static", "rnn_static"]


@pytest.fixture
def cases_here(monkeypatch):
    """test_layer_fidelity's helpers, reading this folder's cases."""
    monkeypatch.setattr(fidelity, "HERE", HERE)
    monkeypatch.setattr(fidelity, "CASES", CASES)


def _net(case: str, caffemodel: str | None = None) -> Net:
    net = Net(read_net_text(HERE / f"{case}.prototxt"), "TEST")
    copy_trained_layers(net, [HERE / (caffemodel or f"{case}.caffemodel")])
    return net


def _inputs(ref, prefix: str = "in/") -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: torch.from_numpy(ref[k]) for k in ref.files if k.startswith(prefix)}


@pytest.mark.parametrize("case", CASES)
def test_recurrent_layer_matches_caffe(case, cases_here):
    fidelity.check_case(case)


def test_the_recurrent_family_left_out_of_the_registry_fails_its_cases(cases_here, monkeypatch):
    fidelity.test_a_family_left_out_of_the_registry_fails_its_cases(recurrent, monkeypatch)


def test_the_cases_cover_every_recurrent_type_and_the_api_lists_them():
    covered = {layer.type for case in CASES for layer in read_net_text(HERE / f"{case}.prototxt").layer}
    assert {"LSTMUnit", "RNN", "LSTM"} <= covered
    assert {"LSTMUnit", "RNN", "LSTM"} <= set(tunewiz.layer_type_list())


@pytest.mark.parametrize("case", CARRY)
def test_the_hidden_state_carries_to_the_next_forward_as_in_caffe(case):
    """Caffe copies h_T (and c_T) into h_0 (c_0) before each forward: a 2nd forward whose cont starts
    at 1 continues from the 1st one's last state."""
    ref = np.load(HERE / f"{case}.npz")
    net = _net(case)
    with torch.no_grad():
        net.forward(_inputs(ref))
        second = net.forward(_inputs(ref, "in2/"))
    for key in [k for k in ref.files if k.startswith("top2/")]:
        fidelity._close(key, second[key[5:]].numpy(), ref[key])
    fresh = _net(case)
    with torch.no_grad():
        alone = fresh.forward(_inputs(ref, "in2/"))
    top = next(k[5:] for k in ref.files if k.startswith("top2/"))
    assert not np.allclose(alone[top].numpy(), ref[f"top2/{top}"], rtol=1e-3), "the carried state made no difference"


@pytest.mark.parametrize("case", ["lstm", "lstm_static_expose", "rnn_static"])
def test_caffes_snapshot_loads_and_saves_unchanged(case, tmp_path):
    net = _net(case)
    save_caffemodel(net, tmp_path / "saved.caffemodel")
    caffes, ours = load_weights(HERE / f"{case}.caffemodel"), load_weights(tmp_path / "saved.caffemodel")
    assert caffes.arrays().keys() == ours.arrays().keys()
    for name, arrays in caffes.arrays().items():
        assert [a.shape for a in arrays] == [a.shape for a in ours[name]]
        for want, got in zip(arrays, ours[name]):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("case", ROUNDTRIP)
def test_a_tunewiz_saved_caffemodel_gives_in_caffe_the_forward_it_gives_here(case, tmp_path):
    """CASE_tunewiz.caffemodel was written by tunewiz (its own fillers); Caffe loaded it and ran forward."""
    ref = np.load(HERE / f"{case}_tunewiz.npz")
    net = _net(case, f"{case}_tunewiz.caffemodel")
    for key in [k for k in ref.files if k.startswith("param/")]:
        _, layer, i = key.split("/")
        np.testing.assert_array_equal(net.layer_by_name(layer).blobs[int(i)].detach().numpy(), ref[key])
    with torch.no_grad():
        blobs = net.forward(_inputs(ref))
    for key in [k for k in ref.files if k.startswith("top/")]:
        fidelity._close(key, blobs[key[4:]].numpy(), ref[key])
    save_caffemodel(net, tmp_path / "again.caffemodel")
    again, committed = load_weights(tmp_path / "again.caffemodel"), load_weights(HERE / f"{case}_tunewiz.caffemodel")
    assert [(l.name, l.type, [b.data.shape for b in l.blobs]) for l in again.layers] == \
           [(l.name, l.type, [b.data.shape for b in l.blobs]) for l in committed.layers]


@pytest.mark.parametrize("entry", INDEX, ids=lambda e: e["case"])
def test_shapes_on_meta(entry):
    net = Net(read_net_text(HERE / f"{entry['case']}.prototxt"), "TEST", device="meta")
    for top, shape in entry["tops"].items():
        assert list(net.blob_shapes[top]) == shape
    ref = np.load(HERE / f"{entry['case']}.npz")
    for key in [k for k in ref.files if k.startswith("param/")]:
        _, layer, i = key.split("/")
        assert tuple(net.layer_by_name(layer).blobs[int(i)].shape) == ref[key].shape


def test_the_number_of_streams_may_change_between_forwards():
    """Caffe reshapes N (not T) at each forward; the carried state starts again at zeros."""
    ref = np.load(HERE / "lstm.npz")
    net = _net("lstm")
    inputs = {k: v[:, :1] for k, v in _inputs(ref).items()}
    with torch.no_grad():
        one = net.forward(inputs)["h"]
        net.forward(_inputs(ref))
    fidelity._close("h", one.numpy(), ref["top/h"][:, :1])


def test_training_an_lstm_follows_caffe(tmp_path, monkeypatch):
    """20 SGD iterations (momentum, weight decay) driven pycaffe's way, the state carried between them where
    cont starts at 1: the losses and final weights of real Caffe's run (train.npz)."""
    ref = np.load(HERE / "train.npz")
    monkeypatch.chdir(HERE)  # the solver names its net relative to the current folder, as in Caffe
    solver = tunewiz.SGDSolver("train_solver.prototxt")
    net = solver.net
    net.copy_from("train_init.caffemodel")
    losses = []
    for it in range(len(ref["losses"])):
        for name in ("x", "cont", "target"):
            net.blobs[name].data[...] = ref[f"{name}/{it}"]
        net.clear_param_diffs()
        losses.append(float(net.forward()["loss"]))
        net.backward()
        solver.apply_update()
    np.testing.assert_allclose(losses, ref["losses"], rtol=1e-4, atol=1e-6)
    for key in [k for k in ref.files if k.startswith("param/")]:
        _, layer, i = key.split("/")
        np.testing.assert_allclose(net.params[layer][int(i)].data, ref[key], rtol=1e-4, atol=1e-5, err_msg=key)


def _layer_net(layer: str, **inputs) -> caffe_pb2.NetParameter:
    text = "".join(f'layer {{ name: "in_{n}" type: "Input" top: "{n}" input_param {{ shape {{ '
                   + " ".join(f"dim: {d}" for d in s) + " } } }\n" for n, s in inputs.items())
    return parse_text(text + layer, caffe_pb2.NetParameter())


@pytest.mark.parametrize("layer, inputs, message", [
    ('layer { name: "l" type: "LSTM" bottom: "x" bottom: "cont" top: "h" recurrent_param { num_output: 0 } }',
     {"x": (3, 2, 4), "cont": (3, 2)}, "num_output must be positive"),
    ('layer { name: "l" type: "LSTM" bottom: "x" bottom: "cont" top: "h" recurrent_param { num_output: 2 } }',
     {"x": (3, 2, 4), "cont": (3, 1)}, r"cont has shape \[3, 1\]: it must be \[3, 2\]"),
    ('layer { name: "l" type: "RNN" bottom: "x" bottom: "cont" bottom: "h0" top: "o" top: "hT" '
     'recurrent_param { num_output: 2 expose_hidden: true } }',
     {"x": (3, 2, 4), "cont": (3, 2), "h0": (1, 2, 3)}, r"bottom h0 has shape \[1, 2, 3\]"),
    ('layer { name: "l" type: "RNN" bottom: "x" top: "o" recurrent_param { num_output: 2 } }',
     {"x": (3, 2, 4)}, "takes the bottoms x, cont"),
    ('layer { name: "l" type: "LSTMUnit" bottom: "c" bottom: "x" bottom: "cont" top: "c1" top: "h1" }',
     {"c": (1, 2, 3), "x": (1, 2, 8), "cont": (1, 2)}, "4 x the 3 of c_prev"),
])
def test_a_badly_wired_layer_is_one_clear_error(layer, inputs, message):
    with pytest.raises(NetError, match=f"layer 'l' .*{message}"):
        Net(_layer_net(layer, **inputs), "TEST", device="meta")
