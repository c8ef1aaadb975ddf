"""The prepared path's kernels: what each planned step (``plan.Step``) calls, made once per prepared net.

On the CPU, a convolution runs oneDNN's ``_convolution_pointwise`` on NHWC activations with its weights
folded (``plan``'s BatchNorm/Scale) and packed once into oneDNN's blocked layout, the ReLU and a shortcut's
sum done in the same kernel; an inner product runs ``_linear_pointwise``.  Packing is what a per-call
``conv2d`` redoes every time: at batch 1 it is a third of the time of ResNet-50.
Folding is done in float64 and rounded once.  Without oneDNN the same folded weights go to ``conv2d``.

LRN across channels: the window sum as shifted in-place adds, and ``scale^-beta`` by square roots for the
usual betas (0.75: ``r * sqrt(r)`` with ``r = 1/sqrt(scale)``), which is half the time of ``pow``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from tunewiz.engine.layers.vision import channels_last

ONEDNN = torch.backends.mkldnn.is_available()
#: layers whose torch forward takes NHWC tensors as they are (the others get NCHW-contiguous bottoms)
NHWC_SAFE = {"Concat", "Eltwise", "ReLU", "Sigmoid", "TanH", "BatchNorm", "Scale", "Bias", "Softmax",
             "Pooling", "Dropout", "Split", "Power", "AbsVal", "ELU", "Clip", "Swish"}


def _blob(layer, i: int) -> torch.Tensor:
    return layer.blobs[i].detach().to(torch.float64)


def fold(conv, folded) -> tuple[torch.Tensor, torch.Tensor]:
    """The convolution's weights and bias with the BatchNorm/Scale layers after it folded in (float64)."""
    weight = _blob(conv, 0)
    bias = _blob(conv, 1) if conv.bias_term else torch.zeros(weight.shape[0], dtype=torch.float64)
    for layer in folded:
        if layer.param.type == "BatchNorm":
            factor = float(layer.blobs[2].detach()[0])
            scale = 0.0 if factor == 0 else 1.0 / factor
            mean, var = _blob(layer, 0) * scale, _blob(layer, 1) * scale
            mul = 1.0 / torch.sqrt(var + layer.eps)
            add = -mean * mul
        else:
            mul = _blob(layer, 0).flatten()
            add = _blob(layer, 1).flatten() if layer.bias_term else torch.zeros_like(mul)
        weight = weight * mul.reshape(-1, *([1] * (weight.dim() - 1)))
        bias = bias * mul + add
    return weight.float().contiguous(), bias.float().contiguous()


class Conv:
    """A 2-D convolution (+ folded layers, + shortcut sum, + ReLU) on NHWC activations."""

    def __init__(self, layer, folded, relu: bool, add: bool):
        self.layer, self.add = layer, add
        self.weight, self.bias = fold(layer, folded)
        self.geometry = (list(layer.pad), list(layer.stride), list(layer.dilation), layer.group)
        self.relu = relu
        if ONEDNN:
            self.weight = torch.ops.mkldnn._reorder_convolution_weight(
                self.weight, *self.geometry, list(layer.bottom_shapes[0]))

    def __call__(self, x, other=None):
        self.layer.check_bottom(x)
        x = channels_last(x)
        pad, stride, dilation, group = self.geometry
        if not ONEDNN:
            y = F.conv2d(x, self.weight, self.bias, stride, pad, dilation, group)
            y = y + other if other is not None else y
            return (torch.relu_(y) if self.relu else y,)
        if other is None:
            return (torch.ops.mkldnn._convolution_pointwise(x, self.weight, self.bias, pad, stride, dilation, group,
                                                            "relu" if self.relu else "none", [], ""),)
        return (torch.ops.mkldnn._convolution_pointwise(x, channels_last(other), self.weight, self.bias, pad, stride,
                                                        dilation, group, "add", 1.0, "relu" if self.relu else None,
                                                        [], None),)


class InnerProduct:
    """``y = x W^T + b`` (+ ReLU) over axes 1.. flattened, by oneDNN.  One row (batch 1) is a matrix-vector
    product that reads every weight once: the layer's own weights as they are (no copy; packing them gains
    nothing there).  Several rows: weights packed at the first such batch."""

    def __init__(self, layer, relu: bool):
        self.layer, self.attr = layer, "relu" if relu else "none"
        self.weight = layer.blobs[0].detach()
        self.bias = layer.blobs[1].detach() if layer.bias_term else None
        self.packed = None

    def __call__(self, x):
        self.layer.check_bottom(x)
        rows = x.reshape(x.shape[0], self.layer.K)
        if not ONEDNN:
            y = F.linear(rows, self.weight, self.bias)
            return (torch.relu_(y) if self.attr == "relu" else y,)
        weight = self.weight.contiguous()
        if len(rows) > 1:
            if self.packed is None:
                self.packed = torch.ops.mkldnn._reorder_linear_weight(weight, len(rows))
            weight = self.packed
        return (torch.ops.mkldnn._linear_pointwise(rows, weight, self.bias, self.attr, [], ""),)


def _inverse_power(scale: torch.Tensor, beta: float) -> torch.Tensor:
    """``scale ** -beta``, in place where a square root does it."""
    if beta == 0.75:
        r = scale.rsqrt_()
        return r.mul_(torch.sqrt(r))
    if beta == 0.5:
        return scale.rsqrt_()
    if beta == 1.0:
        return scale.reciprocal_()
    return scale.pow_(-beta)


def lrn_across(layer):
    """Caffe's LRN ACROSS_CHANNELS: ``y = x * (k + alpha/n * sum_window x^2) ^ -beta`` (zero-padded window)."""
    size, before, alpha, beta, k = layer.size, layer.pre_pad, layer.alpha, layer.beta, layer.k
    after = size - 1 - before

    def run(x):
        channels = x.shape[1]
        square = torch.mul(x, x)
        window = square.clone()
        for i in range(1, max(before, after) + 1):
            if i <= before and i < channels:
                window[:, i:].add_(square[:, :channels - i])
            if i <= after and i < channels:
                window[:, :channels - i].add_(square[:, i:])
        factor = _inverse_power(window.mul_(alpha / size).add_(k), beta)
        return (torch.mul(x, factor),)
    return run


def pooling(layer):
    """The Pooling layer's own forward on NHWC (torch's NHWC max pool is ~20x its NCHW one at batch 1)."""
    return lambda x: layer.forward(channels_last(x) if x.dim() == 4 else x)


def torch_forward(layer):
    """Any other layer: its torch forward, on NCHW-contiguous bottoms unless it takes NHWC as it is."""
    if layer.param.type in NHWC_SAFE:
        return layer.forward

    def run(*bottoms):
        return layer.forward(*(b.contiguous() for b in bottoms))
    return run
