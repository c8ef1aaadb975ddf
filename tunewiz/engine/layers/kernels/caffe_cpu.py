"""Caffe's CPU arithmetic (``--numerics caffe``, the CPU default): the order of Caffe's own float32 sums.

PyTorch's kernels sum in another order than Caffe's ``im2col`` + OpenBLAS ``sgemm``, so results differ in
the last bits, and adaptive solvers make the most of them: an element whose gradient is near 0 gets a
step of ``lr * g / (sqrt(h) + delta)`` decided by those bits (on torch's kernels AdaGrad and RMSProp
runs drift 9e-2 and 3e-4 from Caffe's within 50 iterations).  Here the layers that sum are computed as Caffe computes
them, with numpy's OpenBLAS, and their blobs and gradients equal real Caffe's bit for bit on the same
OpenBLAS core (tests/engine/layers/kernels/test_caffe_conv.py, test_caffe_cpu.py):

* Convolution (2-D, any group and dilation): per image and group ``out = W @ im2col(x) + b``; backward
  ``b' += top' @ 1`` (all images first), then ``W' += top' @ col^T`` and ``col' = W^T @ top'``
  folded back by Caffe's ``col2im`` loop order (``kernels.caffe_conv``, images batched in one call);
* InnerProduct: ``x @ W^T + b``; ``W' = top'^T @ x``, ``b' = top'^T @ 1``, ``x' = top' @ W``;
* SoftmaxWithLoss (one top, class axis last or followed by size-1 axes, no ignore_label): max, exp
  correctly rounded, sum over classes in order, ``loss -= log(max(p, FLT_MIN))`` sample by sample,
  divided by the normalizer; backward ``(p - onehot) * (loss_weight / normalizer)``.

Other layers are exact already (selection, comparisons) or keep torch.  Gradients summed over
iter_size sub-batches are added by autograd (``old + new``), where Caffe's sgemm adds each image into
the diff (the same sums unless a product is longer than one OpenBLAS block).  Each layer decides when
it is built whether these kernels fit its setup (``caffe_cpu_forward`` in ``vision`` and
``loss_softmax``); this module only computes.
"""
from __future__ import annotations

import numpy as np
import torch

from tunewiz.engine.layers.kernels import caffe_conv

F32 = np.float32
FLT_MIN = np.float32(1.1754943508222875e-38)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(F32, copy=False)


def _quiet(fn):
    """numpy stays silent on inf/NaN, as Caffe (a diverging run is stopped by the trainer)."""
    def wrapped(*args):
        with np.errstate(all="ignore"):
            return fn(*args)
    return wrapped


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=F32))


# -- convolution ------------------------------------------------------------------------------------
class _Conv(torch.autograd.Function):
    @staticmethod
    @_quiet
    def forward(ctx, x, weight, bias, kernel, stride, pad, dilation, group, ws):
        xs, w2 = _np(x), _np(weight).reshape(weight.shape[0], -1)
        ctx.geom = caffe_conv.Geometry(xs.shape[1:], kernel, stride, pad, dilation, group)
        ctx.ws, ctx.token, ctx.has_bias = ws, object(), bias is not None
        out = caffe_conv.forward(xs, w2, _np(bias) if bias is not None else None, ctx.geom, ws, ctx.token)
        ctx.save_for_backward(x, weight)
        return torch.from_numpy(out)

    @staticmethod
    @_quiet
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        g = np.ascontiguousarray(_np(grad).reshape(grad.shape[0], grad.shape[1], -1))  # BLAS reads it
        gb = _t(caffe_conv.bias_grad(g)) if ctx.has_bias and ctx.needs_input_grad[2] else None
        gw, gx = caffe_conv.backward(_np(x), _np(weight).reshape(weight.shape[0], -1), g, ctx.geom,
                                     ctx.needs_input_grad[1], ctx.needs_input_grad[0], ctx.ws, ctx.token)
        gw = _t(gw.reshape(weight.shape)) if gw is not None else None
        return gx, gw, gb, None, None, None, None, None, None


