"""The solver stage: the solver copy for one :class:`FinetuneOptions` and its edited net (pure).

``tunewiz.recipe.solver_edits.edit_solver`` makes the recipe's edits (net path, snapshot prefix,
base_lr ÷ divisor, max_iter with its one stepsize rule, snapshot, test_iter over the validation
set, solver_mode); then the options that set a field outright (``--base-lr``, ``--stepsize``,
``--stepvalue``, ``--test-iter``, ``--test-interval``, ``--iter-size``) are applied, each once.
The ends line up with the tests (``tunewiz.recipe.sizing``): unless the user set them, max_iter and the
snapshot interval are multiples of test_interval, so every snapshot, the last included, has its test
accuracy and the run's best snapshot can be told.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import read_solver_text
from tunewiz.errors import TunewizError
from tunewiz.recipe.from_deploy import default_solver
from tunewiz.recipe import sizing
from tunewiz.recipe.layers import RecipeError
from tunewiz.recipe.options import FinetuneOptions
from tunewiz.recipe.plan import Section
from tunewiz.recipe.solver_edits import edit_solver, schedule_preview
from tunewiz.runs import layout


@dataclass
class SolverStage:
    """The solver copy, what changed, the lr schedule."""

    solver: caffe_pb2.SolverParameter
    sections: list[Section] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    schedule: list[tuple[int, float]] = field(default_factory=list)


def default_mode() -> str:
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu"


def _outright(opts: FinetuneOptions, s: caffe_pb2.SolverParameter) -> list[str]:
    """The fields an option sets outright; returns the change lines."""
    lines = []

    def put(name: str, value, why: str) -> None:
        old = getattr(s, name)
        if s.HasField(name) and old == value:
            return
        setattr(s, name, value)
        shown = f"{old:g}" if isinstance(old, float) else str(old)
        lines.append(f"{name}: {shown if s.HasField(name) else '(unset)'} -> {value:g} ({why})")

    if opts.base_lr is not None:
        put("base_lr", opts.base_lr, "--base-lr")
    if opts.stepsize is not None:
        if s.lr_policy not in ("step", "sigmoid"):
            raise RecipeError(f"--stepsize {opts.stepsize}: the solver's lr_policy is {s.lr_policy!r}, which has "
                              "no stepsize (step and sigmoid do)")
        put("stepsize", opts.stepsize, "--stepsize")
    if opts.stepvalue:
        if s.lr_policy != "multistep":
            raise RecipeError(f"--stepvalue: the solver's lr_policy is {s.lr_policy!r}; stepvalue is multistep's")
        lines.append(f"stepvalue: {list(s.stepvalue)} -> {list(opts.stepvalue)} (--stepvalue)")
        del s.stepvalue[:]
        s.stepvalue.extend(opts.stepvalue)
    if opts.test_iter is not None:
        lines.append(f"test_iter: {list(s.test_iter) or '(unset)'} -> [{opts.test_iter}] (--test-iter)")
        del s.test_iter[:]
        s.test_iter.append(opts.test_iter)
    if opts.test_interval is not None:
        put("test_interval", opts.test_interval, "--test-interval")
    return lines


def plan_solver(opts: FinetuneOptions, net) -> SolverStage:
    """The solver copy for ``net`` (a :class:`tunewiz.recipe.finetune.NetPlan`). Nothing is written.

    Planned twice: the first plan says the test_interval, which the second fits the recipe's max_iter and
    the snapshot interval to (``tunewiz.recipe.sizing``: every snapshot and the end tested)."""
    if net.solver_path is not None:
        src = read_solver_text(net.solver_path)
    elif net.from_deploy:
        src = default_solver()
    else:
        raise RecipeError("give --solver (a solver prototxt); the model folder has none")
    iter_size = opts.iter_size or net.iter_size
    batch = sizing.train_batch(net.net)
    per_epoch = sizing.iterations_per_epoch(net.train_count, batch, iter_size)
    sized = (src.max_iter, per_epoch, net.train_count, batch * iter_size)
    first = _plan(opts, net, src, iter_size, per_epoch, _ends(opts, sized))
    s = first.solver
    interval = s.test_interval if len(s.test_iter) else 0
    if interval <= 0:  # no tests: nothing to line up with
        return first
    ends = _ends(opts, sized, interval)
    if opts.snapshot_every is None:
        ends.snapshot, ends.snapshot_why = sizing.snapshot_interval(ends.max_iter or s.max_iter, interval)
    return _plan(opts, net, src, iter_size, per_epoch, ends)


@dataclass
class _Ends:
    """max_iter and the snapshot interval to plan with, each with the reason the plan gives ("": the user's)."""

    max_iter: int | None
    max_iter_why: str
    snapshot: int | None
    snapshot_why: str


def _ends(opts: FinetuneOptions, sized: tuple, test_interval: int = 0) -> _Ends:
    """The user's max_iter and snapshot, else the recipe's max_iter (``sizing.proposed_max_iter(*sized)``,
    a multiple of ``test_interval``) and the solver's snapshot."""
    max_iter, why = opts.max_iter, ""
    if max_iter is None and sized[2]:  # training images counted: the schedule can be sized to them
        max_iter, why = sizing.proposed_max_iter(*sized, test_interval) or (None, "")
    return _Ends(max_iter, why, opts.snapshot_every, "--snapshot-every" if opts.snapshot_every else "")


def _plan(opts: FinetuneOptions, net, src, iter_size: int, per_epoch: int, ends: _Ends) -> SolverStage:
    """One plan of the solver copy with ``ends``."""
    out = Path(opts.out)
    s, sp = edit_solver(src, net_path=str(out / layout.TRAIN_VAL), snapshot_prefix=str(out / opts.safe_run_name),
                        lr_divisor=opts.lr_divisor, max_iter=ends.max_iter, snapshot=ends.snapshot,
                        val_records=net.val_count, val_batch=sizing.batch_size(net.net, caffe_pb2.TEST) or None,
                        solver_mode=opts.mode or ("gpu" if opts.gpu else default_mode()), max_iter_why=ends.max_iter_why,
                        snapshot_why=ends.snapshot_why)
    changes = sp.changes + _outright(opts, s)
    if iter_size != max(src.iter_size, 1):
        why = "--iter-size" if opts.iter_size else "keeps the effective batch"
        changes.append(f"iter_size: {max(src.iter_size, 1)} -> {iter_size} ({why})")
        s.iter_size = iter_size
    interval = None
    if opts.test_interval is None and net.train_count:  # a max_iter not the recipe's own keeps its value
        interval = sizing.proposed_test_interval(s, per_epoch, fit_max_iter=not ends.max_iter_why)
    if interval:
        changes.append(f"test_interval: {s.test_interval or '(unset)'} -> {interval[0]} ({interval[1]})")
        s.test_interval = interval[0]
    if s.snapshot > s.max_iter > 0:
        s.snapshot = s.max_iter
    if net.solver_path is None:
        changes.insert(0, "solver written from Caffe's fine-tuning defaults (SGD, momentum 0.9, weight_decay "
                          "0.0005, step policy, gamma 0.1, from-scratch base_lr 0.01): the model came without one")
    stage = SolverStage(s, warnings=list(sp.warnings))
    untested = sizing.untested_end(s)
    if untested:
        stage.warnings.append(untested)
    alts = ", ".join(f"÷{d:g}: {lr:g}" for d, lr in sp.alternatives.items())
    stage.sections.append(Section("solver", changes + [f"base_lr choices: {alts}"]))
    try:
        stage.schedule = schedule_preview(s)
    except TunewizError as exc:  # Caffe would stop at the first update: say it now
        stage.warnings.append(f"learning-rate schedule: {exc}")
    return stage
