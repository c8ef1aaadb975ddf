"""Caffe's CPU convolution (``ConvolutionLayer::Forward_cpu``/``Backward_cpu``) in its own float32 order.

Per image and per group, as ``base_conv_layer.cpp``:

* forward   ``out[g] = W[g] @ im2col(x)[g]`` (sgemm, beta 0), then ``out += b`` (the K=1 bias gemm);
* backward  ``b' += top' @ 1`` image by image (sgemv, beta 1; all images first), then per image
  ``W'[g] += top'[g] @ col[g]^T`` (sgemm, beta 1) and ``col'[g] = W[g]^T @ top'[g]``, ``x' = col2im(col')``.

The images are batched: one strided copy makes the columns of many images and one ``np.matmul`` over
the stack calls the same per-image sgemm (numpy loops over the stack inside C), so the sums are the
ones the per-image calls give, without a Python step per image.  The accumulating calls go to numpy's
OpenBLAS directly (``kernels.cblas``), image after image as Caffe makes them.  col2im is torch's
``fold``, whose CPU loop is Caffe's (each pixel adds its entries in kernel row, kernel column order).
Columns are made for at most ``CHUNK_BYTES`` of images at a time into a buffer the layer keeps
(:class:`Workspace`, as Caffe's ``col_buffer_``); backward reuses the forward's when the batch fit
in one chunk.  Padded images and column gradients live in one per-thread scratch for all layers.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from tunewiz.engine import cblas

F32 = np.float32
#: the most column memory made at once (the images of a batch are taken in chunks under it)
CHUNK_BYTES = 16 << 20


_POOL: list = []
# a forked child has none of the parent's threads: it makes its own helper when it needs one
os.register_at_fork(after_in_child=_POOL.clear)


def _worker():
    """One helper thread when torch may use two or more (numpy and ctypes release the GIL in BLAS
    and copies, so the halves of the work run on two cores); None on one thread."""
    if torch.get_num_threads() < 2:
        return None
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(1, thread_name_prefix="tunewiz-caffe-cpu"))
    return _POOL[0]


_SCRATCH = threading.local()


def scratch() -> Workspace:
    """This thread's arrays for what no layer keeps between calls (padded images, column gradients):
    one set for all layers, as the per-layer columns are the ones worth keeping."""
    ws = getattr(_SCRATCH, "ws", None)
    if ws is None:
        ws = _SCRATCH.ws = Workspace()
    return ws


def halves(fn, n: int) -> None:
    """``fn(slice)`` on the two halves of ``range(n)`` at once (images apart: no sum changes order)."""
    pool = _worker()
    if pool is None or n < 2:
        fn(slice(0, n))
        return
    half = n // 2
    pending = pool.submit(fn, slice(0, half))
    fn(slice(half, n))
    pending.result()


def both(first, second):
    """``first()`` and ``second()`` at once (independent outputs); their results."""
    pool = _worker()
    if pool is None:
        return first(), second()
    pending = pool.submit(first)
    other = second()
    return pending.result(), other


class Workspace:
    """Arrays made once and reused each iteration: a layer's columns (Caffe's ``col_buffer_``; ``kept``:
    the token of the forward whose columns they still hold), or a thread's :func:`scratch`."""

    def __init__(self):
        self._arrays: dict[str, np.ndarray] = {}
        self.kept = None

    def array(self, tag: str, shape) -> np.ndarray:
        size = int(np.prod(shape))
        flat = self._arrays.get(tag)
        if flat is None or flat.size < size:
            flat = self._arrays[tag] = np.empty(size, F32)
        return flat[:size].reshape(shape)


