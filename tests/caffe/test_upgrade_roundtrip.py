"""Writing back in V1 form (downgrade_to_v1), and the netio readers/writers."""
from __future__ import annotations

from pathlib import Path

import pytest

from tunewiz.caffe import caffe_pb2, netio, prototxt
from tunewiz.caffe.downgrade_v1 import DowngradeError, downgrade_to_v1
from tunewiz.caffe.upgrade import upgrade_net_param
from tunewiz.errors import FormatError

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "upgrade"
V1_FILES = ["lenet_v1_train_val.prototxt", "lenet_v1_deploy.prototxt", "v0_net.prototxt"]


def upgraded_copy(net: caffe_pb2.NetParameter) -> caffe_pb2.NetParameter:
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    return upgrade_net_param(out)


@pytest.mark.parametrize("name", V1_FILES)
def test_v1_v2_v1_v2_round_trip(name):
    v2 = netio.read_net(FIX / name)
    v1 = downgrade_to_v1(v2)
    assert len(v1.layer) == 0 and len(v1.layers) > 0
    assert upgraded_copy(v1) == v2
    assert downgrade_to_v1(upgraded_copy(v1)) == v1


def test_downgrade_gives_back_the_users_deploy_file_exactly():
    original = prototxt.read_net_text(FIX / "lenet_v1_deploy.prototxt")
    assert downgrade_to_v1(netio.read_net(FIX / "lenet_v1_deploy.prototxt")) == original


def test_downgrade_of_train_val_differs_only_by_transform_param():
    original = prototxt.read_net_text(FIX / "lenet_v1_train_val.prototxt")
    v1 = downgrade_to_v1(netio.read_net(FIX / "lenet_v1_train_val.prototxt"))
    for ours, theirs in zip(v1.layers, original.layers):
        ours.ClearField("transform_param")
        if theirs.HasField("data_param"):
            for field in ("scale", "mean_file", "crop_size", "mirror"):
                theirs.data_param.ClearField(field)
    assert v1 == original


def test_freeze_edit_written_in_v1_style(tmp_path):
    net, report = netio.load_net(FIX / "lenet_v1_train_val.prototxt")
    assert report.source_format == "V1"
    conv1 = next(layer for layer in net.layer if layer.name == "conv1")
    for spec in conv1.param:
        spec.lr_mult = 0
    out = tmp_path / "frozen_v1.prototxt"
    netio.write_net(out, net, v1=report.source_format == "V1")
    raw = prototxt.read_net_text(out)
    conv1_v1 = next(layer for layer in raw.layers if layer.name == "conv1")
    assert conv1_v1.type == caffe_pb2.V1LayerParameter.CONVOLUTION
    assert list(conv1_v1.blobs_lr) == [0, 0] and list(conv1_v1.weight_decay) == [1, 0]
    text = out.read_text()
    assert "blobs_lr: 0" in text and "layers {" in text and "layer {" not in text
    assert netio.read_net(out) == net


def test_unset_entries_before_a_set_one_get_caffes_defaults():
    net = prototxt.parse_text('layer { name: "c" type: "Convolution" param { decay_mult: 1 } '
                              'param { lr_mult: 2 } }', caffe_pb2.NetParameter())
    v1 = downgrade_to_v1(net).layers[0]
    assert list(v1.blobs_lr) == [1, 2] and list(v1.weight_decay) == [1]


@pytest.mark.parametrize("text, needle", [
    ('layer { name: "bn" type: "BatchNorm" }', 'V1 has no layer type "BatchNorm"'),
    ('layer { name: "c" type: "Convolution" propagate_down: false }', "no field 'propagate_down'"),
    ('layer { name: "s" type: "Scale" scale_param { bias_term: true } }', "layer 's'"),
])
def test_what_v1_cannot_express_is_refused(text, needle):
    with pytest.raises(DowngradeError, match=needle):
        downgrade_to_v1(prototxt.parse_text(text, caffe_pb2.NetParameter()))


