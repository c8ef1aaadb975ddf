"""The element-wise calls Caffe's solvers make, rounded as Caffe's CPU build rounds them.

* ``sdot``: ``cblas_sdot`` through numpy's OpenBLAS (its summation order; ``Blob::sumsq_diff``);
* ``axpy``: ``cblas_saxpy``, ``y += alpha * x`` (Caffe's ``caffe_axpy``);
* ``axpby``: ``cblas_saxpby``, ``y = alpha * x + beta * y`` (``caffe_cpu_axpby``);
* ``powx``: ``caffe_powx`` with the exponents the solvers use: ``x * x`` for 2 and ``sqrt(x)`` for 0.5,
  correctly rounded.  Caffe calls C's ``powf``, which rounds about one element in a
  thousand the other way (one ulp); calling it per element would cost seconds per update on a Model
  Zoo net, and the traces stay within 4e-7 of Caffe's (tests/engine/train/test_training_fidelity.py).

On the CPU the BLAS calls go to numpy's own OpenBLAS (``tunewiz.engine.cblas``), so each element gets
the kernel's rounding (FMA or not); without it, ``axpy`` rounds once (float32 products are exact in
double) and ``axpby`` as ``fma(beta, y, round(alpha * x))``, the kernels' usual rounding.  Elsewhere
(CUDA) plain torch ops.
"""
from __future__ import annotations

import numpy as np
import torch

from tunewiz.engine import cblas

F32 = np.float32


def _exact(*tensors: torch.Tensor) -> bool:
    return (all(t.device.type == "cpu" and t.dtype == torch.float32 and t.is_contiguous() for t in tensors)
            and cblas.available())


def sdot(d: torch.Tensor) -> np.float32:
    """``cblas_sdot(d, d)`` (numpy's OpenBLAS on the CPU: Caffe's summation order)."""
    if d.device.type == "cpu":
        flat = d.detach().reshape(-1).numpy()
        return F32(np.dot(flat, flat))
    return F32(float(torch.dot(d.flatten(), d.flatten())))


def axpy(alpha: float, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """y += alpha * x (``cblas_saxpy``)."""
    if _exact(x, y):
        cblas.saxpy(alpha, x.numpy(), y.numpy())
        return y
    if y.device.type != "cpu":
        return y.add_(x, alpha=alpha)
    return y.copy_((x.double() * float(alpha) + y.double()).float())


def axpby(alpha: float, x: torch.Tensor, beta: float, y: torch.Tensor) -> torch.Tensor:
    """y = alpha * x + beta * y (``cblas_saxpby``)."""
    if _exact(x, y):
        cblas.saxpby(alpha, x.numpy(), beta, y.numpy())
        return y
    if y.device.type != "cpu":
        return y.mul_(beta).add_(x, alpha=alpha)
    return y.copy_((y.double() * float(beta) + (x * alpha).double()).float())


def powx(x: torch.Tensor, e: float) -> torch.Tensor:
    """A new tensor of ``x ** e`` for Caffe's ``caffe_powx`` (e = 2: ``x * x``; 0.5: the square root; else
    ``pow``).  On the CPU the root is numpy's: torch's vectorised CPU ``sqrt`` is not correctly rounded
    (one float in six differs by an ulp, enough to move an RMSProp run by 4e-4 within 40 iterations)."""
    if e == 2.0:
        return x * x
    if e == 0.5 and x.device.type == "cpu" and x.dtype == torch.float32:
        return torch.from_numpy(np.sqrt(x.detach().numpy()))
    return x.sqrt() if e == 0.5 else x.pow(e)
