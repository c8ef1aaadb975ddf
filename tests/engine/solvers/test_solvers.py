"""The six solvers' update rules (against straight numpy transcriptions of Caffe's code) and checks."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.engine.solvers.factory import SolverError, create_solver, solver_type

f = np.float32


@dataclass
class P:
    layer_name: str
    index: int
    param: torch.nn.Parameter
    lr_mult: float
    decay_mult: float


def _params(rng, lr_mults=(1.0, 2.0, 0.0), decay_mults=(1.0, 0.0, 1.0)):
    shapes = [(3, 4), (3,), (2, 2)]
    return [P(f"l{i}", 0, torch.nn.Parameter(torch.from_numpy(rng.standard_normal(s).astype(f))), lr, dm)
            for i, (s, lr, dm) in enumerate(zip(shapes, lr_mults, decay_mults))]


def _set_grads(params, rng):
    grads = []
    for p in params:
        g = rng.standard_normal(tuple(p.param.shape)).astype(f)
        p.param.grad = torch.from_numpy(g.copy()) if p.lr_mult else None
        grads.append(g if p.lr_mult else np.zeros_like(g))
    return grads


def _reference(kind, sp, w, g, hist, it, rate, lr_mult, decay_mult):
    """One param's update, transcribed from Caffe's *_solver.cpp (numpy, float32)."""
    d = g.copy()
    if sp.iter_size > 1:
        d *= f(1.0 / sp.iter_size)
    decay = f(sp.weight_decay) * f(decay_mult)
    d += decay * (w if sp.regularization_type == "L2" else np.sign(w))
    lr = f(rate) * f(lr_mult)
    m, delta = f(sp.momentum), f(sp.delta)
    if kind == "SGD":
        hist[0] = m * hist[0] + lr * d
        d = hist[0].copy()
    elif kind == "Nesterov":
        old = hist[0].copy()
        hist[0] = m * hist[0] + lr * d
        d = (1 + m) * hist[0] - m * old
    elif kind == "AdaGrad":
        hist[0] += d * d
        d = lr * d / (np.sqrt(hist[0]) + delta)
    elif kind == "RMSProp":
        r = f(sp.rms_decay)
        hist[0] = (1 - r) * d * d + r * hist[0]
        d = lr * d / (np.sqrt(hist[0]) + delta)
    elif kind == "AdaDelta":
        hist[0] = (1 - m) * d * d + m * hist[0]
        d = d * np.sqrt((hist[1] + delta) / (hist[0] + delta))
        hist[1] = (1 - m) * d * d + m * hist[1]
        d = lr * d
    elif kind == "Adam":
        b2 = f(sp.momentum2)
        hist[0] = (1 - m) * d + m * hist[0]
        hist[1] = (1 - b2) * d * d + b2 * hist[1]
        t = it + 1
        corr = f(np.sqrt(1 - float(b2) ** t) / (1 - float(m) ** t))
        d = lr * corr * hist[0] / (np.sqrt(hist[1]) + delta)
    return w - d


SETTINGS = {
    "SGD": dict(momentum=0.9), "Nesterov": dict(momentum=0.9), "AdaGrad": dict(),
    "RMSProp": dict(rms_decay=0.98), "AdaDelta": dict(momentum=0.95, delta=1e-6), "Adam": dict(momentum=0.9),
}


@pytest.mark.parametrize("kind", sorted(SETTINGS))
@pytest.mark.parametrize("reg", ["L2", "L1"])
def test_update_rules(kind, reg):
    rng = np.random.default_rng(0)
    sp = caffe_pb2.SolverParameter(type=kind, weight_decay=0.01, regularization_type=reg, iter_size=2,
                                   **SETTINGS[kind])
    params = _params(rng)
    solver = create_solver(sp, params)
    n_sets = 2 if kind in ("AdaDelta", "Adam") else 1
    assert len(solver.history) == n_sets * len(params)
    ws = [p.param.detach().numpy().copy() for p in params]
    hists = [[np.zeros_like(w) for _ in range(2)] for w in ws]
    for it in range(4):
        grads = _set_grads(params, rng)
        solver.apply_update(0.05, it)
        for k, p in enumerate(params):
            ws[k] = _reference(kind, sp, ws[k], grads[k], hists[k], it, 0.05, p.lr_mult, p.decay_mult)
            np.testing.assert_allclose(p.param.detach().numpy(), ws[k], rtol=2e-5, atol=1e-6)
    for k, p in enumerate(params):  # history layout: all first-moment blobs, then all second-moment blobs
        np.testing.assert_allclose(solver.history[k].numpy(), hists[k][0], rtol=2e-5, atol=1e-6)
        if n_sets == 2:
            np.testing.assert_allclose(solver.history[len(params) + k].numpy(), hists[k][1], rtol=2e-5, atol=1e-6)


def test_lr_mult_zero_no_update_and_zero_history():
    rng = np.random.default_rng(1)
    sp = caffe_pb2.SolverParameter(type="SGD", momentum=0.9, weight_decay=0.01)
    params = _params(rng)
    frozen = params[2].param.detach().clone()
    solver = create_solver(sp, params)
    for _ in range(3):
        _set_grads(params, rng)
        solver.apply_update(0.1)
    assert torch.equal(params[2].param.detach(), frozen)
    assert not solver.history[2].any()


def test_clip_acts_on_the_summed_gradient_before_normalize():
    rng = np.random.default_rng(2)
    sp = caffe_pb2.SolverParameter(type="SGD", clip_gradients=1.0, iter_size=2)
    params = _params(rng, lr_mults=(1, 1, 1), decay_mults=(0, 0, 0))
    grads = _set_grads(params, rng)
    norm = float(np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads)))
    w0 = [p.param.detach().numpy().copy() for p in params]
    line = create_solver(sp, params).apply_update(1.0)
    assert line == (f"Gradient clipping: scaling down gradients (L2 norm {norm:g} > 1) "
                    f"by scale factor {1 / norm:g}")
    for p, w, g in zip(params, w0, grads):
        np.testing.assert_allclose(w - p.param.detach().numpy(), g / norm / 2, rtol=1e-5)


@pytest.mark.parametrize("kind", ["AdaGrad", "RMSProp"])
def test_momentum_forbidden(kind):
    sp = caffe_pb2.SolverParameter(type=kind, momentum=0.9)
    with pytest.raises(SolverError, match=f"Momentum cannot be used with {kind}"):
        create_solver(sp, [])


def test_other_checks():
    with pytest.raises(SolverError, match="rms_decay"):
        create_solver(caffe_pb2.SolverParameter(type="RMSProp", rms_decay=1.0), [])
    with pytest.raises(SolverError, match="Unknown solver type: Lion"):
        create_solver(caffe_pb2.SolverParameter(type="Lion"), [])
    with pytest.raises(SolverError, match="regularization_type 'L3'"):
        create_solver(caffe_pb2.SolverParameter(type="SGD", regularization_type="L3"), [])


def test_old_solver_type_enum():
    sp = caffe_pb2.SolverParameter(solver_type=caffe_pb2.SolverParameter.NESTEROV)
    assert solver_type(sp) == "Nesterov"
    assert type(create_solver(sp, [])).__name__ == "Nesterov"


def test_history_that_does_not_fit_is_clear():
    rng = np.random.default_rng(3)
    solver = create_solver(caffe_pb2.SolverParameter(type="Adam"), _params(rng))
    with pytest.raises(SolverError, match="holds 3 history blobs but this net with solver Adam needs 6"):
        solver.set_history([np.zeros(1)] * 3)
    with pytest.raises(SolverError, match="layer 'l0'"):
        solver.set_history([np.zeros(5)] * 6)
