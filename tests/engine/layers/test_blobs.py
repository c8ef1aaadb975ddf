"""Parameter, Filter and BatchReindex beyond the Caffe cases (tests/fixtures/layers, checked by
test_layer_fidelity): shapes on the meta device, where Caffe stops (selector/index gradients, a Filter that
keeps nothing), and the messages for bad bottoms."""
from __future__ import annotations

import pytest
import torch

import tunewiz
from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text
from tunewiz.engine.layers.base import NetError
from tunewiz.engine.net.net import Net
from tunewiz.engine.net.shapes import describe


def _input(name: str, *dims: int) -> str:
    shape = " ".join(f"dim: {d}" for d in dims)
    return f'layer {{ name: "{name}" type: "Input" top: "{name}" input_param {{ shape {{ {shape} }} }} }}\n'


FILTER = (_input("data", 4, 3, 2) + _input("sel", 4, 1)
          + 'layer { name: "f" type: "Filter" bottom: "data" bottom: "sel" top: "kept" }\n')
REINDEX = (_input("data", 4, 3) + _input("idx", 6)
           + 'layer { name: "r" type: "BatchReindex" bottom: "data" bottom: "idx" top: "out" }\n')
PARAMETER = 'layer { name: "p" type: "Parameter" top: "p" parameter_param { shape { dim: 2 dim: 5 } } }\n'


def _param(text: str) -> caffe_pb2.NetParameter:
    return parse_text(text, caffe_pb2.NetParameter())


def _net(text: str) -> Net:
    return Net(_param(text), "TEST")


def test_the_types_are_listed():
    assert {"Parameter", "Filter", "BatchReindex", "Im2col", "SPP"} <= set(tunewiz.layer_type_list())


def test_shapes_on_the_meta_device():
    """Filter's tops hold every item until a forward sees the selector (Caffe's first Reshape)."""
    text = FILTER + REINDEX.replace('"data"', '"d2"').replace("dim: 4 dim: 3", "dim: 5 dim: 3") + PARAMETER
    tops = {name: shape for row in describe(_param(text)).rows for name, shape in row.tops}
    assert tops["kept"] == (4, 3, 2) and tops["out"] == (6, 3) and tops["p"] == (2, 5)


def test_parameter_starts_at_zero_and_its_top_is_the_blob():
    net = _net("force_backward: true\n" + PARAMETER)
    blob = net.layer_by_name("p").blobs[0]
    assert not blob.detach().any()
    with torch.no_grad():
        blob.copy_(torch.arange(10.0).reshape(2, 5))
    top = net.forward(retain_grad=True)["p"]
    (top * 3).sum().backward()
    assert torch.equal(top.detach(), blob.detach()) and torch.equal(blob.grad, torch.full((2, 5), 3.0))


def test_the_selector_and_the_index_never_get_a_gradient():
    """Caffe stops in Backward when force_backward reaches them; here they just get no diff."""
    for text, data, picker in ((FILTER, "data", "sel"), (REINDEX, "data", "idx")):
        net = _net("force_backward: true\n" + text)
        wiring = net.wirings[-1]
        assert wiring.bottom_need_backward == [True, False], picker
        assert data in net._grad_inputs and picker not in net._grad_inputs


def test_a_filter_that_keeps_nothing_sends_zeros_back():
    """Caffe's Backward divides by the kept count and dies (SIGFPE) there."""
    net = _net("force_backward: true\n" + FILTER)
    x = torch.randn(4, 3, 2)
    blobs = net.forward({"data": x, "sel": torch.zeros(4, 1)}, retain_grad=True)
    assert blobs["kept"].shape == (0, 3, 2)
    blobs["kept"].sum().backward()
    assert torch.equal(net.diff_blobs["data"].grad, torch.zeros(4, 3, 2))


def test_batch_reindex_adds_the_diffs_of_repeated_items():
    net = _net("force_backward: true\n" + REINDEX)
    x = torch.randn(4, 3)
    blobs = net.forward({"data": x, "idx": torch.tensor([1.0, 1, 3, 1, 0, 3])}, retain_grad=True)
    assert torch.equal(blobs["out"].detach(), x[[1, 1, 3, 1, 0, 3]])
    blobs["out"].sum().backward()
    assert torch.equal(net.diff_blobs["data"].grad, torch.tensor([1.0, 3, 0, 2])[:, None].expand(4, 3))


@pytest.mark.parametrize("text,message", [
    (FILTER.replace("dim: 4 dim: 1", "dim: 4 dim: 2"), r"'f' \(Filter\): the selector .* must have shape \(N, 1"),
    (FILTER.replace("dim: 4 dim: 1", "dim: 3 dim: 1"), r"bottom 'data' has shape \[4, 3, 2\]: every bottom needs "
                                                       "the selector's 3 items"),
    (REINDEX.replace("dim: 6", "dim: 6 dim: 1"), r"'r' \(BatchReindex\): the index .* must have one axis"),
    (PARAMETER.replace("dim: 5", "dim: -5"), r"'p' \(Parameter\): parameter_param.shape \[2, -5\] has a negative"),
    (_input("x", 2) + PARAMETER.replace('top: "p"', 'bottom: "x" top: "p"'), "takes no bottom"),
])
def test_bad_bottoms_are_named(text, message):
    with pytest.raises(NetError, match=message):
        _net(text)


@pytest.mark.parametrize("idx,bad", [([0, 1, 4, 0, 0, 0], "4.0"), ([0, -0.5, 1, 0, 0, 0], "-0.5")])
def test_an_index_outside_the_batch_is_named(idx, bad):
    with pytest.raises(NetError, match=rf"'r' \(BatchReindex\): indices must be in \[0, 4\) .* got \[{bad}\]"):
        _net(REINDEX).forward({"data": torch.zeros(4, 3), "idx": torch.tensor(idx, dtype=torch.float32)})
