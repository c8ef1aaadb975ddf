"""Vision layers: Convolution, Deconvolution, Pooling, InnerProduct (Caffe's numerics and blob layouts).

* Convolution: weight ``(num_output, C/group, *kernel)``, bias ``(num_output,)``;
  ``out = (H + 2*pad - (dilation*(k-1) + 1)) / stride + 1`` rounded DOWN.
* Deconvolution: weight ``(C, num_output/group, *kernel)``;
  ``out = stride*(H - 1) + dilation*(k-1) + 1 - 2*pad``.
* Pooling: see ``tunewiz.engine.layers.kernels.pooling`` (ceil rounding, clip rule, AVE divisor, mask top).
* InnerProduct: ``K = prod(shape[axis:])``, top ``shape[:axis] + (num_output,)``,
  ``y = x W^T + b`` with W ``(num_output, K)`` or ``(K, num_output)`` when ``transpose``.

Memory format: with torch's kernels on the CPU a 2-D convolution runs on channels-last (NHWC) bottoms, so
oneDNN skips its NCHW reorders and the tops it makes are NHWC too; the pooling, ReLU and LRN after it keep
that layout (torch's NHWC max pooling is several times faster than its NCHW one, with the same first-maximum
ties).  The values are the blobs' logical (N, C, H, W) ones either way; only the strides differ.  A graph being
traced (``tunewiz export``, ``torch.compile``) keeps NCHW: the layout is eager mode's choice, not the model's.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from tunewiz.caffe import caffe_pb2
from tunewiz.engine.layers.kernels import caffe_conv, caffe_cpu, pooling
from tunewiz.engine.layers.base import Layer, register

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_DECONV = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def per_axis(layer: Layer, values, h, w, has_hw: bool, n: int, default: int, what: str) -> list[int]:
    """Caffe's rule for kernel/stride/pad/dilation: _h/_w (2-D only), or 1 value, or n values."""
    if has_hw:
        if n != 2:
            raise layer.fail(f"{what}_h/{what}_w can only be used for 2-D convolution")
        if len(values):
            raise layer.fail(f"give either {what} or {what}_h and {what}_w, not both")
        return [int(h), int(w)]
    values = list(values)
    if not values:
        return [default] * n
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise layer.fail(f"{what} must be given once or {n} times (once per spatial axis)")
    return [int(v) for v in values]


