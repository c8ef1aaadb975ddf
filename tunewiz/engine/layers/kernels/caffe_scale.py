"""Caffe's CPU Scale/Bias backward sums (``ScaleLayer::Backward_cpu``, ``BiasLayer::Backward_cpu``).

The forward ``y = x * s (+ b)`` is one rounding per element either way; the parameter gradients are
sums, and Caffe makes them with BLAS calls in its own order.  With the bottom seen as
(outer, dim, inner) around the operand's axes:

* ``s'``: ``product = y' * x``; ``sum_result`` = each (outer, dim) row summed over inner (``sgemv``;
  ``sdot`` when there is one row; the product itself when inner is 1), then summed over outer
  (``sgemv`` transposed; ``sdot`` when dim is 1);
* ``b'``: per outer index, ``b' += y'[n] @ 1`` (``sgemv`` with beta 1, one call per n: the
  convolution's bias gradient, ``caffe_conv.bias_grad``).

The BLAS calls go to numpy's OpenBLAS (``tunewiz.engine.cblas``); numpy's ``dot`` is ``cblas_sdot``.
"""
from __future__ import annotations

import numpy as np
import torch

from tunewiz.engine import cblas
from tunewiz.engine.layers.kernels.caffe_conv import bias_grad

F32 = np.float32


def _gemv(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    if cblas.available():
        return cblas.sgemv(a, x, F32(1))
    return (a @ x).astype(F32)


def scale_grad(product: np.ndarray) -> np.ndarray:
    """``s'`` (dim,) from ``product`` (outer, dim, inner), in Caffe's order of calls."""
    outer, dim, inner = product.shape
    if inner == 1:
        sums = product.reshape(outer, dim)
    elif outer * dim == 1:
        return np.array([np.dot(product.reshape(-1), np.ones(inner, F32))], F32)
    else:
        sums = _gemv(product.reshape(outer * dim, inner), np.ones(inner, F32)).reshape(outer, dim)
    if outer == 1:
        return np.ascontiguousarray(sums.reshape(dim), dtype=F32)
    ones = np.ones(outer, F32)
    if dim == 1:
        return np.array([np.dot(ones, np.ascontiguousarray(sums.reshape(outer)))], F32)
    return _gemv(np.ascontiguousarray(sums).T, ones)


class _Scale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, s, b, axis):
        view = (1,) * axis + tuple(s.shape) + (1,) * (x.dim() - axis - s.dim())
        ctx.save_for_backward(x, s)
        ctx.view, ctx.outer, ctx.has_bias = view, int(np.prod(x.shape[:axis])), b is not None
        y = x * s.reshape(view)
        return y + b.reshape(view) if b is not None else y

    @staticmethod
    def backward(ctx, grad):
        x, s = ctx.saved_tensors
        dy = np.ascontiguousarray(grad.detach().numpy(), dtype=F32).reshape(ctx.outer, s.numel(), -1)
        gx = grad * s.reshape(ctx.view) if ctx.needs_input_grad[0] else None
        gs = gb = None
        if ctx.needs_input_grad[1]:
            gs = torch.from_numpy(scale_grad(dy * x.detach().numpy().reshape(dy.shape))).reshape(s.shape)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = torch.from_numpy(bias_grad(dy)).reshape(s.shape)
        return gx, gs, gb, None


def scale(x: torch.Tensor, s: torch.Tensor, b, axis: int) -> torch.Tensor:
    """``x * s (+ b)`` with ``s`` (and ``b``) laid at ``axis`` of ``x``; Caffe's sums in backward."""
    return _Scale.apply(x, s, b, axis)
