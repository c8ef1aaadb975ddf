"""Caffe's CPU BatchNorm (``BatchNormLayer::Forward_cpu``/``Backward_cpu``) in its own float32 order.

With x seen as (N, C, S) (S: the spatial size), Caffe sums with two ``sgemv`` calls: each (image,
channel) row over S (scaled by ``1/(N*S)`` inside the call), then the N rows per channel:

* batch statistics: ``mean = sum(x) / (N*S)``, ``var = sum((x - mean)^2) / (N*S)``; the moving
  averages ``blob2 = blob2 * maf + 1``, ``blob0 = axpby(1, mean, maf, blob0)``,
  ``blob1 = axpby(m/(m-1), var, maf, blob1)`` (m = N*S);
* stored statistics (``use_global_stats``): ``mean = blob0 * s``, ``var = blob1 * s``, s = 1/blob2 (0 if
  blob2 is 0);
* ``y = (x - mean) / sqrt(var + eps)`` (a correctly rounded root: Caffe's ``vsSqrt``);
* backward with batch statistics ``x' = (y' - sum(y')/(N*S) - y * sum(y' * y)/(N*S)) / std`` in Caffe's
  steps (the last one a ``saxpby``), with stored statistics ``x' = y' / std``.

The BLAS calls go to numpy's OpenBLAS (``tunewiz.engine.cblas``); without it numpy's sums stand in.
"""
from __future__ import annotations

import numpy as np
import torch

from tunewiz.engine import cblas

F32 = np.float32


def _row_sums(rows: np.ndarray, alpha) -> np.ndarray:
    """``alpha * rows @ 1`` (``caffe_cpu_gemv(CblasNoTrans, ...)`` with the sum multiplier)."""
    ones = np.ones(rows.shape[1], F32)
    if cblas.available():
        return cblas.sgemv(rows, ones, F32(alpha))
    return (rows @ ones * F32(alpha)).astype(F32)


def channel_sums(x3: np.ndarray, alpha=1.0) -> np.ndarray:
    """Caffe's two gemv: each (image, channel) row over S, then over the images: (N, C, S) -> (C,)."""
    n, c, s = x3.shape
    per_row = _row_sums(np.ascontiguousarray(x3).reshape(n * c, s), alpha).reshape(n, c)
    return _row_sums(per_row.T, 1.0)


def _axpby(alpha, x: np.ndarray, beta, y: np.ndarray) -> None:
    if cblas.available():
        cblas.saxpby(F32(alpha), x, F32(beta), y)
    else:
        y[...] = (y.astype(np.float64) * F32(beta) + (x * F32(alpha)).astype(np.float64)).astype(F32)


def statistics(x3: np.ndarray, blobs, use_global: bool, maf: float, eps: float):
    """(mean, std) per channel; with batch statistics the moving averages in ``blobs`` (three float32
    numpy views of the layer's blobs) are updated in place, as Caffe's forward does."""
    b0, b1, b2 = blobs
    if use_global:
        scale = F32(0) if b2[0] == 0 else F32(1) / F32(b2[0])
        mean, var = b0 * scale, b1 * scale
    else:
        n, c, s = x3.shape
        alpha = 1.0 / (n * s)
        mean = channel_sums(x3, alpha)
        centered = x3 - mean[None, :, None]
        var = channel_sums(centered * centered, alpha)
        b2[0] = F32(F32(b2[0] * F32(maf)) + F32(1))
        _axpby(1.0, mean, maf, b0)
        m = n * s
        _axpby(F32(F32(m) / F32(m - 1)) if m > 1 else F32(1), var, maf, b1)
    return mean, np.sqrt(var + F32(eps))


class _Normalize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, mean, std, use_global):
        x3 = x.detach().numpy().reshape(x.shape[0], mean.shape[0], -1)
        y = (x3 - mean[None, :, None]) / std[None, :, None]
        ctx.y, ctx.std, ctx.use_global = y, std, use_global
        return torch.from_numpy(y.astype(F32, copy=False)).reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        y, std = ctx.y, ctx.std
        dy = np.ascontiguousarray(grad.detach().numpy()).reshape(y.shape)
        if ctx.use_global:
            return torch.from_numpy(dy / std[None, :, None]).reshape(grad.shape), None, None, None
        n, _, s = y.shape
        diff = y * channel_sums(y * dy)[None, :, None]
        diff = np.ascontiguousarray(diff + channel_sums(dy)[None, :, None], dtype=F32)
        _axpby(1.0, np.ascontiguousarray(dy, dtype=F32), F32(-1.0 / (n * s)), diff)
        return torch.from_numpy(diff / std[None, :, None]).reshape(grad.shape), None, None, None


def batch_norm(x: torch.Tensor, blobs, use_global: bool, maf: float, eps: float) -> torch.Tensor:
    """BatchNorm's top for ``x`` (N, C, ...) or (N,) with Caffe's sums; ``blobs``: the layer's three
    blob tensors (their moving averages are updated in place with batch statistics)."""
    channels = 1 if x.dim() == 1 else x.shape[1]
    x3 = np.ascontiguousarray(x.detach().numpy(), dtype=F32).reshape(x.shape[0], channels, -1)
    with torch.no_grad():
        mean, std = statistics(x3, [b.detach().numpy() for b in blobs], use_global, maf, eps)
    return _Normalize.apply(x, mean, std, use_global)
