"""Copy the solver for a fine-tune run and edit it (step 4, Solver).

* ``net`` -> the edited train_val copy (``train_net``/``test_net`` are folded into it);
* ``snapshot_prefix`` -> inside the run folder;
* ``base_lr`` ÷ divisor: pretrained weights need a smaller step than training from
  scratch (default 10; the article goes up to 100 — the plan shows both);
* ``max_iter``, ``snapshot`` (never past ``max_iter``);
* ``stepsize`` and every ``stepvalue`` scaled by ``new max_iter / old max_iter``, so the
  schedule keeps its shape (``step``: ``lr = base_lr * gamma ^ floor(iter / stepsize)``), but with
  at most two drops before the end (the lr ends at least at ``base_lr * gamma^2``);
* ``test_iter = ceil(validation records / TEST batch_size)`` (Caffe tests ``test_iter``
  batches, so this covers the validation set once);
* ``solver_mode`` of this run (CPU / GPU).

Caffe resolves every path in the solver against the WORKING DIRECTORY, not the file's
folder; the paths written here are the ones the caller gives (relative to where
``tunewiz train`` will run).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from tunewiz.caffe import caffe_pb2
from tunewiz.errors import TunewizError
from tunewiz.recipe.layers import RecipeError, clone


@dataclass
class SolverPlan:
    """What changed in the solver, and the learning-rate schedule."""

    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    schedule: list[tuple[int, float]] = field(default_factory=list)
    alternatives: dict[int, float] = field(default_factory=dict)


def edit_solver(src: caffe_pb2.SolverParameter, *, net_path: str, snapshot_prefix: str,
                lr_divisor: float = 10.0, max_iter: int | None = None, snapshot: int | None = None,
                val_records: int | None = None, val_batch: int | None = None,
                solver_mode: str | None = None, max_iter_why: str = "",
                snapshot_why: str = "") -> tuple[caffe_pb2.SolverParameter, SolverPlan]:
    """A new solver edited from ``src`` (left untouched), and the plan saying what changed."""
    s, plan = clone(src), SolverPlan()
    _set_net(s, net_path, plan)
    _set(s, "snapshot_prefix", snapshot_prefix, plan, "snapshots go into the run folder")
    _divide_lr(s, src, lr_divisor, plan)
    if max_iter is not None:
        _set_max_iter(s, src, max_iter, plan, max_iter_why)
    if snapshot is not None:
        _set(s, "snapshot", snapshot, plan, snapshot_why)
    if s.snapshot > s.max_iter > 0:
        _set(s, "snapshot", s.max_iter, plan, "no later than max_iter")
    if val_records is not None and val_batch:
        _set_test_iter(s, val_records, val_batch, plan)
    if solver_mode is not None:
        _set(s, "solver_mode", caffe_pb2.SolverParameter.SolverMode.Value(solver_mode.upper()), plan,
             "where this run trains")
    try:
        plan.schedule = schedule_preview(s)
    except TunewizError as exc:  # Caffe would stop at the first update: say it now
        plan.warnings.append(f"learning-rate schedule: {exc}")
    return s, plan


def _set(s, name: str, value, plan: SolverPlan, why: str) -> None:
    old = getattr(s, name)
    if s.HasField(name) and old == value:
        return
    setattr(s, name, value)
    shown_old = _show(s, name, old) if s.HasField(name) else "(unset)"
    plan.changes.append(f"{name}: {shown_old} -> {_show(s, name, value)}" + (f" ({why})" if why else ""))


def _show(s, name: str, value) -> str:
    if name == "solver_mode":
        return caffe_pb2.SolverParameter.SolverMode.Name(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _set_net(s, net_path: str, plan: SolverPlan) -> None:
    for old in ("train_net", "test_net", "net_param", "train_net_param", "test_net_param"):
        present = len(getattr(s, old)) if old.startswith("test_") else s.HasField(old)
        if present:
            s.ClearField(old)
            plan.changes.append(f"{old}: removed (the run uses one train_val file: net)")
    _set(s, "net", net_path, plan, "the edited copy")


def _divide_lr(s, src, divisor: float, plan: SolverPlan) -> None:
    if divisor <= 0:
        raise RecipeError(f"--lr-divisor must be > 0 (got {divisor:g})")
    base = float(f"{src.base_lr:.7g}")  # the decimal the file says (base_lr is a float32 field)
    if base <= 0:
        raise RecipeError("the solver has no base_lr > 0 to divide; set base_lr in the source solver")
    s.base_lr = float(f"{base / divisor:.6g}")
    plan.changes.append(f"base_lr: {base:g} -> {s.base_lr:g} (÷{divisor:g}: the copied weights are already "
                        "good; big steps would wreck them)")
    plan.alternatives = {d: float(f"{base / d:.6g}") for d in sorted({10, 100, int(divisor)} if divisor == int(divisor) else {10, 100})}


MAX_DROPS = 2  # a shortened schedule ends at base_lr * gamma^2 at the lowest, never base_lr * gamma^4


def _set_max_iter(s, src, max_iter: int, plan: SolverPlan, why: str = "") -> None:
    """max_iter, and the one rule for its steps: stepsize/stepvalue scale with max_iter, but the lr drops
    at most MAX_DROPS times before the end (scaling 450,000 -> 20 iterations in proportion would drop
    a step policy's lr four times, to 1e-7 by iteration 16, and nothing would be learned)."""
    if max_iter <= 0:
        raise RecipeError(f"--max-iter must be > 0 (got {max_iter})")
    old = src.max_iter
    _set(s, "max_iter", max_iter, plan, why)
    if old <= 0 or old == max_iter:
        return
    ratio = max_iter / old
    if s.lr_policy in ("step", "sigmoid") and s.stepsize:
        new = max(1, round(s.stepsize * ratio))
        why = f"scaled ×{ratio:g} with max_iter"
        least = (max_iter - 1) // (MAX_DROPS + 1) + 1
        if s.lr_policy == "step" and new < least:
            new, why = least, f"{why}, then raised so the lr drops at most {MAX_DROPS} times"
        _set(s, "stepsize", new, plan, why)
    if s.stepvalue:
        scaled = [max(1, round(v * ratio)) for v in s.stepvalue]
        inside = [v for v in scaled if v < max_iter]
        why = f"scaled ×{ratio:g} with max_iter"
        if len(inside) > MAX_DROPS:
            scaled = inside[-MAX_DROPS:] + [v for v in scaled if v >= max_iter]
            why += f", the last {MAX_DROPS} kept so the lr drops at most {MAX_DROPS} times"
        plan.changes.append(f"stepvalue: {list(s.stepvalue)} -> {scaled} ({why})")
        del s.stepvalue[:]
        s.stepvalue.extend(scaled)


def _set_test_iter(s, val_records: int, val_batch: int, plan: SolverPlan) -> None:
    n = math.ceil(val_records / val_batch)
    why = f"{val_records} validation images / batch {val_batch}"
    if n * val_batch != val_records:
        plan.warnings.append(f"test_iter {n} × batch {val_batch} = {n * val_batch} reads {n * val_batch - val_records} "
                             "images twice per test (Caffe wraps around); a batch size dividing the validation "
                             "size avoids it")
    if len(s.test_iter) == 1 and s.test_iter[0] == n:
        return
    old = list(s.test_iter)
    del s.test_iter[:]
    s.test_iter.append(n)
    plan.changes.append(f"test_iter: {old or '(unset)'} -> {n} ({why})")
    if not s.test_interval:
        plan.warnings.append("the solver has no test_interval: Caffe then tests at every iteration")


def schedule_preview(s: caffe_pb2.SolverParameter, points: int = 11) -> list[tuple[int, float]]:
    """(iter, lr) at evenly spaced iterations plus both sides of every step, by the engine's policy code."""
    from tunewiz.engine.solvers.lr_policy import learning_rate

    last = max(s.max_iter - 1, 0)
    its = {round(last * k / (points - 1)) for k in range(points)}
    if s.lr_policy == "step" and s.stepsize > 0 and last // s.stepsize <= 50:
        its |= {b - d for b in range(s.stepsize, last + 1, s.stepsize) for d in (0, 1)}
    if s.lr_policy == "multistep":
        its |= {v - d for v in s.stepvalue if 0 < v <= last for d in (0, 1)}
    out, current = [], 0
    for it in sorted(its):
        if s.lr_policy == "multistep":  # multistep walks current_step forward one call at a time
            current = sum(1 for v in s.stepvalue if it >= v)
        rate, current, _ = learning_rate(s, it, current)
        out.append((it, rate))
    return out
