"""The three BLAS calls Caffe's solvers make, with Caffe's rounding (CPU; plain torch ops elsewhere).

* ``sdot``: ``cblas_sdot`` through numpy's OpenBLAS (its summation order; ``Blob::sumsq_diff``);
* ``axpy``: ``y += alpha * x`` rounded once, as OpenBLAS's FMA ``saxpy`` kernel (float32 products
  are exact in double, so double arithmetic then one rounding to float32 stands in for the FMA);
* ``axpby``: ``cblas_saxpby``, ``y = beta * y + alpha * x`` with the ``beta * y`` product fused.
"""
from __future__ import annotations

import numpy as np
import torch

F32 = np.float32


def sdot(d: torch.Tensor) -> np.float32:
    """``cblas_sdot(d, d)`` (numpy's OpenBLAS on the CPU: Caffe's summation order)."""
    if d.device.type == "cpu":
        flat = d.detach().reshape(-1).numpy()
        return F32(np.dot(flat, flat))
    return F32(float(torch.dot(d.flatten(), d.flatten())))


def axpy(alpha: float, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """y += alpha * x with one rounding, as OpenBLAS's FMA ``saxpy`` kernel (emulated in double on the CPU)."""
    if y.device.type != "cpu":
        return y.add_(x, alpha=alpha)
    return y.copy_((x.double() * float(alpha) + y.double()).float())


def axpby(alpha: float, x: torch.Tensor, beta: float, y: torch.Tensor) -> torch.Tensor:
    """y = alpha * x + beta * y as OpenBLAS's ``saxpby`` kernel rounds it: ``fma(beta, y, round(alpha * x))``.

    (Chosen against Caffe's runs: with ``sscal`` then ``saxpy`` instead, Adam's final weights land
    2e-5 from Caffe's; this way 9e-7.)
    """
    if y.device.type != "cpu":
        return y.mul_(beta).add_(x, alpha=alpha)
    return y.copy_((y.double() * float(beta) + (x * alpha).double()).float())
