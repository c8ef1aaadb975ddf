"""Caffe's seven learning-rate policies (``SGDSolver::GetLearningRate``) as small pure functions.

Each policy takes the solver parameters it needs, the iteration ``iter`` (the number of updates
made so far) and the ``current_step`` carried by the solver, and returns ``(rate, current_step)``.
``current_step`` is what Caffe stores in the ``.solverstate``: the step policy sets it to
``iter // stepsize`` at every call (so a snapshot at iteration 25 with stepsize 10 stores
``24 // 10 = 2``: the last rate computed was for iteration 24), multistep advances it by at most one
per call when ``iter >= stepvalue[current_step]`` (and logs ``MultiStep Status: ...``), every other
policy leaves it untouched (0).

Caffe computes these in C++ with ``float`` fields, and C++ picks the overload: ``pow(float, int)``
(step, exp, multistep: an integer exponent) is computed in double and its product with base_lr too,
rounded to float once; ``pow(float, float)`` (inv, poly) is C's ``powf`` and ``exp(float)`` (sigmoid)
``expf``, floats before the product (``solvers.libm`` calls libm's own).  Checked against Caffe's runs:
a rate one ulp off at one iteration moves RMSProp/exp's losses by 4e-4 within 40 iterations, and with
these roundings the run equals Caffe's.

Caffe's CHECKs become :class:`LrPolicyError` (a :class:`~tunewiz.errors.TunewizError`).
"""
from __future__ import annotations

import math
from typing import Callable

from tunewiz.engine.numbers import f32
from tunewiz.engine.solvers.libm import expf, powf
from tunewiz.errors import TunewizError


class LrPolicyError(TunewizError):
    """A solver's lr_policy settings that Caffe refuses (with the fix)."""


def fixed(base_lr: float) -> float:
    """``fixed``: lr = base_lr."""
    return f32(base_lr)


def step(base_lr: float, gamma: float, stepsize: int, it: int) -> tuple[float, int]:
    """``step``: current_step = floor(iter / stepsize); lr = base_lr * gamma ^ current_step.

    Caffe: ``CHECK_GT(stepsize, 0)``, ``CHECK_GE(gamma, 0)``.
    """
    if stepsize <= 0:
        raise LrPolicyError(f"lr_policy 'step' needs stepsize > 0 (got {stepsize}); set stepsize in the solver.")
    _check_gamma("step", gamma)
    current_step = it // stepsize
    return f32(f32(base_lr) * math.pow(f32(gamma), current_step)), current_step


def exp(base_lr: float, gamma: float, it: int) -> float:
    """``exp``: lr = base_lr * gamma ^ iter.  Caffe: ``CHECK_GE(gamma, 0)``."""
    _check_gamma("exp", gamma)
    return f32(f32(base_lr) * math.pow(f32(gamma), it))


def inv(base_lr: float, gamma: float, power: float, it: int) -> float:
    """``inv``: lr = base_lr * (1 + gamma * iter) ^ (- power).  Caffe: ``CHECK_GE(gamma, 0)``."""
    _check_gamma("inv", gamma)
    inner = f32(1.0 + f32(f32(gamma) * it))  # Dtype(1) + gamma * iter_ is float arithmetic
    return f32(f32(base_lr) * powf(inner, -f32(power)))  # pow(float, float) -> float


def multistep(base_lr: float, gamma: float, stepvalues: list[int], it: int,
              current_step: int) -> tuple[float, int, str | None]:
    """``multistep``: if current_step < len(stepvalue) and iter >= stepvalue[current_step]:
    current_step += 1 (and log "MultiStep Status: Iteration <iter>, step = <current_step>");
    lr = base_lr * gamma ^ current_step.

    Returns ``(rate, current_step, log line or None)``.
    """
    line = None
    if current_step < len(stepvalues) and it >= stepvalues[current_step]:
        current_step += 1
        line = f"MultiStep Status: Iteration {it}, step = {current_step}"
    return f32(f32(base_lr) * math.pow(f32(gamma), current_step)), current_step, line


def poly(base_lr: float, power: float, max_iter: int, it: int) -> float:
    """``poly``: lr = base_lr * (1 - iter / max_iter) ^ power."""
    if max_iter <= 0:
        raise LrPolicyError("lr_policy 'poly' needs max_iter > 0.")
    frac = f32(1.0 - f32(float(it)) / f32(float(max_iter)))
    return f32(f32(base_lr) * powf(frac, f32(power)))


def sigmoid(base_lr: float, gamma: float, stepsize: int, it: int) -> float:
    """``sigmoid``: lr = base_lr * (1 / (1 + exp(-gamma * (iter - stepsize)))).

    BVLC Caffe: ``CHECK_GE(gamma, 0)`` (a negative gamma dies at the first update with
    ``Check failed: this->param_.gamma() >= 0``) and ``CHECK_GT(stepsize, 0)``.
    """
    _check_gamma("sigmoid", gamma)
    if stepsize <= 0:
        raise LrPolicyError(f"lr_policy 'sigmoid' needs stepsize > 0 (got {stepsize}).")
    x = f32(-f32(gamma) * f32(float(it - stepsize)))  # float arithmetic, then exp(float) -> float
    return f32(f32(base_lr) * f32(1.0 / f32(1.0 + expf(x))))


def _check_gamma(policy: str, gamma: float) -> None:
    if gamma < 0:
        raise LrPolicyError(
            f"lr_policy '{policy}' needs gamma >= 0 (got {gamma:g}); Caffe stops with "
            f"'Check failed: this->param_.gamma() >= 0'. Use a gamma >= 0.")


POLICIES = ("fixed", "step", "exp", "inv", "multistep", "poly", "sigmoid")


def learning_rate(sp, it: int, current_step: int) -> tuple[float, int, str | None]:
    """The rate for iteration ``it`` under SolverParameter ``sp``: ``(rate, current_step, log line)``."""
    policy = sp.lr_policy
    table: dict[str, Callable[[], tuple]] = {
        "fixed": lambda: (fixed(sp.base_lr), current_step, None),
        "step": lambda: (*step(sp.base_lr, sp.gamma, sp.stepsize, it), None),
        "exp": lambda: (exp(sp.base_lr, sp.gamma, it), current_step, None),
        "inv": lambda: (inv(sp.base_lr, sp.gamma, sp.power, it), current_step, None),
        "multistep": lambda: multistep(sp.base_lr, sp.gamma, list(sp.stepvalue), it, current_step),
        "poly": lambda: (poly(sp.base_lr, sp.power, sp.max_iter, it), current_step, None),
        "sigmoid": lambda: (sigmoid(sp.base_lr, sp.gamma, sp.stepsize, it), current_step, None),
    }
    if policy not in table:
        raise LrPolicyError(f"unknown lr_policy '{policy}' in the solver; use one of: {', '.join(POLICIES)}.")
    return table[policy]()


def check_policy(sp) -> None:
    """Run Caffe's checks once before training starts (Caffe would die at the first update)."""
    learning_rate(sp, 0, 0)
