"""Layers made of sliding windows over the spatial axes: Im2col and SPP (spatial pyramid pooling).

* Im2col: the columns Caffe's convolution multiplies its weights with, as a top.  For each item of the
  axes before ``axis`` (the channel axis), top channel ``(c * K_1 + k_1) * K_2 + k_2 ...`` (channel-major,
  then the kernel offsets in row-major order) at output position ``o`` holds
  ``x[c, o_i * stride_i - pad_i + k_i * dilation_i ...]``, 0 where that falls into the padding;
  ``out_i = (size_i + 2*pad_i - (dilation_i*(K_i-1) + 1)) / stride_i + 1`` rounded down.
  Backward is col2im: each input gets the sum of the diffs of every column entry that copied it.
* SPP: ``pyramid_height`` levels of pooling, level ``l`` with ``bins = 2^l`` per axis:
  ``kernel = ceil(size / bins)``, ``pad = (kernel*bins - size + 1) / 2``, ``stride = kernel``
  (Caffe's ``SPPLayer::GetPoolingParam``), pooled as Caffe's Pooling (``kernels.pooling``: CEIL
  rounding and its clip rule, AVE's divisor).  One level gives the pooled blob as it is (N, C, 1, 1);
  more give each level flattened to (N, C*bins*bins) and concatenated in level order.  A bottom of
  another size recomputes the levels, as Caffe's Reshape does.
"""
from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

from tunewiz.caffe import caffe_pb2
from tunewiz.engine.layers.base import Layer, register
from tunewiz.engine.layers.kernels import pooling
from tunewiz.engine.layers.vision import per_axis


