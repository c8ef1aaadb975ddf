"""The prepared inference path on whole nets: what it fuses (ResNet's conv-BatchNorm-Scale-ReLU and shortcut
sum, GoogLeNet's LRN and Concat, CaffeNet's fc-ReLU-Dropout, MobileNet's depthwise convolutions), that its
values are the layer-by-layer pass's, and when it is made again."""
import numpy as np
import pytest
import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text
from tunewiz.engine.inference import forget, infer, prepared
from tunewiz.engine.net.net import Net

BLOCK = """
name: "block"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 17 dim: 15 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 8 kernel_size: 3 stride: 2 pad: 1 bias_term: false } }
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }
layer { name: "sc1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "short" type: "Convolution" bottom: "conv1" top: "short" convolution_param { num_output: 8 kernel_size: 1 } }
layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"
        convolution_param { num_output: 8 kernel_size: 3 pad: 1 group: 2 } }
layer { name: "bn2" type: "BatchNorm" bottom: "conv2" top: "conv2" batch_norm_param { eps: 0.001 } }
layer { name: "sc2" type: "Scale" bottom: "conv2" top: "conv2" scale_param { bias_term: true } }
layer { name: "sum" type: "Eltwise" bottom: "short" bottom: "conv2" top: "sum" }
layer { name: "relu2" type: "ReLU" bottom: "sum" top: "sum" }
layer { name: "dw" type: "Convolution" bottom: "sum" top: "dw" convolution_param { num_output: 8 kernel_size: 3 group: 8 pad: 1 } }
layer { name: "relu3" type: "ReLU" bottom: "dw" top: "dw" }
layer { name: "norm" type: "LRN" bottom: "dw" top: "norm" lrn_param { local_size: 5 alpha: 0.3 beta: 0.75 k: 2 } }
layer { name: "pool" type: "Pooling" bottom: "norm" top: "pool" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "cat" type: "Concat" bottom: "pool" bottom: "pool" top: "cat" }
layer { name: "fc" type: "InnerProduct" bottom: "cat" top: "fc" inner_product_param { num_output: 10 } }
layer { name: "relu4" type: "ReLU" bottom: "fc" top: "fc" }
layer { name: "drop" type: "Dropout" bottom: "fc" top: "fc" }
layer { name: "out" type: "InnerProduct" bottom: "fc" top: "out" inner_product_param { num_output: 4 } }
layer { name: "prob" type: "Softmax" bottom: "out" top: "prob" }
"""


def _net(text: str = BLOCK, numerics: str = "torch", seed: int = 0) -> Net:
    net = Net(parse_text(text, caffe_pb2.NetParameter()), "TEST", numerics=numerics)
    rng = np.random.RandomState(seed)
    with torch.no_grad():
        for layer in net.layers:
            for i, blob in enumerate(layer.blobs):
                if layer.param.type == "BatchNorm":
                    factor = 0.5
                    value = [rng.randn(*blob.shape) * factor, (rng.rand(*blob.shape) + 0.5) * factor, [factor]][i]
                else:
                    value = rng.randn(*blob.shape) * 0.5
                blob.copy_(torch.as_tensor(np.asarray(value, dtype=np.float32)))
    return net


def _input(seed: int = 1) -> dict:
    return {"data": torch.from_numpy(np.random.RandomState(seed).randn(2, 3, 17, 15).astype(np.float32))}


def _close(got, want, tol=2e-6):
    got, want = got.detach().double(), want.detach().double()
    assert float((got - want).abs().max()) <= tol * max(1.0, float(want.abs().max()))


def test_the_plan_fuses_what_a_forward_only_pass_allows():
    net = _net()
    steps = {net.layers[s.index].name: s for s in prepared(net).steps}
    assert steps["conv1"].kind == "conv" and steps["conv1"].relu and len(steps["conv1"].folded) == 2
    assert steps["conv2"].add == "short" and steps["conv2"].relu and steps["conv2"].tops == ("sum",)
    assert steps["dw"].relu and steps["fc"].kind == "ip" and steps["fc"].relu
    assert steps["norm"].kind == "lrn" and steps["pool"].kind == "pool" and steps["drop"].kind == "alias"
    assert not {"bn1", "sc1", "relu1", "bn2", "sc2", "sum", "relu2", "relu3", "relu4"} & set(steps)


