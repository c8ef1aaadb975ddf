"""Steps 2-4 end to end: from the sources and the options to a :class:`FinetunePlan` (nothing written).

Order of the edits: classes (output layer), data layers, batch size, freeze, solver;
then the start checks (transfer report, or the snapshot checks) on the edited net.
``options`` is any object with the attributes of ``tunewiz finetune``'s arguments.
"""
from __future__ import annotations

import math
from pathlib import Path

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import read_net_text, read_solver_text, to_text
from tunewiz.recipe import batch as batch_mod
from tunewiz.recipe.classes import FLICKR_MULTS, change_classes, check_class_count
from tunewiz.recipe.data_edits import DataPlan, check_data, classes_from_db, data_layers, point_data_layers, summarize_db
from tunewiz.recipe.freeze import freeze_through
from tunewiz.recipe.layers import RecipeError, check_editable, clone
from tunewiz.recipe.plan import FinetunePlan
from tunewiz.recipe.solver_edits import edit_solver
from tunewiz.recipe import start as start_mod

TRAIN, TEST = caffe_pb2.TRAIN, caffe_pb2.TEST


def _opt(options, name, default=None):
    return getattr(options, name, default)


def resolve_sources(options, plan: FinetunePlan) -> tuple[Path, Path | None, Path]:
    """net/deploy/solver paths and the weights, from the options or the --model folder."""
    net, deploy, solver = _opt(options, "net"), _opt(options, "deploy"), _opt(options, "solver")
    if _opt(options, "model"):
        folder = start_mod.read_model_folder(options.model)
        plan.section("model folder", folder.lines)
        net = net or folder.train_val
        deploy = deploy or folder.deploy
        solver = solver or folder.solver
        plan.weights = [str(folder.caffemodel)]
    elif _opt(options, "weights"):
        plan.weights = [w for w in options.weights.split(",") if w]
    else:
        plan.snapshot = options.snapshot
    if not net or not solver:
        missing = "--net (a train_val prototxt)" if not net else "--solver"
        raise RecipeError(f"give {missing}; the model folder has none")
    return Path(net), Path(deploy) if deploy else None, Path(solver)


def _batch_of(net, phase) -> int:
    ref = next((r for r in data_layers(net) if r.in_phase(phase)), None)
    if ref is None:
        return 0
    return ref.msg.image_data_param.batch_size if ref.type == "ImageData" else ref.msg.data_param.batch_size


def _set_train_batch(net, b: int) -> None:
    for ref in data_layers(net):
        if ref.in_phase(TRAIN):
            sub = ref.msg.image_data_param if ref.type == "ImageData" else ref.msg.data_param
            sub.batch_size = b


def _classes(options, train_sum) -> int:
    found = classes_from_db(train_sum)
    n = _opt(options, "classes")
    if n is None:
        return found
    check_class_count(n)
    if n < found:
        raise RecipeError(f"--classes {n}: the training data have labels up to {found - 1}, so at least {found} "
                          "classes are needed")
    return n


def _batch(options, tv, solver, plan: FinetunePlan, chw) -> int:
    """Apply --batch-size / --gpu-memory; return the iter_size to put in the solver."""
    old_b, old_k = _batch_of(tv, TRAIN), max(solver.iter_size, 1)
    if _opt(options, "batch_size"):
        b = options.batch_size
        if b < 1:
            raise RecipeError(f"--batch-size must be >= 1 (got {b})")
        k = max(1, math.ceil(old_b * old_k / b)) if old_b else old_k
        advice = batch_mod.BatchAdvice(b, k, b * k, b != old_b, [f"batch_size {b} given"])
    elif _opt(options, "gpu_memory"):
        model = batch_mod.memory_model(tv, chw, solver.type or "SGD")
        advice = batch_mod.advise(model, batch_mod.memory_arg(options.gpu_memory), old_b, old_k)
    else:
        return old_k
    plan.section("batch size", advice.lines + [advice.summary])
    if advice.changed:
        _set_train_batch(tv, advice.batch_size)
    return advice.iter_size