@register("Im2col")
class Im2col(Layer):
    """Caffe's Im2colLayer (``convolution_param``: kernel, stride, pad, dilation per spatial axis, ``axis``);
    ``force_nd_im2col`` picks Caffe's N-D kernel, which gives the same numbers."""

    def setup(self, bottom_shapes):
        cp = self.param.convolution_param
        if len(bottom_shapes) != 1 or len(self.param.top) != 1:
            raise self.fail("takes one bottom and makes one top")
        shape = bottom_shapes[0]
        self.axis = self.canonical_axis(cp.axis, len(shape))
        n = len(shape) - self.axis - 1
        if n < 1:
            raise self.fail(f"needs at least one spatial axis after the channel axis {self.axis}, got shape {shape}")
        self.n_spatial = n
        self.kernel = per_axis(self, cp.kernel_size, cp.kernel_h, cp.kernel_w,
                               cp.HasField("kernel_h") or cp.HasField("kernel_w"), n, 0, "kernel")
        if any(k <= 0 for k in self.kernel):
            raise self.fail("kernel dimensions must be > 0 (set kernel_size)")
        self.stride = per_axis(self, cp.stride, cp.stride_h, cp.stride_w,
                               cp.HasField("stride_h") or cp.HasField("stride_w"), n, 1, "stride")
        self.pad = per_axis(self, cp.pad, cp.pad_h, cp.pad_w, cp.HasField("pad_h") or cp.HasField("pad_w"), n, 0, "pad")
        self.dilation = per_axis(self, cp.dilation, 0, 0, False, n, 1, "dilation")
        if any(v <= 0 for v in self.stride + self.dilation):
            raise self.fail(f"stride {self.stride} and dilation {self.dilation} must be > 0")
        return [self._top_shape(shape)]

    def _top_shape(self, shape) -> tuple[int, ...]:
        out = []
        for i, size in enumerate(shape[self.axis + 1:]):
            extent = self.dilation[i] * (self.kernel[i] - 1) + 1
            if size + 2 * self.pad[i] < extent:
                raise self.fail(f"the kernel {self.kernel} (dilation {self.dilation}) is larger than the padded "
                                f"input {list(shape[self.axis + 1:])} (pad {self.pad}); use a smaller kernel or more padding")
            out.append((size + 2 * self.pad[i] - extent) // self.stride[i] + 1)
        channels = shape[self.axis] * math.prod(self.kernel)
        return (*shape[:self.axis], channels, *out)

    def forward(self, x):
        top = self._top_shape(tuple(x.shape))
        out = top[self.axis + 1:]
        c, spatial = x.shape[self.axis], x.shape[self.axis + 1:]
        flat = x.reshape(-1, c, *spatial)
        padded = F.pad(flat, [p for i in reversed(range(self.n_spatial)) for p in (self.pad[i], self.pad[i])])
        cols = []
        for offsets in itertools.product(*(range(k) for k in self.kernel)):
            window = tuple(slice(o * d, o * d + s * (m - 1) + 1, s)
                           for o, d, s, m in zip(offsets, self.dilation, self.stride, out))
            cols.append(padded[(slice(None), slice(None)) + window])
        col = torch.stack(cols, dim=2)  # (items, C, kernel offsets, *out): channel-major as Caffe's
        return (col.reshape(*x.shape[:self.axis], top[self.axis], *out),)


@register("SPP")
class SPP(Layer):
    """Caffe's SPPLayer: a pyramid of MAX, AVE or STOCHASTIC poolings, flattened and concatenated.
    ``portable`` (set by ``tunewiz export`` while it traces): the pooling's portable path."""

    portable = False

    def setup(self, bottom_shapes):
        sp = self.param.spp_param
        if len(bottom_shapes) != 1 or len(bottom_shapes[0]) != 4:
            raise self.fail("takes one 4-axis bottom (N, C, H, W)")
        if sp.pyramid_height < 1:
            raise self.fail("spp_param.pyramid_height must be >= 1")
        self.height = int(sp.pyramid_height)
        self.method = sp.pool
        self._levels = {}
        n, c, h, w = bottom_shapes[0]
        levels = self.levels(h, w)
        if self.height == 1:
            return [(n, c, *levels[0][3])]
        return [(n, c * sum(o[0] * o[1] for *_, o in levels))]

    def levels(self, h: int, w: int) -> list[tuple]:
        """Per level: kernel, stride, pad, pooled size (each an [h, w] pair), for an ``h`` x ``w`` bottom."""
        if (h, w) not in self._levels:
            self._levels[(h, w)] = [self._level(i, h, w) for i in range(self.height)]
        return self._levels[(h, w)]

    def _level(self, i: int, h: int, w: int) -> tuple:
        bins = 2 ** i
        kernel = [math.ceil(size / bins) for size in (h, w)]
        pad = [(k * bins - size + 1) // 2 for k, size in zip(kernel, (h, w))]
        if any(p >= k for p, k in zip(pad, kernel)):
            raise self.fail(f"pyramid level {i} ({bins}x{bins} bins) on a {h}x{w} bottom needs pad {pad} for "
                            f"kernel {kernel}, and Caffe's pooling wants pad < kernel; use a smaller "
                            "pyramid_height or a larger input")
        if any(pad) and self.method == caffe_pb2.SPPParameter.STOCHASTIC:
            raise self.fail(f"pyramid level {i} on a {h}x{w} bottom pads the input, and STOCHASTIC pooling "
                            "has no padding in Caffe; use MAX or AVE, or an input that the bins divide")
        out = [pooling.caffe_out(size, k, k, p) for size, k, p in zip((h, w), kernel, pad)]
        return kernel, kernel, pad, out

    def forward(self, x):
        levels = self.levels(int(x.shape[2]), int(x.shape[3]))
        pooled = [self._pool(x, *level) for level in levels]
        if self.height == 1:
            return (pooled[0],)
        return (torch.cat([p.flatten(1) for p in pooled], dim=1),)

    def _pool(self, x, k, s, p, out):
        P = caffe_pb2.SPPParameter
        if self.method == P.MAX:
            return pooling.max_pool(x, k, s, p, out, True, False, self.portable)[0]
        if self.method == P.AVE:
            return pooling.ave_pool(x, k, s, p, out, True, self.portable)
        return pooling.stochastic_pool(x, k, s, out, self.phase == caffe_pb2.TRAIN)