def test_the_fused_pass_gives_the_layer_by_layer_values():
    fast, exact = _net(), _net(numerics="caffe")
    got = infer(fast, _input())
    with torch.no_grad():
        want = exact.forward(_input())
    for name in ("conv1", "sum", "dw", "norm", "pool", "fc", "out", "prob"):
        _close(got[name], want[name])
    assert "conv2" not in got and "short" in got  # the shortcut's sum hides conv2 (nobody asked for it)


def test_a_kept_blob_is_never_hidden():
    """pycaffe keeps every blob: conv2 (read only by the sum) is then computed, and the sum runs on its own."""
    net = _net()
    steps = {net.layers[s.index].name: s for s in prepared(net, keep=net.blob_shapes).steps}
    assert steps["conv2"].add is None and steps["sum"].kind == "layer"
    got = infer(net, _input(), keep=net.blob_shapes)
    assert set(net.blob_shapes) <= set(got)
    with torch.no_grad():
        want = _net(numerics="caffe").forward(_input())
    _close(got["conv2"], want["conv2"])


def test_a_blob_read_twice_is_not_fused_into():
    text = BLOCK.replace('layer { name: "relu4" type: "ReLU" bottom: "fc" top: "fc" }',
                         'layer { name: "relu4" type: "ReLU" bottom: "fc" top: "fc4" }\n'
                         'layer { name: "twice" type: "Power" bottom: "fc" top: "twice" }')
    text = text.replace('bottom: "fc" top: "fc" }\nlayer { name: "out"', 'bottom: "fc4" top: "fc4" }\nlayer { name: "out"')
    text = text.replace('name: "out" type: "InnerProduct" bottom: "fc"', 'name: "out" type: "InnerProduct" bottom: "fc4"')
    net = _net(text)
    steps = {net.layers[s.index].name: s for s in prepared(net).steps}
    assert not steps["fc"].relu and "relu4" in steps
    with torch.no_grad():
        want = _net(text, numerics="caffe").forward(_input())
    _close(infer(net, _input())["prob"], want["prob"])


def test_a_sum_takes_the_convolution_whose_other_operand_is_ready():
    """The shortcut made after conv2: conv2 cannot take the sum (its operand is not made yet), the shortcut's
    convolution, which runs last, takes it with conv2 as the operand."""
    text = BLOCK.replace('layer { name: "short"', 'layer { name: "later"').replace('top: "short"', 'top: "later_top"')
    moved = ('layer { name: "short" type: "Convolution" bottom: "conv1" top: "short" '
             'convolution_param { num_output: 8 kernel_size: 1 } }\n')
    text = text.replace('layer { name: "sum"', moved + 'layer { name: "sum"')
    net = _net(text)
    steps = {net.layers[s.index].name: s for s in prepared(net).steps}
    assert steps["conv2"].add is None and steps["short"].add == "conv2" and "sum" not in steps
    with torch.no_grad():
        want = _net(text, numerics="caffe").forward(_input())
    _close(infer(net, _input())["prob"], want["prob"])


def test_made_again_when_a_weight_changes_and_kept_while_none_does():
    net = _net()
    first = prepared(net)
    assert prepared(net) is first
    before = infer(net, _input())["out"].clone()
    with torch.no_grad():
        net.layer_by_name("bn2").blobs[0].add_(1.0)  # what copy_trained_layers or a solver does: torch sees it
    assert prepared(net) is not first
    after = infer(net, _input())["out"]
    with torch.no_grad():
        exact = _net(numerics="caffe")
        exact.layer_by_name("bn2").blobs[0].add_(1.0)
        _close(after, exact.forward(_input())["out"])
    assert not torch.equal(before, after)
    forget(net)
    assert "_prepared" not in net.__dict__


@pytest.mark.parametrize("numerics", ["caffe"])
def test_caffes_numerics_run_the_layers_one_by_one(numerics):
    net = _net(numerics=numerics)
    with torch.no_grad():
        want = _net(numerics=numerics).forward(_input())
    assert torch.equal(infer(net, _input())["prob"], want["prob"])
    assert "_prepared" not in net.__dict__


def test_batch_norm_with_a_zero_factor_folds_to_a_zero_mean():
    net, exact = _net(), _net(numerics="caffe")
    with torch.no_grad():
        for model in (net, exact):
            model.layer_by_name("bn1").blobs[2].zero_()
            want = exact.forward(_input())
    _close(infer(net, _input())["conv1"], want["conv1"])