class Geometry:
    """Kernel, stride, pad, dilation and group of one convolution on one input shape (C, H, W)."""

    def __init__(self, shape, kernel, stride, pad, dilation=(1, 1), group=1):
        self.c, self.h, self.w = (int(v) for v in shape)
        self.k, self.s, self.p, self.d = tuple(kernel), tuple(stride), tuple(pad), tuple(dilation)
        self.group = int(group)
        ext = [self.d[i] * (self.k[i] - 1) + 1 for i in range(2)]
        self.oh = (self.h + 2 * self.p[0] - ext[0]) // self.s[0] + 1
        self.ow = (self.w + 2 * self.p[1] - ext[1]) // self.s[1] + 1
        self.rows = self.c * self.k[0] * self.k[1]  # Caffe's kernel_dim_ * group
        # Caffe's is_1x1_: the image is its own column buffer (no im2col, no col2im)
        self.is_1x1 = self.k == (1, 1) and self.s == (1, 1) and self.p == (0, 0)

    def chunks(self, n: int):
        """Slices of images whose columns together stay under CHUNK_BYTES."""
        per_image = self.rows * self.oh * self.ow * 4
        step = max(1, CHUNK_BYTES // max(per_image, 1))
        return [slice(i, min(n, i + step)) for i in range(0, n, step)]

    def padded(self, xs: np.ndarray) -> np.ndarray:
        p = self.p
        if not (p[0] or p[1]):
            return np.ascontiguousarray(xs, dtype=F32)
        out = scratch().array("padded", (xs.shape[0], self.c, self.h + 2 * p[0], self.w + 2 * p[1]))
        out.fill(0)
        out[:, :, p[0]:p[0] + self.h, p[1]:p[1] + self.w] = xs
        return out

    def im2col(self, xs: np.ndarray, ws: Workspace) -> np.ndarray:
        """Caffe's im2col of images (N, C, H, W) -> (N, C*kh*kw, oh*ow) in ``ws``'s "cols": row ``(c, i, j)``
        holds ``padded[c, i*dh + sh*y, j*dw + sw*x]`` (one strided copy of values: Caffe's columns); a 1x1
        convolution's columns are the images themselves."""
        if self.is_1x1:
            return np.ascontiguousarray(xs, dtype=F32).reshape(xs.shape[0], self.rows, self.h * self.w)
        padded = self.padded(xs)
        sn, sc, sh, sw = padded.strides
        shape = (padded.shape[0], self.c, self.k[0], self.k[1], self.oh, self.ow)
        view = np.lib.stride_tricks.as_strided(
            padded, shape, (sn, sc, sh * self.d[0], sw * self.d[1], sh * self.s[0], sw * self.s[1]),
            writeable=False)
        cols = ws.array("cols", (padded.shape[0], self.rows, self.oh * self.ow))
        np.copyto(cols.reshape(shape), view)
        return cols

    def col2im(self, cols: np.ndarray) -> torch.Tensor:
        """Caffe's col2im (torch's ``fold`` runs Caffe's loop: each pixel adds its column entries in
        kernel row, kernel column order, from 0); a 1x1 convolution's are the image gradient itself."""
        if self.is_1x1:
            return torch.from_numpy(cols).reshape(cols.shape[0], self.c, self.h, self.w)
        return F.fold(torch.from_numpy(cols), (self.h, self.w), self.k, dilation=self.d, padding=self.p,
                      stride=self.s)


def _grouped(a: np.ndarray, group: int) -> np.ndarray:
    """(N, rows, P) -> (N, group, rows/group, P): Caffe's per-group offsets into a column or top buffer."""
    return a.reshape(a.shape[0], group, a.shape[1] // group, a.shape[2])


def forward(xs: np.ndarray, w2: np.ndarray, b, geom: Geometry, ws: Workspace, token) -> np.ndarray:
    """(N, C, H, W) images, weights (M, C/group*kh*kw) and bias -> top (N, M, oh, ow).  ``ws`` keeps
    the columns for ``token`` when the whole batch fit in one chunk.  One ``np.matmul`` makes every
    image's and group's sgemm (numpy loops over both inside C)."""
    out = np.empty((xs.shape[0], w2.shape[0], geom.oh * geom.ow), F32)
    wg, parts = w2.reshape(geom.group, -1, w2.shape[1]), geom.chunks(xs.shape[0])
    for part in parts:
        cols, top = _grouped(geom.im2col(xs[part], ws), geom.group), _grouped(out[part], geom.group)
        halves(lambda images: np.matmul(wg, cols[images], out=top[images]), len(cols))
    if b is not None:
        out += b[:, None]
    ws.kept = token if len(parts) == 1 and not geom.is_1x1 else None
    return out.reshape(xs.shape[0], w2.shape[0], geom.oh, geom.ow)


def bias_grad(g: np.ndarray) -> np.ndarray:
    """``b' += top'_n @ 1`` image after image (Caffe's sgemv with beta 1)."""
    ones, acc = np.ones(g.shape[2], F32), np.zeros(g.shape[1], F32)
    if cblas.available():
        cblas.accumulate_gemv(g, ones, acc)
        return acc
    for row in np.matmul(g, ones):
        acc += row
    return acc


def _add_weight_grad(acc_w: np.ndarray, gp: np.ndarray, cols: np.ndarray, group: int) -> None:
    """``W'[g] += top'_n[g] @ col_n[g]^T`` image after image (Caffe's sgemm with beta 1)."""
    tops, colt = _grouped(gp, group), _grouped(cols, group).transpose(0, 1, 3, 2)
    acc = acc_w.reshape(group, -1, acc_w.shape[1])
    if cblas.available():
        cblas.accumulate_gemm(tops, colt, acc)
        return
    for prod in np.matmul(tops, colt):
        acc += prod


def backward(xs: np.ndarray, w2: np.ndarray, g: np.ndarray, geom: Geometry, need_w: bool, need_x: bool,
             ws: Workspace, token):
    """Weight and input gradients for top' ``g`` (N, M, oh*ow): ``(W' or None, x' or None)``; the
    columns come from ``ws`` when it still keeps those of ``token``'s forward."""
    acc_w = np.zeros(w2.shape, F32) if need_w else None
    gx = torch.empty((xs.shape[0], geom.c, geom.h, geom.w)) if need_x else None
    wt = w2.reshape(geom.group, -1, w2.shape[1]).transpose(0, 2, 1)
    for part in geom.chunks(xs.shape[0]):
        gp = g[part]
        if need_w:
            kept = ws.kept is token
            cols = ws.array("cols", (gp.shape[0], geom.rows, gp.shape[2])) if kept else geom.im2col(xs[part], ws)

        def weight_grad():
            if need_w:
                _add_weight_grad(acc_w, gp, cols, geom.group)

        def input_grad():
            if need_x:
                colg = scratch().array("colg", (gp.shape[0], geom.rows, gp.shape[2]))
                np.matmul(wt, _grouped(gp, geom.group), out=_grouped(colg, geom.group))
                gx[part] = geom.col2im(colg)
        both(weight_grad, input_grad)
    ws.kept = None
    return acc_w, gx
