"""Steps 3-5 (Net, Solver, Start): stages over one :class:`FinetuneOptions`; each stage is pure (writes nothing).

    net = plan_net(opts)                  # copies of train_val/deploy: classes, data, batch, freeze
    solver = plan_solver(opts, net)       # the solver copy: paths, lr, schedule, tests, snapshots
    start = plan_start(opts, net, solver) # the transfer report, or the resume checks
    plan = plan_finetune(opts)            # all three -> a FinetunePlan; tunewiz.recipe.run.write_plan

The CLI (``tunewiz finetune``), the wizard's Net/Solver/Start screens and scripts call these same
functions, so what a screen previews is what Start writes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import read_net_text, read_solver_text, to_text
from tunewiz.recipe import batch as batch_mod
from tunewiz.recipe import start as start_mod
from tunewiz.recipe.classes import FLICKR_MULTS, check_class_count
from tunewiz.recipe.data_edits import DataPlan, check_data, classes_from_db, point_data_layers, summarize_db
from tunewiz.recipe.freeze import freeze_through
from tunewiz.recipe.from_deploy import kind_of, train_val_from_deploy
from tunewiz.recipe.heads import change_heads
from tunewiz.recipe.layers import RecipeError, check_editable, clone
from tunewiz.recipe.options import FinetuneOptions, OptionsError
from tunewiz.recipe.plan import FinetunePlan, Section, changed_copies
from tunewiz.recipe.sizing import batch_size, set_train_batch, test_batch_lines
from tunewiz.recipe.solver_stage import SolverStage, plan_solver
from tunewiz.runs import layout

TRAIN, TEST = caffe_pb2.TRAIN, caffe_pb2.TEST
__all__ = ["NetPlan", "plan_net", "plan_start", "plan_finetune"]


@dataclass
class NetPlan:
    """The edited train_val (and deploy) copies, with what changed and why."""

    net_path: Path
    deploy_path: Path | None
    solver_path: Path | None
    weights: list[str]
    snapshot: str | None
    source: caffe_pb2.NetParameter
    net: caffe_pb2.NetParameter
    deploy: caffe_pb2.NetParameter | None
    chw: tuple[int, int, int]
    val_count: int
    iter_size: int
    train_count: int = 0
    from_deploy: bool = False  # the train_val was written from a deploy (no solver needed either)
    batch: batch_mod.BatchAdvice | None = None
    sections: list[Section] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def section(self, title: str, lines: list[str]) -> None:
        if lines:
            self.sections.append(Section(title, list(lines)))


def _sources(opts: FinetuneOptions, sections: list[Section]):
    """net/deploy/solver paths and the start (weights or snapshot), from the options or the --model folder."""
    net, deploy, solver = opts.net, opts.deploy, opts.solver
    weights, snapshot = list(opts.weights), opts.snapshot
    if opts.model:
        folder = start_mod.read_model_folder(opts.model)
        sections.append(Section("model folder", list(folder.lines)))
        # a folder released with a deploy only: the train_val is written from it (from_deploy)
        net = net or folder.train_val or folder.deploy
        deploy, solver = deploy or folder.deploy, solver or folder.solver
        weights = [str(folder.caffemodel)]
    if not net:
        raise RecipeError("give --net (a train_val or deploy prototxt); the model folder has none")
    return Path(net), Path(deploy) if deploy else None, Path(solver) if solver else None, weights, snapshot


def _need(opts: FinetuneOptions, *names: str) -> None:
    missing = [n for n in names if not getattr(opts, n)]
    if missing:
        raise OptionsError("give " + ", ".join(f"--{n.replace('_', '-')}" for n in missing))


def _classes(opts: FinetuneOptions, train_sum) -> int:
    found = classes_from_db(train_sum)
    if opts.classes is None:
        return found
    check_class_count(opts.classes)
    if opts.classes < found:
        raise RecipeError(f"--classes {opts.classes}: the training data have labels up to {found - 1}, so at "
                          f"least {found} classes are needed")
    return opts.classes


def _batch(opts: FinetuneOptions, tv, source_iter_size: int, solver_type: str, plan: NetPlan) -> int:
    """Apply --batch-size / --gpu-memory; return the iter_size that keeps the effective batch.  With several
    GPUs (--gpu) every rank runs this batch: the section says what an iteration then sees."""
    old_b, old_k = batch_size(tv, TRAIN), max(source_iter_size, 1)
    ranks = _ranks(opts.gpu)
    if opts.batch_size:
        b = opts.batch_size
        k = max(1, math.ceil(old_b * old_k / b)) if old_b else old_k
        advice = batch_mod.BatchAdvice(b, k, b * k, b != old_b, [f"batch_size {b} given"])
    elif opts.gpu_memory:
        model = batch_mod.memory_model(tv, plan.chw, solver_type or "SGD")
        advice = batch_mod.advise(model, batch_mod.memory_arg(opts.gpu_memory, opts.gpu), old_b, old_k)
    else:
        if ranks > 1:
            plan.section("batch size", batch_mod.rank_lines(ranks, old_b, old_k))
        return old_k
    plan.batch = advice
    plan.section("batch size", advice.lines + [advice.summary] +
                 batch_mod.rank_lines(ranks, advice.batch_size, advice.iter_size))
    if advice.changed:
        set_train_batch(tv, advice.batch_size)
    return advice.iter_size


def _ranks(gpu: str | None) -> int:
    """How many training processes ``--gpu`` starts (one per GPU; as many CPU ranks without CUDA)."""
    from tunewiz.engine.devices import rank_count

    return rank_count(gpu) if gpu else 1


def plan_net(opts: FinetuneOptions) -> NetPlan:
    """Read the sources and the data; edit copies of train_val (and deploy). Nothing is written."""
    _need(opts, "train_db", "val_db")
    sections: list[Section] = []
    net_path, deploy_path, solver_path, weights, snapshot = _sources(opts, sections)
    src_tv = read_net_text(net_path)
    check_editable(src_tv, str(net_path))
    src_dep = read_net_text(deploy_path) if deploy_path else None
    if src_dep is not None:
        check_editable(src_dep, str(deploy_path))
    from_deploy = kind_of(src_tv, str(net_path)) == "deploy"
    if from_deploy and src_dep is None:  # the deploy is copied (and edited) too
        src_dep, deploy_path = src_tv, net_path

    train_sum, val_sum = summarize_db(opts.train_db), summarize_db(opts.val_db)
    n = _classes(opts, train_sum)
    if val_sum.labels and max(val_sum.labels) >= n:
        raise RecipeError(f"--val-db {val_sum.path}: label {max(val_sum.labels)} is not among the {n} training "
                          "classes; make both lists with the same class numbering")
    chw = (train_sum.channels, train_sum.height, train_sum.width)
    made = []
    if from_deploy:
        tv, made = train_val_from_deploy(src_tv, str(net_path), chw=chw, train_db=opts.train_db,
                                         val_db=opts.val_db, val_count=val_sum.count, train_count=train_sum.count,
                                         mean_file=opts.mean_file,
                                         mean_value=opts.mean_value, scale=opts.scale, train_batch=opts.batch_size)
    else:
        tv = clone(src_tv)
    dep = clone(src_dep) if src_dep is not None else None
    plan = NetPlan(net_path, deploy_path, solver_path, weights, snapshot, src_tv, tv, dep, chw, val_sum.count, 1,
                   train_count=train_sum.count, from_deploy=from_deploy, sections=sections)
    plan.section("data", [f"training: {train_sum.path} ({train_sum.backend}, {train_sum.count} images, "
                          f"{chw[0]}x{chw[1]}x{chw[2]}, {n} classes)",
                          f"validation: {val_sum.path} ({val_sum.count} images)"])
    plan.section("train_val from the deploy", made)

    heads = change_heads(tv, n, run=opts.safe_run_name, deploy=dep, outputs=opts.output_layer, renames=opts.rename,
                         mults=None if opts.keep_lr_mult else FLICKR_MULTS)
    plan.section("output layer" if len(heads.heads) == 1 else f"output layers ({len(heads.heads)} heads)",
                 heads.lines())
    plan.warnings += heads.warnings

    dp = DataPlan()
    point_data_layers(tv, opts.train_db, opts.val_db, dp, opts.mean_file, list(opts.mean_value) or None)
    if opts.mean_file is None and not opts.mean_value:
        dp.changes.append("mean: the pretrained net's preprocessing is kept (its weights learned that input; "
                          "--mean-file gives the new data's mean instead, for data far from the original's)")
    check_fit(tv, weights)  # first: its message has the sizes, channels and the conversion line
    check_data(tv, train_sum, dp, dep)
    dp.changes += test_batch_lines(tv, val_sum.count, opts.test_batch_size)
    plan.section("data layers", dp.changes)
    plan.warnings += dp.warnings

    source_solver = read_solver_text(solver_path) if solver_path else caffe_pb2.SolverParameter()
    plan.iter_size = _batch(opts, tv, source_solver.iter_size, source_solver.type, plan)
    if opts.freeze_through:
        counts = {k: [math.prod(s) for s in v] for k, v in start_mod.param_shapes(tv, chw).items()}
        fp = freeze_through(tv, opts.freeze_through, reference=clone(tv), param_counts=counts)
        plan.section("freeze", fp.changes + [fp.summary()])
    from tunewiz.engine.checks.learning import check_can_learn
    from tunewiz.recipe.shape_net import build_meta

    check_can_learn(build_meta(tv, chw), f"the TRAIN net of the copy of {net_path.name}")
    return plan


def check_fit(tv, weights) -> None:
    """Before any shape is worked out: records the TRAIN or TEST net cannot take (too small, other channels,
    a crop larger than the images) stop here with the engine's one fix-it message (``engine.datafit``)."""
    from tunewiz.engine.checks.datafit import check_data_fit

    for phase in (TRAIN, TEST):
        net = clone(tv)
        net.state.phase = phase
        check_data_fit(net, weights=weights)


