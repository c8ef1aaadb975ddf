"""Data/ImageData on a CUDA net: batches staged through a reused pinned buffer, copied non_blocking.

This machine's torch has no CUDA, so the decision is tested with ``torch.cuda.is_available``
patched and the staging with ``pin=False`` and a recording stand-in for CUDA events."""
import sys
import types
from functools import partial

import numpy as np
import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text
from tunewiz.engine.layers import data as layers_data
from tunewiz.engine.layers.data import PinnedStager, wants_pinned
from tunewiz.engine.net.net import Net


class Event:
    log: list = []

    def record(self):
        Event.log.append(("record", id(self)))

    def synchronize(self):
        Event.log.append(("sync", id(self)))


def test_pinned_only_for_cuda_that_works(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not wants_pinned(torch.device("cuda")) and not wants_pinned("cuda:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert wants_pinned(torch.device("cuda")) and wants_pinned("cuda:1")
    assert not wants_pinned(torch.device("cpu")) and not wants_pinned("meta")


def test_stager_reuses_its_buffer_and_waits_for_the_last_copy():
    Event.log = []
    stager = PinnedStager("cpu", pin=False, make_event=Event)
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    out = stager.to_device(0, a)
    assert out.dtype == torch.float32 and torch.equal(out, torch.from_numpy(a).float())
    buf = stager.buffers[0]
    assert [k for k, _ in Event.log] == ["record"]
    first_event = stager.events[0]
    out = stager.to_device(0, a[::-1] * 2)
    assert stager.buffers[0] is buf  # same staging buffer, refilled
    assert Event.log[1] == ("sync", id(first_event)) and Event.log[2][0] == "record"  # waited before refilling
    assert torch.equal(out, torch.from_numpy(np.ascontiguousarray(a[::-1] * 2)).float())
    stager.to_device(1, np.array([0, 1]))  # another top: its own buffer
    assert stager.buffers[1].shape == (2,) and stager.buffers[0] is buf
    Event.log = []
    stager.to_device(0, np.zeros((1, 3, 4)))  # new shape: new buffer, nothing to wait for
    assert stager.buffers[0] is not buf and [k for k, _ in Event.log] == ["record"]


def test_feed_layer_goes_through_the_stager_when_pinned(monkeypatch):
    Event.log = []

    class Feed:
        top_shapes = [(2, 1, 3, 3), (2,)]
        n = 0

        def next_batch(self):
            Feed.n += 1
            return [np.full((2, 1, 3, 3), Feed.n, np.uint8), np.array([0, 1])]

        def close(self):
            pass

    module = types.ModuleType("tunewiz.data.feed")
    module.make_feed = lambda lp, phase, seed=None, root=None, shard=None: Feed()
    monkeypatch.setitem(sys.modules, "tunewiz.data.feed", module)
    monkeypatch.setattr(layers_data, "wants_pinned", lambda device: True)
    monkeypatch.setattr(layers_data, "PinnedStager", partial(PinnedStager, pin=False, make_event=Event))
    net = Net(parse_text('layer { name: "src" type: "Data" top: "data" top: "label" }', caffe_pb2.NetParameter()),
              "TEST")
    assert net.forward()["data"][0, 0, 0, 0] == 1 and net.forward()["data"][1, 0, 2, 2] == 2
    assert sorted(net.layers[0].stager.buffers) == [0, 1]
    assert [k for k, _ in Event.log].count("sync") == 2  # second pass: one wait per top
    monkeypatch.setattr(layers_data, "wants_pinned", lambda device: False)
    plain = Net(parse_text('layer { name: "src" type: "Data" top: "data" }', caffe_pb2.NetParameter()), "TEST")
    assert plain.layers[0].stager is None and plain.forward()["data"].dtype == torch.float32
