"""Normalisation layers: LRN, BatchNorm, MVN, Softmax.  (Scale and Bias are in ``scale``.)"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from tunewiz.caffe import caffe_pb2
from tunewiz.engine.layers.base import Layer, register
from tunewiz.engine.layers.kernels import caffe_bn

LRNP = caffe_pb2.LRNParameter


def _channel_window_sum(t: torch.Tensor, size: int, pre_pad: int) -> torch.Tensor:
    """``out[:, c] = sum_{i < size} t[:, c - pre_pad + i]`` with zero padding (Caffe's running sum)."""
    channels = t.shape[1]
    padded = F.pad(t, (0, 0, 0, 0, pre_pad, size - 1 - pre_pad))
    out = padded[:, 0:channels].clone()
    for i in range(1, size):
        out += padded[:, i:i + channels]
    return out


class _LRNAcross(torch.autograd.Function):
    """Caffe's CrossChannelForward/Backward:
    ``scale = k + alpha/n * sum_window x^2``, ``y = x * scale^-beta``,
    ``dx = dy * scale^-beta - 2*alpha*beta/n * x * sum_window(dy * y / scale)``."""

    @staticmethod
    def forward(ctx, x, size, pre_pad, alpha, beta, k):
        scale = _channel_window_sum(x * x, size, pre_pad).mul_(alpha / size).add_(k)
        factor = torch.pow(scale, -beta)
        y = x * factor
        ctx.save_for_backward(x, y, scale, factor)
        ctx.args = (size, pre_pad, alpha, beta)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, y, scale, factor = ctx.saved_tensors
        size, pre_pad, alpha, beta = ctx.args
        ratio = _channel_window_sum(dy * y / scale, size, pre_pad)
        dx = dy * factor - ratio.mul_(x).mul_(2.0 * alpha * beta / size)
        return dx, None, None, None, None, None


@register("LRN")
class LRN(Layer):
    """ACROSS_CHANNELS: ``y = x / (k + alpha/n * sum_{n channels around c} x^2) ^ beta`` (centred
    window, zero padding).  WITHIN_CHANNEL: ``y = x / (1 + alpha/n^2 * sum_{n x n window} x^2) ^ beta``
    (Caffe builds it from AVE pooling, padding counted in the n^2 divisor, and ignores k)."""

    def setup(self, bottom_shapes):
        p = self.param.lrn_param
        shape = bottom_shapes[0]
        if len(shape) != 4:
            raise self.fail(f"needs a 4-axis bottom (N, C, H, W), got {list(shape)}")
        if p.local_size % 2 == 0:
            raise self.fail(f"local_size must be odd, got {p.local_size}")
        self.size, self.alpha, self.beta, self.k = int(p.local_size), float(p.alpha), float(p.beta), float(p.k)
        self.region = p.norm_region
        self.pre_pad = (self.size - 1) // 2
        return [shape]

    def forward(self, x):
        if self.region == LRNP.ACROSS_CHANNELS:
            return (_LRNAcross.apply(x, self.size, self.pre_pad, self.alpha, self.beta, self.k),)
        avg = F.avg_pool2d(x * x, self.size, stride=1, padding=self.pre_pad, count_include_pad=True)
        return (x * torch.pow(avg * self.alpha + 1.0, -self.beta),)


@register("BatchNorm")
class BatchNorm(Layer):
    """``y = (x - mean) / sqrt(var + eps)`` per channel (axis 1), no affine.

    Blobs: mean-sum (C), var-sum (C), scale factor (1,).  ``use_global_stats`` (default:
    phase == TEST) uses ``mean = blob0 / factor``, ``var = blob1 / factor`` (0 when factor is 0).
    Otherwise batch statistics over N*H*W (biased variance), and the forward updates
    ``factor = maf*factor + 1``, ``blob0 = maf*blob0 + mean_b``, ``blob1 = maf*blob1 + m/(m-1)*var_b``
    (``maf`` = moving_average_fraction, m = N*H*W).  Backward with batch stats:
    ``dx = (dy - mean(dy) - y * mean(dy * y)) / sqrt(var + eps)``; the blobs get no gradient.
    """

    #: Caffe forces lr_mult 0 on all three blobs (they are statistics, not learned); the net
    #: builder / solver uses this instead of the prototxt's param { lr_mult }.
    fixed_lr_mult = 0.0

    def setup(self, bottom_shapes):
        p = self.param.batch_norm_param
        shape = bottom_shapes[0]
        channels = 1 if len(shape) == 1 else shape[1]
        self.use_global_stats = p.use_global_stats if p.HasField("use_global_stats") else self.phase == caffe_pb2.TEST
        self.maf, self.eps = float(p.moving_average_fraction), float(p.eps)
        self.add_blob((channels,))
        self.add_blob((channels,))
        self.add_blob((1,))
        return [shape]

    def _view(self, v, x):
        return v.reshape((1, -1) + (1,) * (x.dim() - 2)) if x.dim() > 1 else v

    def forward(self, x):
        dims = tuple(d for d in range(x.dim()) if d != 1)
        if self.use_global_stats:
            factor = self.blobs[2].detach()[0]
            scale = torch.where(factor == 0, torch.zeros_like(factor), 1.0 / factor)
            mean, var = self.blobs[0].detach() * scale, self.blobs[1].detach() * scale
            mean, var = self._view(mean, x), self._view(var, x)
        else:
            mean = x.mean(dim=dims, keepdim=True)
            var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
            self._update(mean.detach().flatten(), var.detach().flatten(), x.numel() // max(1, self._channels(x)))
        return ((x - mean) / torch.sqrt(var + self.eps),)

    def caffe_cpu_forward(self):
        """Caffe's sums, moving averages and rounding (``kernels.caffe_bn``)."""
        return self._forward_caffe_cpu

    def _forward_caffe_cpu(self, x):
        blobs = [self.blobs[i] for i in range(3)]
        return (caffe_bn.batch_norm(x, blobs, self.use_global_stats, self.maf, self.eps),)

    @staticmethod
    def _channels(x):
        return 1 if x.dim() == 1 else x.shape[1]

    @torch.no_grad()
    def _update(self, mean, var, m):
        if mean.device.type == "meta":
            return
        correction = m / (m - 1) if m > 1 else 1.0
        b0, b1, b2 = self.blobs[0], self.blobs[1], self.blobs[2]
        b2.mul_(self.maf).add_(1.0)
        b0.mul_(self.maf).add_(mean)
        b1.mul_(self.maf).add_(var * correction)


class _MVNFunction(torch.autograd.Function):
    """``y = (x - mean) / (std + eps)``; Caffe's Backward (exact only for eps 0):
    ``dx = (dy - mean(dy) - y * mean(y * dy)) / (std + eps)``."""

    @staticmethod
    def forward(ctx, x, dims, eps):
        xc = x - x.mean(dim=dims, keepdim=True)
        std = torch.sqrt((xc * xc).mean(dim=dims, keepdim=True)) + eps
        y = xc / std
        ctx.save_for_backward(y, std)
        ctx.dims = dims
        return y

    @staticmethod
    def backward(ctx, dy):
        y, std = ctx.saved_tensors
        dims = ctx.dims
        dx = dy - dy.mean(dim=dims, keepdim=True) - y * (y * dy).mean(dim=dims, keepdim=True)
        return dx / std, None, None


@register("MVN")
class MVN(Layer):
    """``y = x - mean`` or, with ``normalize_variance`` (default), ``y = (x - mean) / (sqrt(var) + eps)``
    (eps, default 1e-9, is added to the STANDARD DEVIATION), over H*W per (n, c), or over C*H*W
    per n with ``across_channels``."""

    def setup(self, bottom_shapes):
        p = self.param.mvn_param
        shape = bottom_shapes[0]
        self.dims = tuple(range(1 if p.across_channels else 2, len(shape)))
        self.normalize_variance, self.eps = bool(p.normalize_variance), float(p.eps)
        return [shape]

    def forward(self, x):
        if not self.dims:  # one value per group: x - mean is 0, and so is its gradient
            return (x * 0,)
        if self.normalize_variance:
            return (_MVNFunction.apply(x, self.dims, self.eps),)
        return (x - x.mean(dim=self.dims, keepdim=True),)


@register("Softmax")
class Softmax(Layer):
    """``y_k = exp(x_k - max) / sum_j exp(x_j - max)`` along ``axis``;
    Backward ``dx = (dy - sum(dy * y)) * y``."""

    def setup(self, bottom_shapes):
        shape = bottom_shapes[0]
        self.axis = self.canonical_axis(self.param.softmax_param.axis, len(shape))
        return [shape]

    def forward(self, x):
        return (torch.softmax(x, dim=self.axis),)
