"""The WindowData layer: registered, shapes on the meta device, phases, Caffe's batches through a Net
(its Caffe cases: tests/fixtures/window_data, also tests/data/test_window_*.py)."""
import pytest
import torch

import tunewiz
from tests.data.window_helpers import FX, INDEX, caffe_arrays, write_window_file
from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text
from tunewiz.engine.layers import registry, window_data
from tunewiz.engine.layers.base import NetError, UnsupportedLayerError
from tunewiz.engine.net.net import Net

BLOCKS = [("a.png", [(1, 0.8, 0, 0, 20, 15), (0, 0.1, 5, 7, 30, 25)]),
          ("c.png", [(2, 0.95, 40, 30, 70, 60), (0, 0.2, 50, 0, 119, 40)])]


def net_text(source: str, tops: str = 'top: "data" top: "label"') -> str:
    layers = []
    for phase, batch in (("TRAIN", 6), ("TEST", 4)):
        layers.append(f'layer {{ name: "data" type: "WindowData" {tops} include {{ phase: {phase} }} '
                      f'transform_param {{ mirror: true crop_size: 16 mean_value: 104 }} '
                      f'window_data_param {{ source: "{source}" batch_size: {batch} fg_fraction: 0.5 context_pad: 2 '
                      f'root_folder: "{FX}/images/" }} }}')
    layers.append('layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" '
                  'inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }')
    layers.append('layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }')
    return "\n".join(layers)


def test_registered_and_listed():
    assert "WindowData" in tunewiz.layer_type_list()


@pytest.mark.parametrize("phase, batch", [("TRAIN", 6), ("TEST", 4)])
def test_shapes_on_meta_and_batches_in_each_phase(tmp_path, phase, batch):
    source = write_window_file(tmp_path / "w.txt", BLOCKS)
    meta = Net(parse_text(net_text(source), caffe_pb2.NetParameter()), phase, device="meta")
    assert meta.blob_shapes["data"] == (batch, 3, 16, 16) and meta.blob_shapes["label"] == (batch,)
    assert meta.feeds() == []  # the meta net keeps no feed (and started no worker)
    net = Net(parse_text(net_text(source), caffe_pb2.NetParameter()), phase, seed=5)
    try:
        blobs = net.forward()
        assert blobs["label"].tolist()[:batch // 2] == [0.0] * (batch // 2)
        assert set(blobs["label"].tolist()[batch // 2:]) <= {1.0, 2.0}
        assert torch.isfinite(blobs["loss"]) and blobs["data"].dtype == torch.float32
    finally:
        net.close()


def test_it_takes_exactly_two_tops(tmp_path):
    source = write_window_file(tmp_path / "w.txt", BLOCKS)
    with pytest.raises(NetError, match="layer 'data' \\(WindowData\\): takes exactly 2 tops"):
        Net(parse_text(net_text(source, 'top: "data"'), caffe_pb2.NetParameter()), "TRAIN", device="meta")


def _sequence_net(tmp_path, name):
    """Caffe's seeded case (tests/fixtures/window_data) as a one-layer net."""
    case = INDEX["cases"][name]
    source = write_window_file(tmp_path / "seq.txt", [(i, [tuple(b) for b in boxes]) for i, boxes in case["windows"]])
    text = (f'layer {{ name: "data" type: "WindowData" top: "data" top: "label" transform_param {{ mirror: true '
            f'crop_size: 16 mean_value: 100 }} window_data_param {{ source: "{source}" batch_size: 8 fg_fraction: 0.25 '
            f'context_pad: 4 crop_mode: "warp" root_folder: "{FX}/images/" }} }}')
    return Net(parse_text(text, caffe_pb2.NetParameter()), case["phase"], seed=case["seed"]), case


def test_the_net_gives_caffes_batches(tmp_path):
    arrays = caffe_arrays()
    net, case = _sequence_net(tmp_path, "sequence_train")
    try:
        for i in range(case["forwards"]):
            blobs = net.forward()
            assert torch.equal(blobs["data"], torch.from_numpy(arrays[f"sequence_train_data{i}"]))
            assert torch.equal(blobs["label"], torch.from_numpy(arrays[f"sequence_train_label{i}"]))
    finally:
        net.close()


def test_the_family_left_out_of_the_registry_fails_its_case(tmp_path, monkeypatch):
    table = registry.build_table(f for f in registry.FAMILIES if f is not window_data)
    monkeypatch.setattr(registry, "LAYERS", table)
    with pytest.raises(UnsupportedLayerError, match="'data' has type 'WindowData'"):
        _sequence_net(tmp_path, "sequence_train")


def test_scoring_one_pass_of_a_window_sampler_is_refused_by_name(tmp_path):
    """``tunewiz test --confusion`` needs a set of records read in order; WindowData draws at random."""
    from tunewiz.errors import TunewizError
    from tunewiz.infer.evaluate import evaluate

    source = write_window_file(tmp_path / "w.txt", BLOCKS)
    text = net_text(source).replace('top: "loss" }', 'top: "loss" }\nlayer { name: "acc" type: "Accuracy" '
                                    'bottom: "fc" bottom: "label" top: "acc" include { phase: TEST } }')
    net = Net(parse_text(text, caffe_pb2.NetParameter()), "TEST", seed=5)
    try:
        with pytest.raises(TunewizError, match=r"come from layer 'data' \(WindowData\); scoring one pass"):
            next(evaluate(net))
    finally:
        net.close()
