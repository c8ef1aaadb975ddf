"""Caffe's 2-D pooling numerics (``PoolingLayer``), used by the Pooling layer.

Output size (``round_mode`` CEIL by default, FLOOR in BVLC master)::

    out = ceil((H + 2*pad - k) / stride) + 1          # floor(...) for FLOOR
    if pad > 0 and (out - 1) * stride >= H + pad:      # last window must start inside image+pad
        out -= 1

Windows: ``hstart = ph*stride - pad``, ``hend = min(hstart + k, H + pad)``.
MAX takes the max over the window clipped to the image (padding is never selected; ties: the
first maximum in row-major scan order wins), mask = ``h*W + w``.  AVE divides the sum over the
clipped window by ``pool_size = (hend - hstart) * (wend - wstart)`` taken BEFORE clipping.
STOCHASTIC (no padding; Caffe runs it on GPU only): TRAIN picks one element of the window with
probability ``x / sum(window)``; TEST outputs ``sum(x^2) / (FLT_MIN + sum(x))``.

torch's own ``max_pool2d``/``avg_pool2d`` (``ceil_mode``, ``count_include_pad``) use the same
windows and divisor; they are used whenever torch's output size equals Caffe's and
``pad <= k/2``; otherwise the input is padded explicitly and pooled with floor rounding.

``portable=True`` (what ``tunewiz export`` traces) always takes the explicit route, and AVE becomes
the mean over the full ``k x k`` window of the zero-padded input times ``k*k / pool_size``: no
``ceil_mode`` and no ``divisor_override``, whose meaning ONNX runtimes do not all share (an ONNX
AveragePool with ceil_mode divides the hanging window differently from Caffe in some of them).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

FLT_MIN = 1.1754943508222875e-38
FLT_MAX = 3.4028234663852886e+38


def caffe_out(size: int, k: int, s: int, p: int, ceil: bool = True) -> int:
    """Caffe's pooled size along one axis."""
    rounder = math.ceil if ceil else math.floor
    out = int(rounder((size + 2 * p - k) / s)) + 1
    if p > 0 and (out - 1) * s >= size + p:
        out -= 1
    return out


def torch_out(size: int, k: int, s: int, p: int, ceil: bool) -> int:
    """torch's pooled size (pooling_output_shape) along one axis."""
    out = (size + 2 * p - k + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def native_ok(hw, k, s, p, out, ceil: bool) -> bool:
    return all(p[i] <= k[i] // 2 and torch_out(hw[i], k[i], s[i], p[i], ceil) == out[i] for i in range(2))


def _explicit_pad(x: torch.Tensor, k, s, p, out, value: float) -> torch.Tensor:
    right = [max(0, (out[i] - 1) * s[i] + k[i] - x.shape[2 + i] - p[i]) for i in range(2)]
    return F.pad(x, (p[1], right[1], p[0], right[0]), value=value)


def max_pool(x: torch.Tensor, k, s, p, out, ceil: bool, want_mask: bool, portable: bool = False):
    """MAX pooling; returns (top, mask or None)."""
    H, W = x.shape[2], x.shape[3]
    if not portable and native_ok((H, W), k, s, p, out, ceil):
        if not want_mask:
            return F.max_pool2d(x, k, s, p, ceil_mode=ceil), None
        top, idx = F.max_pool2d(x, k, s, p, ceil_mode=ceil, return_indices=True)
        return top, idx.to(x.dtype)
    xp = _explicit_pad(x, k, s, p, out, float("-inf"))
    top, idx = F.max_pool2d(xp, k, s, 0, return_indices=True)
    top = top[:, :, :out[0], :out[1]]
    empty = top == float("-inf")  # a window past the image (kernel < stride): Caffe gives -FLT_MAX, mask -1
    top = top.clamp(min=-FLT_MAX)
    if not want_mask:
        return top, None
    idx = idx[:, :, :out[0], :out[1]]
    wp = xp.shape[3]
    mask = (idx // wp - p[0]) * W + (idx % wp - p[1])
    return top, mask.masked_fill(empty, -1).to(x.dtype)


def ave_divisor(hw, k, s, p, out, device) -> torch.Tensor:
    """Caffe's AVE ``pool_size`` per output cell: window clipped to [-pad, size+pad)."""
    sizes = []
    for i in range(2):
        start = torch.arange(out[i], dtype=torch.float64) * s[i] - p[i]
        end = torch.clamp(start + k[i], max=hw[i] + p[i])
        sizes.append(end - start)
    return (sizes[0][:, None] * sizes[1][None, :]).to(device=device, dtype=torch.float32)


def ave_pool(x: torch.Tensor, k, s, p, out, ceil: bool, portable: bool = False) -> torch.Tensor:
    H, W = x.shape[2], x.shape[3]
    if portable:
        return _ave_pool_portable(x, k, s, p, out)
    if native_ok((H, W), k, s, p, out, ceil):
        return F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=True)
    xp = _explicit_pad(x, k, s, p, out, 0.0)
    sums = F.avg_pool2d(xp, k, s, 0, divisor_override=1)[:, :, :out[0], :out[1]]
    return sums / ave_divisor((H, W), k, s, p, out, x.device)


def _ave_pool_portable(x: torch.Tensor, k, s, p, out) -> torch.Tensor:
    """The mean over full windows of the explicitly zero-padded input, rescaled to Caffe's divisor where
    the window hangs past ``size + pad`` (a factor 1 in the interior, so those cells are torch's own)."""
    xp = _explicit_pad(x, k, s, p, out, 0.0)
    mean = F.avg_pool2d(xp, k, s, 0)[:, :, :out[0], :out[1]]
    # the sizes from Python numbers, not tensors: under torch.export they stay constants
    sizes = [[min(o * s[i] - p[i] + k[i], size + p[i]) - (o * s[i] - p[i]) for o in range(out[i])]
             for i, size in enumerate((x.shape[2], x.shape[3]))]
    # a window past the edge (kernel < stride): Caffe divides 0 by its size, negative or 0 (0 * inf: NaN)
    factor = [[k[0] * k[1] / (a * b) if a * b != 0 else math.inf for b in sizes[1]] for a in sizes[0]]
    if all(f == 1 for row in factor for f in row):
        return mean
    return mean * torch.tensor(factor, dtype=x.dtype, device=x.device)


def _windows(x: torch.Tensor, k, s, out) -> torch.Tensor:
    """(N, C, k*k, oh, ow) windows (zero-filled where they hang past the image)."""
    xp = _explicit_pad(x, k, s, (0, 0), out, 0.0)
    n, c = x.shape[:2]
    cols = F.unfold(xp, k, stride=s)  # (N, C*k*k, L)
    cols = cols.view(n, c, k[0] * k[1], -1)
    full = [(xp.shape[2 + i] - k[i]) // s[i] + 1 for i in range(2)]
    return cols.view(n, c, k[0] * k[1], full[0], full[1])[:, :, :, :out[0], :out[1]]


def stochastic_pool(x: torch.Tensor, k, s, out, train: bool) -> torch.Tensor:
    win = _windows(x, k, s, out)
    if not train:
        return (win * win).sum(2) / (FLT_MIN + win.sum(2))
    cums = win.detach().cumsum(2)
    thres = torch.rand_like(cums[:, :, -1:]) * cums[:, :, -1:]
    index = (cums < thres).sum(2, keepdim=True).clamp(max=win.shape[2] - 1)
    return win.gather(2, index).squeeze(2)
