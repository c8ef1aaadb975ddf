"""Vision layer setup rules beyond the Caffe fixtures: errors that name the layer, bilinear
upsampling by Deconvolution (Caffe's documented recipe), N-D convolution shapes."""
import pytest
import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text
from tunewiz.engine.layers.vision import Convolution, Deconvolution, InnerProduct, Pooling, channels_last
from tunewiz.engine.layers.base import NetError


def make(cls, text, shape, phase=caffe_pb2.TEST):
    return cls(parse_text(f'name: "L" top: "t" {text}', caffe_pb2.LayerParameter()), [shape], phase)


@pytest.mark.parametrize("text,match", [
    ("convolution_param { num_output: 4 kernel_size: 3 group: 2 }", "multiples of group"),
    ("convolution_param { num_output: 4 }", "kernel"),
    ("convolution_param { num_output: 4 kernel_size: 3 kernel_h: 3 kernel_w: 3 }", "kernel_size|both"),
    ("convolution_param { num_output: 4 kernel_size: 3 stride: 1 stride: 1 stride: 1 }", "once or 2 times"),
    ("convolution_param { num_output: 4 kernel_size: 3 stride: 0 }", "must be > 0"),
])
def test_convolution_setup_errors(text, match):
    with pytest.raises(NetError, match=f"layer 'L'.*({match})"):
        make(Convolution, text, (1, 3, 8, 8))


def test_pooling_setup_errors():
    with pytest.raises(NetError, match="layer 'L'.*pad"):
        make(Pooling, "pooling_param { pool: MAX kernel_size: 2 pad: 2 }", (1, 1, 8, 8))
    with pytest.raises(NetError, match="global_pooling"):
        make(Pooling, "pooling_param { pool: MAX global_pooling: true kernel_size: 2 }", (1, 1, 8, 8))
    with pytest.raises(NetError, match="kernel_size"):
        make(Pooling, "pooling_param { pool: AVE }", (1, 1, 8, 8))
    with pytest.raises(NetError, match="stride"):
        make(Pooling, "pooling_param { pool: AVE kernel_size: 2 stride: 0 }", (1, 1, 8, 8))


def test_deconvolution_bilinear_upsampling():
    factor, channels = 2, 3
    layer = make(Deconvolution, f"convolution_param {{ kernel_size: 4 stride: 2 pad: 1 num_output: {channels} "
                 f"group: {channels} weight_filler {{ type: 'bilinear' }} bias_term: false }}", (1, channels, 5, 5))
    assert tuple(layer.blobs[0].shape) == (channels, 1, 4, 4)
    assert layer.top_shapes == [(1, channels, 10, 10)]
    x = torch.full((1, channels, 5, 5), 2.0)
    y = layer(x)[0]
    torch.testing.assert_close(y[:, :, 1:-1, 1:-1], torch.full((1, channels, 8, 8), 2.0))


def test_convolution_3d_shapes():
    layer = make(Convolution, "convolution_param { num_output: 2 kernel_size: 3 stride: 2 pad: 1 }", (1, 2, 5, 7, 9))
    assert layer.top_shapes == [(1, 2, 3, 4, 5)]
    assert layer(torch.randn(1, 2, 5, 7, 9))[0].shape == (1, 2, 3, 4, 5)


def test_inner_product_transpose_layout():
    layer = make(InnerProduct, "inner_product_param { num_output: 3 transpose: true "
                 "weight_filler { type: 'gaussian' } }", (2, 4, 5))
    assert tuple(layer.blobs[0].shape) == (20, 3) and layer.top_shapes == [(2, 3)]
    x = torch.randn(2, 4, 5)
    torch.testing.assert_close(layer(x)[0], x.reshape(2, 20) @ layer.blobs[0] + layer.blobs[1])


def test_convolution_with_two_bottoms_shares_weights():
    lp = parse_text('name: "L" top: "t1" top: "t2" convolution_param { num_output: 2 kernel_size: 3 '
                    'weight_filler { type: "gaussian" } }', caffe_pb2.LayerParameter())
    layer = Convolution(lp, [(1, 3, 6, 6), (1, 3, 6, 6)], caffe_pb2.TEST)
    a, b = torch.randn(1, 3, 6, 6), torch.randn(1, 3, 6, 6)
    ta, tb = layer(a, b)
    torch.testing.assert_close(tb, layer(b, a)[0])
    assert layer.top_shapes == [(1, 2, 4, 4)] * 2