def build_plan(options, run_name: str) -> FinetunePlan:
    """Read the sources, make every edit and check; return the plan (files in memory)."""
    out = Path(options.out)
    plan = FinetunePlan(out)
    net_path, deploy_path, solver_path = resolve_sources(options, plan)
    src_tv, solver_src = read_net_text(net_path), read_solver_text(solver_path)
    check_editable(src_tv, str(net_path))
    src_dep = read_net_text(deploy_path) if deploy_path else None
    if src_dep is not None:
        check_editable(src_dep, str(deploy_path))
    tv, dep = clone(src_tv), clone(src_dep) if src_dep is not None else None

    train_sum = summarize_db(options.train_db)
    val_sum = summarize_db(options.val_db)
    n = _classes(options, train_sum)
    if val_sum.labels and max(val_sum.labels) >= n:
        raise RecipeError(f"--val-db {val_sum.path}: label {max(val_sum.labels)} is not among the {n} training "
                          "classes; make both lists with the same class numbering")
    plan.section("data", [f"training: {train_sum.path} ({train_sum.backend}, {train_sum.count} images, "
                          f"{train_sum.channels}x{train_sum.height}x{train_sum.width}, {n} classes)",
                          f"validation: {val_sum.path} ({val_sum.count} images)"])

    mults = None if _opt(options, "keep_lr_mult") else FLICKR_MULTS
    cp = change_classes(tv, n, run=run_name, deploy=dep, output=_opt(options, "output_layer"),
                        new_name=_opt(options, "rename"), mults=mults)
    plan.section("output layer", [cp.output.reason, cp.consequence] + cp.changes + cp.rewired)
    plan.warnings += cp.warnings

    dp = DataPlan()
    mean_value = [float(v) for v in options.mean_value.split(",")] if _opt(options, "mean_value") else None
    point_data_layers(tv, options.train_db, options.val_db, dp, _opt(options, "mean_file"), mean_value)
    check_fit(tv, plan.weights)  # first: its message has the sizes, channels and the conversion line
    check_data(tv, train_sum, dp, dep)
    plan.section("data layers", dp.changes)
    plan.warnings += dp.warnings

    chw = (train_sum.channels, train_sum.height, train_sum.width)
    iter_size = _batch(options, tv, solver_src, plan, chw)
    if _opt(options, "freeze_through"):
        counts = {k: [math.prod(s) for s in v] for k, v in start_mod.param_shapes(tv, chw).items()}
        fp = freeze_through(tv, options.freeze_through, reference=clone(tv), param_counts=counts)
        plan.section("freeze", fp.changes + [fp.summary()])

    _solver(options, plan, tv, solver_src, val_sum.count, iter_size, run_name)
    plan.files["train_val.prototxt"] = to_text(tv)
    plan.sources["train_val.prototxt"] = net_path
    if dep is not None:
        plan.files["deploy.prototxt"] = to_text(dep)
        plan.sources["deploy.prototxt"] = deploy_path
    plan.sources["solver.prototxt"] = solver_path
    _start_checks(plan, tv, chw)
    return plan


def check_fit(tv, weights) -> None:
    """Before any shape is worked out: records the TRAIN or TEST net cannot take (too small, other channels,
    a crop larger than the images) stop here with the engine's one fix-it message (``engine.datafit``)."""
    from tunewiz.engine.datafit import check_data_fit

    for phase in (TRAIN, TEST):
        net = clone(tv)
        net.state.phase = phase
        check_data_fit(net, weights=weights)


def _solver(options, plan: FinetunePlan, tv, solver_src, val_count: int, iter_size: int, run: str) -> None:
    mode = _opt(options, "mode") or _default_mode()
    s, sp = edit_solver(solver_src, net_path=str(plan.path("train_val.prototxt")),
                        snapshot_prefix=str(plan.path(run)), lr_divisor=options.lr_divisor,
                        max_iter=_opt(options, "max_iter"), snapshot=_opt(options, "snapshot_every"),
                        val_records=val_count, val_batch=_batch_of(tv, TEST) or None, solver_mode=mode)
    if iter_size != max(solver_src.iter_size, 1):
        sp.changes.append(f"iter_size: {max(solver_src.iter_size, 1)} -> {iter_size} (keeps the effective batch)")
        s.iter_size = iter_size
    alts = ", ".join(f"÷{d:g}: {lr:g}" for d, lr in sp.alternatives.items())
    plan.section("solver", sp.changes + [f"base_lr choices: {alts}"])
    plan.warnings += sp.warnings
    plan.schedule = sp.schedule
    plan.files["solver.prototxt"] = to_text(s)


def _default_mode() -> str:
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu"


def _start_checks(plan: FinetunePlan, tv, chw) -> None:
    if plan.snapshot:
        from tunewiz.recipe.run import conflicts

        changed = conflicts(plan)
        if changed:
            raise RecipeError(f"--snapshot {plan.snapshot}: resuming needs the same solver and net, but these "
                              f"copies would change: {', '.join(map(str, changed))}; run finetune with the same "
                              "options as before, or start anew from the snapshot's caffemodel with --weights")
        files = {"solver": str(plan.path("solver.prototxt")), "net": str(plan.path("train_val.prototxt"))}
        files = {k: v for k, v in files.items() if Path(v).is_file()}
        solver = caffe_pb2.SolverParameter()
        from tunewiz.caffe.prototxt import parse_text

        parse_text(plan.files["solver.prototxt"], solver)
        learnable = start_mod.learnable_shapes(tv, chw)
        plan.section("resume checks", start_mod.check_snapshot(plan.snapshot, learnable, solver, files))
        return
    report = start_mod.transfer_report(plan.weights, tv, chw)
    plan.section("weights transfer (" + ", ".join(plan.weights) + ")", report.lines())
    if report.mismatch:
        raise RecipeError("the weights do not fit the net: " + "; ".join(report.mismatch))