def test_read_net_collects_notes_and_read_solver_upgrades(tmp_path):
    notes: list = []
    net = netio.read_net(FIX / "lenet_v1_deploy.prototxt", notes)
    assert net.layer[0].type == "Input"
    assert any("input layers and not input fields" in n.text and n.level == "warning" for n in notes)
    solver_notes: list = []
    solver = netio.read_solver(FIX / "solver_v1.prototxt", solver_notes)
    assert solver.type == "Nesterov" and len(solver_notes) == 3
    out = tmp_path / "solver.prototxt"
    netio.write_solver(out, solver, v1=True)
    assert prototxt.read_solver_text(out) == prototxt.read_solver_text(FIX / "solver_v1.prototxt")


def test_binary_reader_upgrades_and_writer_is_byte_identical(tmp_path):
    notes: list = []
    net = netio.read_net_binary(FIX / "lenet_v1.caffemodel", notes)
    assert len(notes) == 2 and net.layer[1].type == "Convolution"
    out = tmp_path / "up.caffemodel"
    netio.write_net_binary(out, net)
    assert out.read_bytes() == (FIX / "lenet_v1.upgraded.caffemodel").read_bytes()


@pytest.mark.parametrize("content, needle", [
    (b"", "empty"),
    (b'name: "x"\nlayer { name: "a" }\n', "net prototxt"),
    ((FIX / "lenet_v1.caffemodel").read_bytes()[:3000], "truncated"),
])
def test_binary_reader_errors(tmp_path, content, needle):
    bad = tmp_path / "bad.caffemodel"
    bad.write_bytes(content)
    with pytest.raises(FormatError, match=needle):
        netio.read_net_binary(bad)


def test_binary_reader_names_a_solverstate(tmp_path):
    state = caffe_pb2.SolverState(iter=3, learned_net="snap_iter_3.caffemodel")
    state.history.add().data.extend([0.5] * 4)
    path = tmp_path / "snap.solverstate"
    path.write_bytes(state.SerializeToString())
    with pytest.raises(FormatError, match="solverstate"):
        netio.read_net_binary(path)


def test_input_layer_with_non_4d_shapes_goes_back_to_input_shape():
    net = prototxt.parse_text('layer { name: "input" type: "Input" top: "a" top: "b" '
                              'input_param { shape { dim: 2 dim: 5 } shape { dim: 2 dim: 1 dim: 3 dim: 3 } } } '
                              'layer { name: "r" type: "ReLU" bottom: "a" top: "a" }', caffe_pb2.NetParameter())
    v1 = downgrade_to_v1(net)
    assert list(v1.input) == ["a", "b"] and len(v1.input_dim) == 0
    assert [list(s.dim) for s in v1.input_shape] == [[2, 5], [2, 1, 3, 3]]
    assert upgraded_copy(v1) == net


def test_failed_v1_write_leaves_no_file(tmp_path):
    net = prototxt.parse_text('layer { name: "bn" type: "BatchNorm" }', caffe_pb2.NetParameter())
    out = tmp_path / "x.prototxt"
    with pytest.raises(DowngradeError):
        netio.write_net(out, net, v1=True)
    assert not out.exists()


def test_v1_caffemodel_edited_and_written_back_in_v1_form(tmp_path):
    import numpy as np

    from tunewiz.caffe.caffemodel import load_weights, read_net_binary, write_caffemodel

    weights = load_weights(FIX / "lenet_v1.caffemodel")
    assert weights.format == "V1"
    ip1 = next(layer for layer in weights.net.layer if layer.name == "ip1")
    for spec in ip1.param:
        spec.lr_mult = 0
    out = tmp_path / "frozen_v1.caffemodel"
    write_caffemodel(out, downgrade_to_v1(weights.net), [layer.blobs for layer in weights.layers])
    stored = read_net_binary(out)
    assert stored.format == "V1" and len(stored.net.layer) == 0
    ip1_v1 = next(layer for layer in stored.net.layers if layer.name == "ip1")
    assert ip1_v1.type == caffe_pb2.V1LayerParameter.INNER_PRODUCT and list(ip1_v1.blobs_lr) == [0, 0]
    again = load_weights(out)
    assert again.net == weights.net
    for old, new in zip(weights.layers, again.layers):
        assert [b.legacy for b in old.blobs] == [b.legacy for b in new.blobs]
        for a, b in zip(old.arrays, new.arrays):
            np.testing.assert_array_equal(a, b)