def _weight_bias(layer: Layer):
    """Blob 0 and (when bias_term) blob 1, read from the ParameterList's own dict (indexing a
    ParameterList goes through ``Module.__getattr__``, which costs more than the small layers)."""
    blobs = layer.blobs._parameters
    return blobs["0"], (blobs["1"] if layer.bias_term else None)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` with NHWC strides.  Also for one channel (or 1x1 images), where ``contiguous(channels_last)``
    keeps NCHW's strides because the layout is ambiguous, and oneDNN would then answer in NCHW."""
    n, c, h, w = x.shape
    strides = (h * w * c, 1, w * c, c)
    if x.stride() == strides:
        return x
    if not x.is_contiguous(memory_format=torch.channels_last):
        x = x.contiguous(memory_format=torch.channels_last)
    return x if x.stride() == strides else x.as_strided(x.shape, strides)


class _ConvBase(Layer):
    transposed = False
    #: run on NHWC bottoms (set by ``choose_engine``: torch's kernels, a 2-D convolution on the CPU)
    nhwc = False

    def setup(self, bottom_shapes):
        cp = self.param.convolution_param
        if not bottom_shapes or len(bottom_shapes) != len(self.param.top):
            raise self.fail("needs one top per bottom (bottom i -> top i, same weights)")
        shape = bottom_shapes[0]
        if any(tuple(s) != tuple(shape) for s in bottom_shapes):
            raise self.fail(f"all bottoms must have the same shape, got {bottom_shapes}")
        axis = self.canonical_axis(cp.axis, len(shape))
        if axis != 1:
            raise self.fail("only the channel axis 1 is supported for convolution")
        n = len(shape) - 2
        if n not in _CONV:
            raise self.fail(f"needs a 3- to 5-axis bottom (N, C, spatial...), got shape {shape}")
        if cp.HasField("kernel_h") != cp.HasField("kernel_w"):
            raise self.fail("give both kernel_h and kernel_w")
        self.kernel = per_axis(self, cp.kernel_size, cp.kernel_h, cp.kernel_w, cp.HasField("kernel_h"), n, 0, "kernel")
        if any(k <= 0 for k in self.kernel):
            raise self.fail("kernel dimensions must be > 0 (set kernel_size)")
        self.stride = per_axis(self, cp.stride, cp.stride_h, cp.stride_w,
                                cp.HasField("stride_h") or cp.HasField("stride_w"), n, 1, "stride")
        self.pad = per_axis(self, cp.pad, cp.pad_h, cp.pad_w,
                             cp.HasField("pad_h") or cp.HasField("pad_w"), n, 0, "pad")
        self.dilation = per_axis(self, cp.dilation, 0, 0, False, n, 1, "dilation")
        if any(v <= 0 for v in self.stride + self.dilation):
            raise self.fail(f"stride {self.stride} and dilation {self.dilation} must be > 0")
        channels, self.group, num_output = shape[1], cp.group, cp.num_output
        if num_output <= 0:
            raise self.fail("num_output must be > 0")
        if channels % self.group or num_output % self.group:
            raise self.fail(f"channels ({channels}) and num_output ({num_output}) must be multiples "
                            f"of group ({self.group})")
        if self.transposed:
            wshape = (channels, num_output // self.group, *self.kernel)
        else:
            wshape = (num_output, channels // self.group, *self.kernel)
        self.add_blob(wshape, cp.weight_filler)
        self.bias_term = cp.bias_term
        if self.bias_term:
            self.add_blob((num_output,), cp.bias_filler)
        spatial = [self._out(shape[2 + i], i) for i in range(n)]
        if any(o <= 0 for o in spatial):
            raise self.fail(
                f"output size {spatial} is not positive for input {list(shape[2:])} with kernel {self.kernel}, "
                f"stride {self.stride}, pad {self.pad}, dilation {self.dilation}: the kernel is larger than "
                "the padded input; use a smaller kernel or more padding")
        self.n_spatial = n
        return [(shape[0], num_output, *spatial)] * len(bottom_shapes)

    def _out(self, size: int, i: int) -> int:
        extent = self.dilation[i] * (self.kernel[i] - 1) + 1
        if self.transposed:
            return self.stride[i] * (size - 1) + extent - 2 * self.pad[i]
        return (size + 2 * self.pad[i] - extent) // self.stride[i] + 1

    def check_bottom(self, x) -> None:
        """Caffe's Reshape check: the channels the weights were made for ("Input size incompatible
        with convolution kernel"), and an input still large enough for the kernel."""
        if x.dim() != 2 + self.n_spatial or x.shape[1] != self.bottom_shapes[0][1]:
            raise self.fail(f"input size changed: the layer was set up for {self.bottom_shapes[0][1]} channels "
                            f"({self.n_spatial}-D), the bottom now has shape {tuple(x.shape)}; Caffe stops here "
                            "too (Input size incompatible with convolution kernel)")
        spatial = [self._out(int(x.shape[2 + i]), i) for i in range(self.n_spatial)]
        if any(o <= 0 for o in spatial):
            raise self.fail(f"output size {spatial} is not positive for input {list(x.shape[2:])}: the kernel "
                            f"{self.kernel} is larger than the padded input (pad {self.pad})")

    def choose_engine(self, numerics: str) -> str:
        """As ``Layer.choose_engine``; with torch's kernels on the CPU a 2-D layer also runs NHWC (the
        module docstring).  Not in Caffe's order: its kernels read NCHW memory."""
        engine = super().choose_engine(numerics)
        self.nhwc = numerics == "torch" and self.device.type == "cpu" and self.n_spatial == 2
        return engine

    def forward(self, *bottoms):
        for x in bottoms:
            self.check_bottom(x)
        if self.nhwc and not torch.compiler.is_compiling():  # a traced graph (export) stays NCHW
            bottoms = tuple(channels_last(x) for x in bottoms)
        weight, bias = _weight_bias(self)
        fn = (_DECONV if self.transposed else _CONV)[self.n_spatial]
        if self.transposed:
            return tuple(fn(x, weight, bias, self.stride, self.pad, 0, self.group, self.dilation) for x in bottoms)
        return tuple(fn(x, weight, bias, self.stride, self.pad, self.dilation, self.group) for x in bottoms)

    def caffe_cpu_forward(self):
        """Caffe's im2col + sgemm order (``kernels.caffe_conv``) for a 2-D convolution (any group, dilation)."""
        if self.transposed or self.n_spatial != 2:
            return None
        return self._forward_caffe_cpu

    def _forward_caffe_cpu(self, *bottoms):
        for x in bottoms:
            self.check_bottom(x)
        weight, bias = _weight_bias(self)
        if getattr(self, "workspace", None) is None:
            self.workspace = caffe_conv.Workspace()
        return tuple(caffe_cpu.conv(x, weight, bias, self.kernel, self.stride, self.pad, self.dilation,
                                    self.group, self.workspace) for x in bottoms)


@register("Convolution")
class Convolution(_ConvBase):
    """Caffe's ConvolutionLayer (group, dilation, rectangular kernels, stride_h/stride_w)."""


@register("Deconvolution")
class Deconvolution(_ConvBase):
    """Caffe's DeconvolutionLayer (the transpose of Convolution, weight (C, num_output/group, k...))."""

    transposed = True


@register("Pooling")
class Pooling(Layer):
    """Caffe's PoolingLayer: MAX (optional mask top), AVE, STOCHASTIC; global pooling; CEIL/FLOOR.
    ``portable`` (set by ``tunewiz export`` while it traces): the same numbers without ceil_mode
    (``kernels.pooling``)."""

    portable = False

    def setup(self, bottom_shapes):
        pp = self.param.pooling_param
        P = caffe_pb2.PoolingParameter
        if len(bottom_shapes) != 1 or len(bottom_shapes[0]) != 4:
            raise self.fail("takes one 4-axis bottom (N, C, H, W)")
        n, c, h, w = bottom_shapes[0]
        self.method = pp.pool
        self.ceil = pp.round_mode != P.FLOOR
        has_hw = pp.HasField("kernel_h") or pp.HasField("kernel_w")
        if pp.global_pooling:
            if pp.HasField("kernel_size") or has_hw:
                raise self.fail("with global_pooling: true the kernel size cannot be given")
            self.kernel = [h, w]
        else:
            if pp.HasField("kernel_size") == has_hw:
                raise self.fail("give kernel_size, or kernel_h and kernel_w (not both)")
            self.kernel = [pp.kernel_h, pp.kernel_w] if has_hw else [pp.kernel_size] * 2
        if any(k <= 0 for k in self.kernel):
            raise self.fail("kernel dimensions must be > 0")
        has = pp.HasField
        self.pad = [pp.pad_h, pp.pad_w] if has("pad_h") or has("pad_w") else [pp.pad] * 2
        self.stride = [pp.stride_h, pp.stride_w] if has("stride_h") or has("stride_w") else [pp.stride] * 2
        if any(st <= 0 for st in self.stride):
            raise self.fail(f"stride {self.stride} must be > 0")
        if pp.global_pooling and (any(self.pad) or any(s != 1 for s in self.stride)):
            raise self.fail("with global_pooling: true only pad = 0 and stride = 1 are allowed")
        if any(self.pad) and self.method not in (P.AVE, P.MAX):
            raise self.fail("padding is implemented only for AVE and MAX pooling")
        if any(p >= k for p, k in zip(self.pad, self.kernel)):
            raise self.fail(f"pad {self.pad} must be smaller than the kernel {self.kernel}")
        self.out = [pooling.caffe_out(size, self.kernel[i], self.stride[i], self.pad[i], self.ceil)
                    for i, size in enumerate((h, w))]
        if any(o <= 0 for o in self.out) or any(k > size + 2 * p for k, size, p in
                                                zip(self.kernel, (h, w), self.pad)):
            raise self.fail(f"kernel {self.kernel} is larger than the padded input "
                            f"{h}x{w} (+pad {self.pad}); use a smaller kernel or more padding")
        ntop = len(self.param.top)
        if ntop > (2 if self.method == P.MAX else 1) or ntop < 1:
            raise self.fail("makes one top (MAX pooling may add a 2nd top: the mask)")
        return [(n, c, *self.out)] * ntop

    def forward(self, x):
        P = caffe_pb2.PoolingParameter
        k, s, p, out = self.kernel, self.stride, self.pad, self.out
        if self.method == P.MAX:
            top, mask = pooling.max_pool(x, k, s, p, out, self.ceil, len(self.top_shapes) > 1, self.portable)
            return (top,) if mask is None else (top, mask)
        if self.method == P.AVE:
            return (pooling.ave_pool(x, k, s, p, out, self.ceil, self.portable),)
        return (pooling.stochastic_pool(x, k, s, out, self.phase == caffe_pb2.TRAIN),)


@register("InnerProduct")
class InnerProduct(Layer):
    """Caffe's InnerProductLayer: ``y = x W^T + b`` over axes ``axis..`` flattened (K inputs)."""

    def setup(self, bottom_shapes):
        ip = self.param.inner_product_param
        if len(bottom_shapes) != 1:
            raise self.fail("takes exactly one bottom")
        shape = bottom_shapes[0]
        self.axis = self.canonical_axis(ip.axis, len(shape))
        self.K = math.prod(shape[self.axis:])
        self.N = ip.num_output
        if self.N <= 0:
            raise self.fail("num_output must be > 0")
        self.transpose = ip.transpose
        self.add_blob((self.K, self.N) if self.transpose else (self.N, self.K), ip.weight_filler)
        self.bias_term = ip.bias_term
        if self.bias_term:
            self.add_blob((self.N,), ip.bias_filler)
        return [(*shape[:self.axis], self.N)]

    def check_bottom(self, x) -> None:
        """Caffe's Reshape check: K = count(axis) must be what the weights were made for."""
        k = math.prod(x.shape[self.axis:])
        if k != self.K:
            raise self.fail(f"input size changed: the layer was set up for {self.K} inputs per row, the "
                            f"bottom now has {k} (shape {tuple(x.shape)}); Caffe stops here too "
                            "(Input size incompatible with inner product parameters)")

    def forward(self, x):
        self.check_bottom(x)
        lead = x.shape[:self.axis]
        weight, bias = _weight_bias(self)
        out = F.linear(x.reshape(-1, self.K), weight.t() if self.transpose else weight, bias)
        return (out.reshape(*lead, self.N),)

    def caffe_cpu_forward(self):
        """Caffe's sgemm order for the usual axis 1 (one row per image)."""
        return self._forward_caffe_cpu if self.axis == 1 else None

    def _forward_caffe_cpu(self, x):
        self.check_bottom(x)
        weight, bias = _weight_bias(self)
        out = caffe_cpu.inner_product(x.reshape(x.shape[0], self.K), weight, bias, self.transpose)
        return (out.reshape(x.shape[0], self.N),)