def plan_start(opts: FinetuneOptions, net: NetPlan, solver: SolverStage) -> list[Section]:
    """The transfer report of the weights, or the resume checks of the snapshot; raises what Caffe would stop on."""
    out = Path(opts.out)
    if net.snapshot:
        files = {layout.TRAIN_VAL: to_text(net.net), layout.SOLVER: to_text(solver.solver)}
        changed = changed_copies(out, files)
        if changed:
            raise RecipeError(f"--snapshot {net.snapshot}: resuming needs the same solver and net, but these "
                              f"copies would change: {', '.join(map(str, changed))}; run finetune with the same "
                              "options as before, or start anew from the snapshot's caffemodel with --weights")
        present = {k: str(out / n) for k, n in (("solver", layout.SOLVER), ("net", layout.TRAIN_VAL))
                   if (out / n).is_file()}
        learnable = start_mod.learnable_shapes(net.net, net.chw)
        return [Section("resume checks", start_mod.check_snapshot(net.snapshot, learnable, solver.solver, present))]
    if not net.weights:
        raise OptionsError("give --weights, --model or --snapshot: where training starts")
    report = start_mod.transfer_report(net.weights, net.net, net.chw)
    if report.mismatch:
        raise RecipeError("the weights do not fit the net: " + "; ".join(report.mismatch))
    return [Section("weights transfer (" + ", ".join(net.weights) + ")", report.lines())]


def plan_finetune(opts: FinetuneOptions) -> FinetunePlan:
    """Every stage; the plan holds the copies in memory (``tunewiz.recipe.run.write_plan`` writes them)."""
    _need(opts, "out")
    if not opts.start_kind:
        raise OptionsError("give --weights, --model or --snapshot: where training starts")
    net = plan_net(opts)
    solver = plan_solver(opts, net)
    start = plan_start(opts, net, solver)
    plan = FinetunePlan(Path(opts.out), options=opts, weights=net.weights, snapshot=net.snapshot)
    plan.sections = net.sections + solver.sections + start
    plan.warnings = net.warnings + solver.warnings
    plan.schedule = solver.schedule
    plan.files[layout.TRAIN_VAL] = to_text(net.net)
    plan.sources[layout.TRAIN_VAL] = net.net_path
    if net.deploy is not None:
        plan.files[layout.DEPLOY] = to_text(net.deploy)
        plan.sources[layout.DEPLOY] = net.deploy_path
    plan.files[layout.SOLVER] = to_text(solver.solver)
    if net.solver_path is not None:  # else written from Caffe's fine-tuning defaults
        plan.sources[layout.SOLVER] = net.solver_path
    return plan
