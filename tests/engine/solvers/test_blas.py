"""The solvers' element-wise calls round as Caffe's CPU build: OpenBLAS's level-1 kernels, correctly rounded roots."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tunewiz.engine import cblas
from tunewiz.engine.numbers import f32
from tunewiz.engine.solvers import blas, libm, lr_policy


def _pair(seed=0, n=10_000):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g), torch.randn(n, generator=g)


@pytest.mark.skipif(not cblas.available(), reason="numpy is not built on OpenBLAS here")
def test_axpy_and_axpby_call_numpys_openblas():
    x, y = _pair()
    expect = y.numpy().copy()
    cblas.saxpby(f32(0.3), x.numpy(), f32(0.9), expect)
    assert blas.axpby(f32(0.3), x, f32(0.9), y.clone()).numpy().tobytes() == expect.tobytes()
    expect = y.numpy().copy()
    cblas.saxpy(f32(-0.7), x.numpy(), expect)
    assert blas.axpy(f32(-0.7), x, y.clone()).numpy().tobytes() == expect.tobytes()


def test_without_openblas_the_emulation_rounds_once(monkeypatch):
    """axpy: one rounding of alpha*x + y (float32 products are exact in double)."""
    monkeypatch.setattr(cblas, "available", lambda: False)
    x, y = _pair(1)
    got = blas.axpy(f32(0.3), x, y.clone()).numpy()
    expect = (x.numpy().astype(np.float64) * f32(0.3) + y.numpy().astype(np.float64)).astype(np.float32)
    assert got.tobytes() == expect.tobytes()
    torch.testing.assert_close(blas.axpby(f32(0.3), x, f32(0.9), y.clone()), 0.3 * x + 0.9 * y)


def test_powx_roots_are_correctly_rounded():
    """torch's vectorised CPU sqrt is not (an ulp off for many floats); Caffe's powf nearly always is."""
    x = torch.rand(100_000, generator=torch.Generator().manual_seed(2)) * 1e-4
    assert blas.powx(x, 0.5).numpy().tobytes() == np.sqrt(x.numpy()).tobytes()
    assert torch.equal(blas.powx(x, 2.0), x * x)


def test_integer_exponent_rates_are_double_then_rounded_once():
    """C++'s pow(float, int) is computed in double, and so is its product with base_lr: at iteration 6 the
    exp rate differs from the float-rounded product by one ulp."""
    double = f32(f32(0.001) * math.pow(f32(0.95), 6))
    floats = f32(f32(0.001) * f32(math.pow(f32(0.95), 6)))
    assert double != floats and lr_policy.exp(0.001, 0.95, 6) == double
    assert lr_policy.step(0.01, 0.1, 10, 35)[0] == f32(f32(0.01) * math.pow(f32(0.1), 3))


def test_float_exponent_rates_use_cs_powf_and_expf():
    assert lr_policy.inv(0.01, 1e-4, 0.75, 7) == f32(f32(0.01) * libm.powf(f32(1.0 + f32(f32(1e-4) * 7)), -f32(0.75)))
    assert libm.powf(2.0, 0.5) == pytest.approx(math.sqrt(2.0), rel=1e-7)
    assert libm.expf(1.0) == pytest.approx(math.e, rel=1e-7)
