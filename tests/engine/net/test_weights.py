"""Weight copy by layer name (Caffe's CopyTrainedLayersFrom) and caffemodel writing (Net::ToProto)."""
from pathlib import Path

import numpy as np
import pytest
import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.blobs import Blob
from tunewiz.caffe.caffemodel import read_net_binary, write_caffemodel
from tunewiz.caffe.prototxt import parse_text, read_net_text
from tunewiz.engine.net.net import Net
from tunewiz.engine.net.weights import WeightCopyError, copy_trained_layers, save_caffemodel

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "engine"

NET = """name: "small"
layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 2 dim: 100 } } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1" inner_product_param { num_output: 4 } }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2" inner_product_param { num_output: 3 } }
"""


def small_net() -> Net:
    return Net(parse_text(NET, caffe_pb2.NetParameter()), "TEST")


def write(path, layers):
    net = caffe_pb2.NetParameter(name="src")
    blobs = []
    for name, arrays in layers:
        net.layer.add(name=name, type="InnerProduct")
        blobs.append([a if isinstance(a, Blob) else Blob.from_array(a) for a in arrays])
    write_caffemodel(path, net, blobs)
    return path


def test_copied_new_ignored(tmp_path):
    w, b = np.random.rand(4, 100).astype(np.float32), np.random.rand(4).astype(np.float32)
    path = write(tmp_path / "a.caffemodel", [("ip1", [w, b]), ("old_fc", [np.zeros((2, 2))])])
    net = small_net()
    report = copy_trained_layers(net, str(path))
    assert report.copied == [("ip1", [(4, 100), (4,)])]
    assert report.new == ["ip2"]
    assert report.ignored == ["old_fc"]
    np.testing.assert_array_equal(net.layer_by_name("ip1").blobs[0].detach().numpy(), w)
    np.testing.assert_array_equal(net.layer_by_name("ip1").blobs[1].detach().numpy(), b)
    assert any("Ignoring source layer old_fc" in line for line in report.lines())


def test_several_files_apply_in_order(tmp_path):
    first = write(tmp_path / "a.caffemodel", [("ip1", [np.ones((4, 100)), np.ones(4)])])
    second = write(tmp_path / "b.caffemodel", [("ip1", [np.full((4, 100), 2.0), np.full(4, 2.0)]),
                                               ("ip2", [np.full((3, 4), 3.0), np.zeros(3)])])
    net = small_net()
    report = copy_trained_layers(net, f"{first},{second}")
    assert net.layer_by_name("ip1").blobs[0][0, 0].item() == 2.0
    assert [name for name, _ in report.copied] == ["ip1", "ip2"] and report.new == []
    assert report.sources == {"ip1": str(second), "ip2": str(second)}
    assert report.files == [str(first), str(second)]


def test_shape_mismatch_is_caffes_message(tmp_path):
    path = write(tmp_path / "a.caffemodel", [("ip2", [np.zeros((4, 100)), np.zeros(4)])])
    net = Net(parse_text(NET.replace("num_output: 4", "num_output: 100"), caffe_pb2.NetParameter()), "TEST")
    with pytest.raises(WeightCopyError) as err:
        copy_trained_layers(net, path)
    assert ("Cannot copy param 0 weights from layer 'ip2'; shape mismatch.  Source param shape is 4 100 (400); "
            "target param shape is 3 100 (300). To learn this layer's parameters from scratch rather than "
            "copying from a saved net, rename the layer.") in str(err.value)


def test_blob_count_mismatch(tmp_path):
    path = write(tmp_path / "a.caffemodel", [("ip1", [np.zeros((4, 100))])])
    with pytest.raises(WeightCopyError, match="Incompatible number of blobs for layer 'ip1'.*rename the layer"):
        copy_trained_layers(small_net(), path)


def test_legacy_4d_shapes_align_from_the_end(tmp_path):
    w = np.random.rand(4, 100).astype(np.float32)
    ok = write(tmp_path / "ok.caffemodel", [("ip1", [Blob.from_array(w, legacy=True),
                                                     Blob.from_array(np.ones(4), legacy=True)])])
    net = small_net()
    assert copy_trained_layers(net, ok).copied == [("ip1", [(4, 100), (4,)])]
    np.testing.assert_array_equal(net.layer_by_name("ip1").blobs[0].detach().numpy(), w)
    wrong = write(tmp_path / "bad.caffemodel", [("ip1", [Blob.from_array(w.reshape(1, 4, 100, 1), legacy=True),
                                                         Blob.from_array(np.ones(4), legacy=True)])])
    with pytest.raises(WeightCopyError, match="Source param shape is 1 4 100 1 \\(400\\); target param shape is 4 100"):
        copy_trained_layers(small_net(), wrong)


def test_v1_caffemodel_equals_v2():
    proto = read_net_text(FIX / "lenet_v1_deploy.upgraded.prototxt")
    a, b = Net(proto, "TEST"), Net(proto, "TEST")
    ra = copy_trained_layers(a, FIX / "lenet_iter_10.caffemodel")
    rb = copy_trained_layers(b, FIX / "lenet_v1.caffemodel")
    assert ra.copied == rb.copied and len(ra.copied) == 4
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_caffemodel_round_trip_is_caffes_layout(tmp_path):
    """formats/lenet/lenet_iter_10.caffemodel read -> TRAIN net -> written: the same file content
    (every layer message, Data layer and loss_weight/phase Caffe adds included, and every blob)."""
    proto = read_net_text(FIX / "lenet" / "train_val.prototxt")
    net = Net(proto, "TRAIN", root=FIX / "lenet")
    copy_trained_layers(net, FIX / "lenet_iter_10.caffemodel")
    save_caffemodel(net, tmp_path / "out.caffemodel")
    net.close()
    ref = read_net_binary(FIX / "lenet_iter_10.caffemodel").to_message()
    mine = read_net_binary(tmp_path / "out.caffemodel").to_message()
    assert mine.name == ref.name and [l.name for l in mine.layer] == [l.name for l in ref.layer]
    for a, b in zip(ref.layer, mine.layer):
        assert a.SerializeToString() == b.SerializeToString(), a.name


def test_split_layers_are_written_as_caffe_inserts_them():
    from tunewiz.engine.net.weights import net_to_caffemodel

    text = NET + 'layer { name: "loss" type: "EuclideanLoss" bottom: "ip2" bottom: "ip2b" top: "loss" }\n'
    text = text.replace('top: "ip2" inner', 'top: "ip2" inner') + \
        'layer { name: "ip2b" type: "InnerProduct" bottom: "ip1" top: "ip2b" inner_product_param { num_output: 3 } }\n'
    lines = text.strip().split("\n")
    text = "\n".join(lines[:4] + [lines[5], lines[4]])
    out = net_to_caffemodel(Net(parse_text(text, caffe_pb2.NetParameter()), "TRAIN"))
    names = [l.name for l in out.layer]
    assert names == ["in", "ip1", "ip1_ip1_0_split", "ip2", "ip2b", "loss"]
    split = out.layer[2]
    assert list(split.top) == ["ip1_ip1_0_split_0", "ip1_ip1_0_split_1"]
    assert list(out.layer[3].bottom) == ["ip1_ip1_0_split_0"] and list(out.layer[4].bottom) == ["ip1_ip1_0_split_1"]
    assert list(out.layer[5].loss_weight) == [1.0] and out.layer[5].phase == caffe_pb2.TRAIN
