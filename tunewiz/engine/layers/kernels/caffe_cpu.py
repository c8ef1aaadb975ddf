"""Caffe's CPU arithmetic (``--numerics caffe``, the CPU default): the order of Caffe's own float32 sums.

PyTorch's kernels sum in another order than Caffe's ``im2col`` + OpenBLAS ``sgemm``, so results differ in
the last bits.  Plain SGD does not care; AdaGrad, RMSProp and Adam do: an element whose gradient is
near 0 gets a step of ``lr * g / (sqrt(h) + delta)`` decided by those last bits, and the runs drift
apart (AdaGrad reaches 2.5e-2 relative loss difference by iteration 40).  Here the layers that sum
are computed as Caffe computes them, with numpy's OpenBLAS (checked: LeNet's conv2/ip1/ip2 forward
blobs equal pycaffe's bit for bit, where torch's differ):

* Convolution (group 1, dilation 1, 2-D): per image ``out = W @ im2col(x) + b``; backward per image
  ``b' += rowsum(top')`` (all images first), then ``W' += top' @ col^T`` and ``col' = W^T @ top'``
  folded back by Caffe's ``col2im`` loop order;
* InnerProduct: ``x @ W^T + b``; ``W' = top'^T @ x``, ``b' = top'^T @ 1``, ``x' = top' @ W``;
* SoftmaxWithLoss (one top, class axis last or followed by size-1 axes, no ignore_label): max, exp
  correctly rounded, sum over classes in order, ``loss -= log(max(p, FLT_MIN))`` sample by sample,
  divided by the normalizer; backward ``(p - onehot) * (loss_weight / normalizer)``.

Other layers are exact already (selection, comparisons) or keep torch.  Gradients summed over
iter_size sub-batches are added by autograd (``old + new``), which Caffe does image by image.
Each layer decides when it is built whether these kernels fit its setup (``caffe_cpu_forward`` in
``vision`` and ``loss_softmax``); this module only computes.
"""
from __future__ import annotations

import numpy as np
import torch

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
def _im2col(img: np.ndarray, k, s, p) -> tuple[np.ndarray, int, int]:
    """Caffe's im2col of one image: (C, H, W) -> (C*kh*kw, oh*ow), row ``(c, i, j)`` holding
    ``padded[c, i + s*y, j + s*x]`` — one strided copy (values only, so exactly Caffe's columns)."""
    c, h, w = img.shape
    oh, ow = (h + 2 * p[0] - k[0]) // s[0] + 1, (w + 2 * p[1] - k[1]) // s[1] + 1
    if p[0] or p[1]:
        padded = np.zeros((c, h + 2 * p[0], w + 2 * p[1]), F32)
        padded[:, p[0]:p[0] + h, p[1]:p[1] + w] = img
    else:
        padded = np.ascontiguousarray(img, dtype=F32)
    sc, sh, sw = padded.strides
    view = np.lib.stride_tricks.as_strided(padded, (c, k[0], k[1], oh, ow),
                                           (sc, sh, sw, sh * s[0], sw * s[1]), writeable=False)
    return np.ascontiguousarray(view).reshape(c * k[0] * k[1], oh * ow), oh, ow


def _col2im(col: np.ndarray, shape, k, s, p, oh, ow) -> np.ndarray:
    c, h, w = shape
    col = col.reshape(c, k[0], k[1], oh, ow)
    padded = np.zeros((c, h + 2 * p[0], w + 2 * p[1]), F32)
    for i in range(k[0]):  # Caffe's col2im: kernel row, kernel column, then output positions
        for j in range(k[1]):
            padded[:, i:i + s[0] * oh:s[0], j:j + s[1] * ow:s[1]] += col[:, i, j]
    return padded[:, p[0]:p[0] + h, p[1]:p[1] + w]


class _Conv(torch.autograd.Function):
    @staticmethod
    @_quiet
    def forward(ctx, x, weight, bias, k, s, p):
        xs, w2 = _np(x), _np(weight).reshape(weight.shape[0], -1)
        b = _np(bias) if bias is not None else None
        outs = []
        for n in range(xs.shape[0]):
            col, oh, ow = _im2col(xs[n], k, s, p)
            out = np.matmul(w2, col)
            if b is not None:
                out = out + b[:, None]
            outs.append(out.reshape(-1, oh, ow))
        ctx.geom, ctx.shape = (k, s, p, oh, ow), xs.shape[1:]
        ctx.save_for_backward(x, weight)  # im2col is redone per image in backward, as Caffe does
        ctx.has_bias = bias is not None
        return _t(np.stack(outs))

    @staticmethod
    @_quiet
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        k, s, p, oh, ow = ctx.geom
        g = _np(grad).reshape(grad.shape[0], grad.shape[1], -1)
        w2 = _np(weight).reshape(weight.shape[0], -1)
        gb = gw = gx = None
        if ctx.has_bias and ctx.needs_input_grad[2]:
            acc, ones = np.zeros(g.shape[1], F32), np.ones(g.shape[2], F32)
            for n in range(g.shape[0]):
                acc = acc + np.matmul(g[n], ones)
            gb = _t(acc)
        need_w, need_x = ctx.needs_input_grad[1], ctx.needs_input_grad[0]
        acc_w, xs, inputs = np.zeros_like(w2), [], _np(x)
        for n in range(g.shape[0]):
            if need_w:
                acc_w = acc_w + np.matmul(g[n], _im2col(inputs[n], k, s, p)[0].T)
            if need_x:
                xs.append(_col2im(np.matmul(w2.T, g[n]), ctx.shape, k, s, p, oh, ow))
        if need_w:
            gw = _t(acc_w.reshape(weight.shape))
        if need_x:
            gx = _t(np.stack(xs))
        return gx, gw, gb, None, None, None


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
        total = e[:, 0].copy()
        for c in range(1, e.shape[1]):
            total = total + e[:, c]
        prob = e / total[:, None]
        lab = _np(labels).reshape(-1).astype(np.int64)
        picked = np.maximum(prob[np.arange(len(lab)), lab], FLT_MIN)
        logs = np.log(picked.astype(np.float64)).astype(F32)
        loss = F32(0)
        for v in logs:
            loss = F32(loss - v)
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


def conv(x: torch.Tensor, weight, bias, kernel, stride, pad) -> torch.Tensor:
    """A 2-D, group 1, dilation 1 convolution: per image ``W @ im2col(x) + b`` (backward as Caffe's)."""
    return _Conv.apply(x, weight, bias, tuple(kernel), tuple(stride), tuple(pad))


def inner_product(x: torch.Tensor, weight, bias, transpose: bool) -> torch.Tensor:
    """``x @ W^T + b`` (``x @ W + b`` when ``transpose``) on a 2-D ``x``, as Caffe's sgemm calls."""
    return _InnerProduct.apply(x, weight, bias, bool(transpose))


def softmax_loss(scores: torch.Tensor, labels: torch.Tensor, normalizer: float) -> torch.Tensor:
    """SoftmaxWithLoss over (N, C) scores and N labels, summed sample by sample, divided by ``normalizer``."""
    return _SoftmaxLoss.apply(scores, labels, normalizer)
