"""Im2col and SPP beyond the Caffe cases (tests/fixtures/layers, checked by test_layer_fidelity): Im2col's
columns are what a convolution multiplies (Caffe's channel-major layout), a channel axis other than 1, SPP on
a bottom of another size, and the messages for what Caffe's pooling refuses."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text
from tunewiz.engine.layers.base import NetError
from tunewiz.engine.layers.windows import SPP, Im2col


def _layer(cls, text: str, shape):
    return cls(parse_text(text, caffe_pb2.LayerParameter()), [shape], caffe_pb2.TEST)


def _im2col(conv: str, shape):
    return _layer(Im2col, f'name: "cols" type: "Im2col" bottom: "x" top: "c" convolution_param {{ {conv} }}', shape)


def _spp(height: int, pool: str, shape):
    return _layer(SPP, f'name: "spp" type: "SPP" bottom: "x" top: "s" spp_param {{ pyramid_height: {height} '
                       f'pool: {pool} }}', shape)


def test_the_columns_are_what_a_convolution_multiplies():
    """conv(x, W) = W.reshape(O, C*kh*kw) @ im2col(x): channel-major, then the kernel offsets row by row."""
    x, w = torch.randn(2, 3, 9, 10, dtype=torch.float64), torch.randn(4, 3, 2, 3, dtype=torch.float64)
    layer = _im2col("kernel_h: 2 kernel_w: 3 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 2 dilation: 2", (2, 3, 9, 10))
    (cols,) = layer(x)
    want = F.conv2d(x, w, stride=(2, 1), padding=(1, 2), dilation=2)
    assert cols.shape == (2, 18, *want.shape[2:]) == layer.top_shapes[0]
    torch.testing.assert_close(torch.einsum("ok,nkhw->nohw", w.reshape(4, 18), cols), want)
    assert torch.equal(cols, F.unfold(x, (2, 3), 2, (1, 2), (2, 1)).reshape(cols.shape))


def test_a_channel_axis_after_1_keeps_the_axes_before_it():
    x = torch.randn(2, 3, 4, 5, 6)
    layer = _im2col("axis: 2 kernel_size: 3 pad: 1", tuple(x.shape))
    (cols,) = layer(x)
    assert cols.shape == layer.top_shapes[0] == (2, 3, 36, 5, 6)
    flat = F.unfold(x.reshape(6, 4, 5, 6), 3, padding=1).reshape(6, 36, 5, 6)
    assert torch.equal(cols.reshape(6, 36, 5, 6), flat)


@pytest.mark.parametrize("conv,message", [
    ("kernel_size: 5", r"'cols' \(Im2col\): the kernel \[5, 5\] .* is larger than the padded input \[4, 6\]"),
    ("kernel_size: 2 kernel_h: 2 kernel_w: 2", "give either kernel or kernel_h and kernel_w"),
    ("pad: 1", r"kernel dimensions must be > 0"),
    ("kernel_size: 2 stride: 0", r"stride \[0, 0\] and dilation \[1, 1\] must be > 0"),
])
def test_im2col_refusals_are_named(conv, message):
    with pytest.raises(NetError, match=message):
        _im2col(conv, (1, 2, 4, 6))


def test_one_level_keeps_the_pooled_blob_and_more_levels_concatenate_them():
    x = torch.randn(2, 3, 7, 9)
    one, three = _spp(1, "MAX", (2, 3, 7, 9)), _spp(3, "MAX", (2, 3, 7, 9))
    assert one.top_shapes == [(2, 3, 1, 1)] and three.top_shapes == [(2, 3 * (1 + 4 + 16))]
    (top,) = three(x)
    assert torch.equal(top[:, :3], x.amax((2, 3)))  # level 0 first: one bin per channel
    assert torch.equal(one(x)[0], x.amax((2, 3), keepdim=True))


def test_a_bottom_of_another_size_recomputes_the_levels():
    """As Caffe's Reshape: the pyramid of a 10x13 bottom, not the one set up for 7x9."""
    x = torch.randn(2, 2, 10, 13)
    for pool in ("MAX", "AVE"):
        (got,) = _spp(3, pool, (2, 2, 7, 9))(x)
        (want,) = _spp(3, pool, (2, 2, 10, 13))(x)
        assert torch.equal(got, want)


@pytest.mark.parametrize("height,pool,shape,message", [
    (3, "MAX", (1, 1, 3, 8), r"level 2 \(4x4 bins\) on a 3x8 bottom needs pad \[1, 0\] for kernel \[1, 2\]"),
    (0, "MAX", (1, 1, 4, 4), "pyramid_height must be >= 1"),
    (2, "STOCHASTIC", (1, 1, 5, 4), "STOCHASTIC pooling has no padding in Caffe"),
    (2, "MAX", (1, 4, 4), r"one 4-axis bottom"),
])
def test_spp_refusals_are_named(height, pool, shape, message):
    with pytest.raises(NetError, match=message):
        _spp(height, pool, shape)
