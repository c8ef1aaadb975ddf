"""Data layers: Input shapes, DummyData fillers, Data/ImageData through a feed (a stand-in feed
module here, so this test does not depend on the data package's readers)."""
import sys
import types

import numpy as np
import pytest
import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text
from tunewiz.engine.net.net import Net
from tunewiz.engine.layers.base import NetError


def net_of(text, phase="TRAIN", **kw):
    return Net(parse_text(text, caffe_pb2.NetParameter()), phase, **kw)


def test_input_shape_once_for_all_tops_or_per_top():
    net = net_of('layer { name: "in" type: "Input" top: "a" top: "b" input_param { shape { dim: 2 dim: 3 } } }')
    assert net.blob_shapes == {"a": (2, 3), "b": (2, 3)}
    with pytest.raises(NetError, match="layer 'in'.*once per top"):
        net_of('layer { name: "in" type: "Input" top: "a" top: "b" top: "c" input_param { shape { dim: 2 } shape { dim: 3 } } }')


def test_dummy_data_fillers_and_refill():
    net = net_of('layer { name: "d" type: "DummyData" top: "x" top: "c" dummy_data_param { '
                 'shape { dim: 4 dim: 5 } shape { dim: 2 } '
                 'data_filler { type: "gaussian" std: 2 } data_filler { type: "constant" value: 3 } } }')
    first = net.forward()
    second = net.forward()
    assert first["x"].shape == (4, 5) and not torch.equal(first["x"], second["x"])
    assert torch.equal(first["c"], torch.full((2,), 3.0)) and torch.equal(second["c"], first["c"])
    legacy = net_of('layer { name: "d" type: "DummyData" top: "x" dummy_data_param { num: 2 channels: 3 height: 4 width: 5 } }')
    assert legacy.blob_shapes["x"] == (2, 3, 4, 5)
    assert torch.all(legacy.forward()["x"] == 0)


class FakeFeed:
    def __init__(self, lp, phase, seed, root):
        self.args = (lp.name, phase, seed, root)
        self.top_shapes = [(2, 1, 3, 3), (2,)]
        self.cursor = 0
        self.closed = False

    def next_batch(self):
        self.cursor += 1
        return [np.full((2, 1, 3, 3), self.cursor, np.uint8), np.array([0, 1])]

    def state(self):
        return {"cursor": self.cursor}

    def restore(self, state):
        self.cursor = state["cursor"]

    def close(self):
        self.closed = True


@pytest.fixture
def fake_feed(monkeypatch):
    module = types.ModuleType("tunewiz.data.feed")
    module.make_feed = lambda lp, phase, seed=None, root=None, shard=None: FakeFeed(lp, phase, seed, root)
    monkeypatch.setitem(sys.modules, "tunewiz.data.feed", module)


@pytest.mark.parametrize("kind", ["Data", "ImageData"])
def test_feed_layers_pull_batches(fake_feed, kind):
    text = f'layer {{ name: "src" type: "{kind}" top: "data" top: "label" }}\n' \
           'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 2 } }'
    net = net_of(text, "TEST", seed=7, root="/somewhere")
    assert net.blob_shapes["data"] == (2, 1, 3, 3)
    feed = net.feeds()[0]
    assert feed.args == ("src", caffe_pb2.TEST, 7, "/somewhere")
    blobs = net.forward()
    assert blobs["data"].dtype == torch.float32 and blobs["data"][0, 0, 0, 0] == 1
    assert net.forward()["data"][0, 0, 0, 0] == 2
    net.close()
    assert feed.closed


def test_meta_device_closes_feed(fake_feed):
    net = net_of('layer { name: "src" type: "Data" top: "data" top: "label" }', device="meta")
    assert net.feeds() == [] and net.blob_shapes["label"] == (2,)


MEMORY = ('layer { name: "mem" type: "MemoryData" top: "data" top: "label" '
          'memory_data_param { batch_size: 2 channels: 1 height: 2 width: 2 } %s }')


def test_memory_data_shapes_from_its_param_also_on_meta():
    net = net_of(MEMORY % "", device="meta")
    assert net.blob_shapes == {"data": (2, 1, 2, 2), "label": (2,)}
    with pytest.raises(NetError, match="layer 'm'.*must be specified and positive"):
        net_of('layer { name: "m" type: "MemoryData" top: "d" top: "l" memory_data_param { batch_size: 2 } }')
    with pytest.raises(NetError, match="exactly 2 tops"):
        net_of('layer { name: "m" type: "MemoryData" top: "d" memory_data_param { batch_size: 1 channels: 1 '
               'height: 1 width: 1 } }')


def test_memory_data_reset_batches_in_turn_and_wraps():
    net = net_of(MEMORY % "")
    layer = net.layer_by_name("mem")
    with pytest.raises(NetError, match="layer 'mem'.*initialized by calling Reset"):
        net.forward()
    data = torch.arange(24, dtype=torch.float32).reshape(6, 1, 2, 2)
    layer.reset(data, torch.arange(6.0))
    got = [net.forward() for _ in range(4)]
    for step, blobs in enumerate(got):
        start = 2 * (step % 3)
        assert torch.equal(blobs["data"], data[start:start + 2])
        assert torch.equal(blobs["label"], torch.arange(start, start + 2.0).reshape(2, 1, 1, 1))
    layer.reset(data[:4], torch.arange(4.0))  # Reset starts again from the first item
    assert torch.equal(net.forward()["data"], data[:2])
    with pytest.raises(NetError, match="multiple of batch_size 2"):
        layer.reset(data[:3], torch.arange(3.0))


def test_memory_data_warns_that_reset_does_not_transform():
    layer = net_of(MEMORY % "transform_param { scale: 2 }").layer_by_name("mem")
    with pytest.warns(UserWarning, match="does not transform array data on Reset"):
        layer.reset(torch.zeros(2, 1, 2, 2), torch.zeros(2))