NHWC_NET = """
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 4 dim: 1 dim: 15 dim: 15 } } }
layer { name: "label" type: "Input" top: "label" input_param { shape { dim: 4 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 6 kernel_size: 3 weight_filler { type: "gaussian" std: 0.3 }
                      bias_filler { type: "gaussian" } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "norm1" type: "LRN" bottom: "pool1" top: "norm1" lrn_param { local_size: 5 alpha: 0.1 beta: 0.75 } }
layer { name: "conv2" type: "Convolution" bottom: "norm1" top: "conv2"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 group: 2 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "up" type: "Deconvolution" bottom: "conv2" top: "up"
  convolution_param { num_output: 4 kernel_size: 4 stride: 2 pad: 1 group: 4 weight_filler { type: "bilinear" } } }
layer { name: "pool2" type: "Pooling" bottom: "up" top: "pool2" top: "mask"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "pool3" type: "Pooling" bottom: "pool2" top: "pool3" pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
layer { name: "ip" type: "InnerProduct" bottom: "pool3" top: "ip"
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
"""


def _run_nhwc_net(nhwc: bool):
    from tunewiz.engine.net.net import Net

    net = Net(parse_text(NHWC_NET, caffe_pb2.NetParameter()), caffe_pb2.TRAIN, seed=3, numerics="torch")
    for layer in net.layers:
        if hasattr(layer, "nhwc"):
            assert layer.nhwc  # torch's kernels on the CPU: 2-D (de)convolutions run NHWC
            layer.nhwc = nhwc
    gen = torch.Generator().manual_seed(5)
    inputs = {"data": torch.randn(4, 1, 15, 15, generator=gen), "label": torch.tensor([0.0, 2, 1, 2])}
    blobs = net.forward(inputs, retain_grad=True)
    net.loss(blobs).backward()
    diffs = {name: blob.grad for name, blob in net.diff_blobs.items() if blob.grad is not None}
    grads = {f"{layer.name}/{i}": p.grad for layer in net.layers for i, p in enumerate(layer.blobs)}
    return net, blobs, diffs, grads


def test_nhwc_convolutions_give_the_nchw_blobs_and_gradients():
    """Channels-last (de)convolutions (torch's kernels on the CPU) change strides, not values: every blob,
    blob diff and param diff equals the NCHW run within the layer fixtures' tolerance."""
    net, blobs, diffs, grads = _run_nhwc_net(True)
    assert blobs["conv1"].is_contiguous(memory_format=torch.channels_last)  # also from a 1-channel bottom
    assert blobs["pool2"].is_contiguous(memory_format=torch.channels_last)
    assert all(p.grad.is_contiguous() for layer in net.layers for p in layer.blobs)  # the solvers' layout
    _, want_blobs, want_diffs, want_grads = _run_nhwc_net(False)
    for got, want in ((blobs, want_blobs), (diffs, want_diffs), (grads, want_grads)):
        assert got.keys() == want.keys()
        for name in want:
            torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-6, msg=name)


def test_caffe_numerics_keep_nchw():
    """Caffe's CPU order reads NCHW memory: with numerics "caffe" no layer runs NHWC, also the grouped
    convolutions that keep torch's kernels."""
    from tunewiz.engine.net.net import Net

    net = Net(parse_text(NHWC_NET, caffe_pb2.NetParameter()), caffe_pb2.TRAIN, seed=3, numerics="caffe")
    assert not any(getattr(layer, "nhwc", False) for layer in net.layers)
    net.choose_engine("torch")
    assert all(layer.nhwc for layer in net.layers if hasattr(layer, "nhwc"))


def test_a_traced_convolution_stays_nchw():
    """NHWC is eager mode's choice: torch.export (what ``tunewiz export`` runs) sees no restriding."""
    layer = make(Convolution, "convolution_param { num_output: 2 kernel_size: 3 }", (2, 1, 6, 6))
    assert layer.nhwc
    program = torch.export.export(layer, (torch.randn(2, 1, 6, 6),))
    ops = [str(node.target) for node in program.graph.nodes if node.op == "call_function"]
    assert "aten.conv2d.default" in ops
    assert not [op for op in ops if "strided" in op or "contiguous" in op or "clone" in op], ops


@pytest.mark.parametrize("shape", [(4, 1, 5, 6), (1, 3, 5, 6), (4, 3, 1, 1), (1, 1, 1, 1), (4, 3, 5, 6), (2, 1, 1, 7)])
def test_channels_last_gives_nhwc_strides_also_where_the_layout_is_ambiguous(shape):
    n, c, h, w = shape
    x = torch.randn(shape)
    sources = [x, x.contiguous(memory_format=torch.channels_last),
               torch.randn(n, c + 2, h, w)[:, 1:c + 1], torch.randn(n + 1, c, h, w)[1:]]
    for source in sources:
        y = channels_last(source)
        assert y.stride() == (h * w * c, 1, w * c, c)
        assert torch.equal(y, source)