# -- inner product ---------------------------------------------------------------------------------
class _InnerProduct(torch.autograd.Function):
    @staticmethod
    @_quiet
    def forward(ctx, x, weight, bias, transpose):
        xs, w = _np(x), _np(weight)
        out = np.matmul(xs, w if transpose else w.T)
        if bias is not None:
            out = out + _np(bias)
        ctx.save_for_backward(x, weight)
        ctx.transpose, ctx.has_bias = transpose, bias is not None
        return _t(out)

    @staticmethod
    @_quiet
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        g, xs, w = _np(grad), _np(x), _np(weight)
        gx = gw = gb = None
        if ctx.needs_input_grad[1]:
            gw = _t(np.matmul(xs.T, g) if ctx.transpose else np.matmul(g.T, xs))
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = _t(np.matmul(g.T, np.ones(g.shape[0], F32)))
        if ctx.needs_input_grad[0]:
            gx = _t(np.matmul(g, w.T if ctx.transpose else w))
        return gx, gw, gb, None


# -- softmax + multinomial logistic loss ------------------------------------------------------------
class _SoftmaxLoss(torch.autograd.Function):
    @staticmethod
    @_quiet
    def forward(ctx, scores, labels, normalizer):
        z = _np(scores).reshape(scores.shape[0], -1)
        e = (z - z.max(axis=1, keepdims=True)).astype(np.float64)
        e = np.exp(e).astype(F32)  # expf, correctly rounded
        # a reduction down the rows of a C-order array adds them one after the other (class order)
        total = np.add.reduce(np.ascontiguousarray(e.T), axis=0)
        prob = e / total[:, None]
        lab = _np(labels).reshape(-1).astype(np.int64)
        picked = np.maximum(prob[np.arange(len(lab)), lab], FLT_MIN)
        logs = np.log(picked.astype(np.float64)).astype(F32)
        loss = -np.cumsum(logs, dtype=F32)[-1]  # 0 - l0 - l1 ... in order: the running sum, negated
        ctx.prob, ctx.lab, ctx.normalizer = prob, lab, F32(normalizer)
        ctx.shape = scores.shape
        return torch.tensor(F32(loss / F32(normalizer)))

    @staticmethod
    @_quiet
    def backward(ctx, grad):
        d = ctx.prob.copy()
        d[np.arange(len(ctx.lab)), ctx.lab] -= F32(1)
        scale = F32(F32(float(grad)) / ctx.normalizer)
        return _t(d * scale).reshape(ctx.shape), None, None


# -- what the layers call -----------------------------------------------------------------------------
_BLAS_LIMIT: list = []


def one_blas_thread() -> None:
    """numpy's OpenBLAS on one thread once the exact path is in use (needs ``threadpoolctl``;
    without it nothing changes).  The sums are the same (OpenBLAS splits an sgemm over rows and
    columns, never over K: the fidelity tests pass either way), but its worker threads spin
    between the many small per-image calls and fight torch's threads for the cores: LeNet's
    forward+backward went from 52 to 36 ms (min) on the 2-core machine, CaffeNet unchanged.
    Applied again at each call (each net that takes the exact path), because a BLAS loaded later
    (OpenCV's own OpenBLAS, imported by the first image read) starts with its default threads."""
    if _BLAS_LIMIT == [None]:
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        _BLAS_LIMIT.append(None)
        return
    _BLAS_LIMIT[:] = [threadpool_limits(limits=1, user_api="blas")]


def conv(x: torch.Tensor, weight, bias, kernel, stride, pad, dilation=(1, 1), group: int = 1,
         workspace: caffe_conv.Workspace | None = None) -> torch.Tensor:
    """A 2-D convolution: per image and group ``W @ im2col(x) + b`` (``kernels.caffe_conv``); the layer
    passes its ``workspace`` to keep its column buffer between iterations."""
    return _Conv.apply(x, weight, bias, tuple(kernel), tuple(stride), tuple(pad), tuple(dilation), int(group),
                       workspace if workspace is not None else caffe_conv.Workspace())


def inner_product(x: torch.Tensor, weight, bias, transpose: bool) -> torch.Tensor:
    """``x @ W^T + b`` (``x @ W + b`` when ``transpose``) on a 2-D ``x``, as Caffe's sgemm calls."""
    return _InnerProduct.apply(x, weight, bias, bool(transpose))


def softmax_loss(scores: torch.Tensor, labels: torch.Tensor, normalizer: float) -> torch.Tensor:
    """SoftmaxWithLoss over (N, C) scores and N labels, summed sample by sample, divided by ``normalizer``."""
    return _SoftmaxLoss.apply(scores, labels, normalizer)
