"""Vision layer setup rules beyond the Caffe fixtures: errors that name the layer, bilinear
upsampling by Deconvolution (Caffe's documented recipe), N-D convolution shapes."""
import pytest
import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text
from tunewiz.engine.layers.vision import Convolution, Deconvolution, InnerProduct, Pooling
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
