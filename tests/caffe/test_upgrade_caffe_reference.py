"""Our upgrades against what BVLC Caffe 1.0's upgrade tools made of the same files.

Fixtures copied from ../shared/caffe-reference/formats/v1 and formats/solver_v1 (and
training/bn_sgd): inputs, Caffe's ``*.upgraded.*`` outputs and Caffe's logs.
Messages are compared parsed (not as text); Caffe's log lines from
``upgrade_proto.cpp`` must come out as our notes, word for word.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tunewiz.caffe import caffe_pb2, prototxt
from tunewiz.caffe.upgrade import upgrade_net_as_needed, upgrade_net_param
from tunewiz.caffe.upgrade_report import UpgradeError
from tunewiz.caffe.upgrade_solver import upgrade_solver_as_needed

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "upgrade"
_GLOG = re.compile(r"^([IWEF])\d{8} [\d:.]+ +\d+ ([\w.]+):\d+\] (.*)$")
_LEVELS = {"I": "info", "W": "warning", "E": "error", "F": "fatal"}


def caffe_log(name: str, source: str = "upgrade_proto.cpp") -> list[tuple[str, str]]:
    """(level, text) of the glog lines that ``source`` wrote in fixture log ``name``."""
    out = []
    for raw in (FIX / name).read_text().splitlines():
        match = _GLOG.match(raw)
        if match and match.group(2) == source:
            out.append((_LEVELS[match.group(1)], match.group(3)))
    return out


def notes_of(report) -> list[tuple[str, str]]:
    return [(n.level, n.text) for n in report.notes]


def read_bin(name: str) -> caffe_pb2.NetParameter:
    return caffe_pb2.NetParameter.FromString((FIX / name).read_bytes())


@pytest.mark.parametrize("stem, log", [
    ("lenet_v1_train_val", "upgrade_net_proto_text_train_val.log"),
    ("lenet_v1_deploy", "upgrade_net_proto_text_deploy.log"),
])
def test_v1_prototxt_upgrade_equals_caffe(stem, log):
    net = prototxt.read_net_text(FIX / f"{stem}.prototxt")
    report = upgrade_net_as_needed(net, f"v1/{stem}.prototxt")  # the path Caffe was given
    expected = prototxt.read_net_text(FIX / f"{stem}.upgraded.prototxt")
    assert prototxt.to_text(net) == prototxt.to_text(expected)  # readable diff on failure
    assert net == expected
    assert notes_of(report) == caffe_log(log)
    assert report.source_format == "V1"


def test_train_val_transform_fields_moved_and_decay_mult_explicit():
    net = upgrade_net_param(prototxt.read_net_text(FIX / "lenet_v1_train_val.prototxt"))
    train = net.layer[0]
    assert not train.data_param.HasField("scale") and not train.data_param.HasField("mirror")
    assert train.transform_param.crop_size == 17 and train.transform_param.mirror
    assert train.transform_param.mean_file == "../data/mean.binaryproto"
    conv1 = net.layer[2]
    assert conv1.param[1].HasField("decay_mult") and conv1.param[1].decay_mult == 0
    ip1 = next(layer for layer in net.layer if layer.name == "ip1")
    assert [p.lr_mult for p in ip1.param] == [0, 0]  # frozen


def test_deploy_input_fields_become_first_input_layer():
    net = upgrade_net_param(prototxt.read_net_text(FIX / "lenet_v1_deploy.prototxt"))
    first = net.layer[0]
    assert (first.name, first.type, list(first.top)) == ("input", "Input", ["data"])
    assert list(first.input_param.shape[0].dim) == [1, 1, 19, 19]
    assert len(net.input) == 0 and len(net.input_dim) == 0


def test_v1_caffemodel_upgrade_equals_caffe_byte_for_byte():
    net = read_bin("lenet_v1.caffemodel")
    notes: list = []
    upgrade_net_param(net, "v1/lenet_v1.caffemodel", notes)
    assert net == read_bin("lenet_v1.upgraded.caffemodel")
    assert net.SerializeToString() == (FIX / "lenet_v1.upgraded.caffemodel").read_bytes()
    assert [(n.level, n.text) for n in notes] == caffe_log("upgrade_net_proto_binary.log")


def test_v1_caffemodel_keeps_legacy_4d_dims():
    net = upgrade_net_param(read_bin("lenet_v1.caffemodel"))
    rows = [line.split("\t") for line in (FIX / "lenet_v1.upgraded.blobs.tsv").read_text().splitlines()[1:]]
    blobs = {(layer.name, i): b for layer in net.layer for i, b in enumerate(layer.blobs)}
    checked = 0
    for name, type_, index, _shape, legacy, count, *_ in rows:
        assert any(layer.name == name and layer.type == type_ for layer in net.layer)
        if index == "-":
            continue
        blob = blobs[(name, int(index))]
        assert not blob.HasField("shape")
        assert [blob.num, blob.channels, blob.height, blob.width] == [int(v) for v in legacy.split(",")]
        assert len(blob.data) == int(count)
        checked += 1
    assert checked == 8


def test_solver_type_enum_upgrade_equals_caffe():
    solver = prototxt.read_solver_text(FIX / "solver_v1.prototxt")
    report = upgrade_solver_as_needed(solver, "solver_v1/solver_v1.prototxt")
    assert solver == prototxt.read_solver_text(FIX / "solver_v1.upgraded.prototxt")
    assert not solver.HasField("solver_type") and solver.type == "Nesterov"
    assert prototxt.to_text(solver).rstrip().endswith('type: "Nesterov"')  # appended: the last field
    assert notes_of(report) == caffe_log("upgrade_solver_proto_text.log")


def test_solver_with_both_type_fields_is_caffes_fatal_error():
    solver = prototxt.read_solver_text(FIX / "solver_both.prototxt")
    fatal = [text for level, text in caffe_log("upgrade_solver_both.log") if level == "fatal"]
    with pytest.raises(UpgradeError) as err:
        upgrade_solver_as_needed(solver, "solver_v1/solver_both.prototxt")
    assert fatal and fatal[0] in str(err.value)


def test_batchnorm_upgrade_keeps_params_as_caffe_1_0_printed_them():
    """Caffe 1.0 logs the BatchNorm upgrade and then prints the net: the 3 params are still there."""
    net = prototxt.read_net_text(FIX / "bn_sgd_train_val.prototxt")
    report = upgrade_net_as_needed(net, "bn_sgd/train_val.prototxt")
    assert notes_of(report) == caffe_log("bn_sgd_upgrade.log")
    printed = prototxt.read_net_text(FIX / "bn_sgd_train_net_as_caffe_printed.prototxt")
    train = [layer for layer in net.layer
             if not any(rule.phase == caffe_pb2.TEST for rule in layer.include)]
    assert len(train) == len(printed.layer)
    for ours, caffes in zip(train, printed.layer):
        assert ours == caffes
