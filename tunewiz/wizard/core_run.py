"""The wizard's adapter for the last steps: start checks, writing, launching, results.

Start uses the recipe's own ``build_plan`` (what ``tunewiz finetune`` runs) with options
made from the wizard's choices, so the wizard and the command write the same files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from tunewiz.errors import TunewizError
from tunewiz.wizard.core import SOLVER, TRAIN_VAL, find_output_layer, load_net, mean_for

EXTRA_FIELDS = ("base_lr", "stepsize", "test_iter", "test_interval")


@dataclass
class StartCheck:
    ok: bool
    lines: list[str] = field(default_factory=list)
    problem: str = ""
    plan: object = None


def finetune_options(st, kind: str, path: str) -> SimpleNamespace:
    """The ``tunewiz finetune`` arguments that match the wizard's choices."""
    ov = st.solver_overrides
    return SimpleNamespace(
        net=st.net_src, deploy=st.deploy_src or None, solver=st.solver_src,
        weights=path if kind == "weights" else None, model=path if kind == "model" else None,
        snapshot=path if kind == "snapshot" else None, train_db=st.train_db, val_db=st.val_db, classes=None,
        output_layer=None, rename=st.new_name or None, keep_lr_mult=False,
        freeze_through=st.freeze_through or None, batch_size=None, gpu_memory=st.gpu_memory or None,
        lr_divisor=st.lr_divisor, max_iter=ov.get("max_iter", st.default_max_iter), snapshot_every=ov.get("snapshot"),
        mean_file=mean_for(load_net(st.net_src), st), mean_value=None, mode=None, run_name=st.run_name,
        out=str(st.run_dir.resolve()), overwrite=False, diff=False, dry_run=False, train=False)


def check_start(kind: str, path: str, st) -> StartCheck:
    """Build the whole plan (edits + the transfer report or the snapshot checks); nothing is written."""
    from tunewiz.engine.datafit import DataFitError
    from tunewiz.recipe.finetune import build_plan

    try:
        if kind == "weights":
            for w in (p.strip() for p in path.split(",")):
                if w and not Path(w).expanduser().is_file():
                    return StartCheck(False, [], f"{w} does not exist; give the pretrained .caffemodel.")
        plan = build_plan(finetune_options(st, kind, path), st.run_name)
        lines = _apply_extra_edits(plan, st.solver_overrides)
        first = ("weights transfer", "resume checks", "model folder")  # what this step checks, on top
        plan.sections.sort(key=lambda sec: not sec.title.startswith(first))
    except DataFitError as exc:  # long: the report shows it whole, the status line its start
        return StartCheck(False, fit_lines(str(exc), exc.records), str(exc))
    except TunewizError as exc:
        return StartCheck(False, [], str(exc))
    return StartCheck(True, plan.render().splitlines() + lines, plan=plan)


def fit_lines(message: str, records=None) -> list[str]:
    """The data-fit message as report lines: where the wizard makes the fix (step 2 converts), what is
    wrong, and the fix as a command line."""
    what, _, fix = message.removeprefix("the data does not fit the net: ").partition(" Fix: ")
    lines = ["== the data does not fit the net"]
    if records:
        c, h, w = records
        lines.append(f"  In the wizard: Esc back to Data (step 2), convert with resize {w}x{h} and gray "
                     f"{'on' if c == 1 else 'off'}, then come back through Net and Solver.")
    lines.append(f"  {what[:1].upper()}{what[1:]}")
    if fix:
        lines.append(f"  Fix: {fix}")
    return lines


def _apply_extra_edits(plan, overrides: dict) -> list[str]:
    """The solver fields the user edited beyond finetune's options (base_lr, stepsize, test_*)."""
    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.prototxt import parse_text, to_text

    solver = parse_text(plan.files[SOLVER], caffe_pb2.SolverParameter())
    lines = []
    for name in EXTRA_FIELDS:
        if name not in overrides:
            continue
        value = overrides[name]
        if name == "test_iter":
            if len(solver.test_iter) and solver.test_iter[0] != value:
                lines.append(f"test_iter: {solver.test_iter[0]} -> {value} (edited in the wizard)")
                solver.test_iter[0] = value
        elif f"{getattr(solver, name):g}" != f"{value:g}" and not (name == "stepsize" and not solver.stepsize):
            lines.append(f"{name}: {getattr(solver, name):g} -> {value:g} (edited in the wizard)")
            setattr(solver, name, value)
    plan.files[SOLVER] = to_text(solver)
    return ["== solver fields edited in the wizard"] + [f"  {line}" for line in lines] if lines else []


def start_run(st, check: StartCheck) -> int:
    """Write the plan's copies (the recipe's one writing step) and start ``tunewiz train`` detached."""
    from tunewiz.recipe.run import write_plan
    from tunewiz.wizard import launch

    plan = check.plan
    if (st.run_dir / "events.jsonl").exists() and not plan.snapshot:
        raise TunewizError(f"{st.run_dir} has trained already: start a new run (Welcome, another run name), "
                           "or resume this one from its panel (R) or with a snapshot.")
    write_plan(plan, overwrite=False)
    st.written = {name: str(plan.path(name)) for name in plan.files}
    return launch.start_training(st.run_dir, plan.path(SOLVER), weights=plan.weights or None,
                                 snapshot=plan.snapshot or None)


# ---------------------------------------------------------------- step 7: done
def short_path(path) -> str:
    """``path`` relative to the current folder when it lies under it (shorter lines to copy), else as given."""
    if not path:
        return ""
    try:
        rel = Path(path).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return str(path)
    return str(rel) if str(rel) != "." else "."


def command_lines(st, run_dir) -> str:
    """The equivalent ``tunewiz finetune …`` and ``caffe train …`` command lines.

    One flag per line (``\\`` continuations) and paths relative to the current folder, so that at
    80 columns no line wraps inside a flag and a copied command still runs.
    """
    import shlex

    from tunewiz.wizard.launch import read_launch

    def q(path) -> str:
        return shlex.quote(short_path(path))

    run_dir = Path(run_dir).resolve()
    launched = read_launch(run_dir)
    weights = ",".join(short_path(w) for w in launched.get("weights") or []) or (
        short_path(st.start_path) if st.start_kind == "weights" else "")
    snapshot = launched.get("snapshot") or ""
    start = f"--snapshot {q(snapshot)}" if snapshot else f"--weights {shlex.quote(weights or 'W.caffemodel')}"
    lines = []
    extra = ", ".join(f"{k} {v:g}" for k, v in st.solver_overrides.items() if k in EXTRA_FIELDS)
    if st.net_src and st.solver_src:
        parts = ["tunewiz finetune", f"--net {q(st.net_src)}"]
        if st.deploy_src:
            parts.append(f"--deploy {q(st.deploy_src)}")
        parts += [f"--solver {q(st.solver_src)}", start]
        if st.train_db:
            parts += [f"--train-db {q(st.train_db)}", f"--val-db {q(st.val_db)}"]
        if st.new_name:
            parts.append(f"--rename {st.new_name}")
        if st.freeze_through:
            parts.append(f"--freeze-through {st.freeze_through}")
        if st.gpu_memory:
            parts.append(f"--gpu-memory {st.gpu_memory}")
        parts += [f"--lr-divisor {st.lr_divisor:g}"]
        max_iter = st.solver_overrides.get("max_iter", st.default_max_iter)
        if max_iter:
            parts.append(f"--max-iter {max_iter}")
        if "snapshot" in st.solver_overrides:
            parts.append(f"--snapshot-every {st.solver_overrides['snapshot']}")
        parts += [f"--out {q(run_dir)}", "--train"]
        lines.append(" \\\n    ".join(parts))
        if extra:
            lines.append(f"# then in {SOLVER}: {extra} (edited in the wizard)")
    solver = q(launched.get("solver") or run_dir / SOLVER)
    for tool in ("caffe train", "tunewiz train"):
        lines.append(f"{tool} \\\n    --solver {solver} \\\n    {start}")
    return "\n".join(lines)


def quick_try(st, run_dir, count: int = 8) -> list[str]:
    """Classify a few validation records with the newest snapshot (the TEST net of the copy)."""
    import torch

    from tunewiz.caffe import caffe_pb2
    from tunewiz.engine.net import Net
    from tunewiz.engine.weights import copy_trained_layers
    from tunewiz.wizard.follow import load_history

    run_dir = Path(run_dir)
    models = [p for p in load_history(run_dir).snapshots if str(p).endswith(".caffemodel")]
    if not models:
        raise TunewizError(f"no snapshot in {run_dir} yet: the quick try needs a trained .caffemodel.")
    net_param = load_net(run_dir / TRAIN_VAL)
    out = find_output_layer(net_param)
    net = Net(net_param, caffe_pb2.TEST, device="cpu")
    copy_trained_layers(net, [models[-1]])
    label_top = _label_top(net_param)
    with torch.no_grad():
        blobs = net.forward()
    net.close()
    scores = torch.softmax(blobs[_top_of(net_param, out.name)].reshape(blobs[label_top].shape[0], -1), dim=1)
    names = _class_names(run_dir)
    lines = []
    for i in range(min(count, scores.shape[0])):
        p, k = scores[i].max(dim=0)
        truth = int(blobs[label_top][i])
        verdict = "right" if int(k) == truth else "WRONG"
        lines.append(f"record {i}: true {names.get(truth, truth)}, predicted {names.get(int(k), int(k))} "
                     f"(p={float(p):.2f}) {verdict}")
    return [f"with {Path(models[-1]).name}:"] + lines


def _label_top(net_param) -> str:
    from tunewiz.recipe.data_edits import data_layers

    for ref in data_layers(net_param):
        if len(ref.tops) > 1:
            return ref.tops[1]
    return "label"


def _top_of(net_param, layer: str) -> str:
    from tunewiz.recipe.layers import iter_named

    for ref in iter_named(net_param, layer):
        return ref.tops[0]
    return layer


def _class_names(run_dir: Path) -> dict[int, str]:
    for p in (run_dir / "data" / "labels.txt", run_dir / "labels.txt"):
        if p.is_file():
            return dict(enumerate(p.read_text().split()))
    return {}


# ---------------------------------------------------------------- a Model Zoo folder as the start
def use_model_folder(st, folder: str) -> list[str]:
    """The recipe's model-folder check (sha1); its prototxts become the sources, its caffemodel the start."""
    from tunewiz.recipe.start import read_model_folder

    model = read_model_folder(Path(folder).expanduser())
    if model.train_val is None:
        raise TunewizError(f"{folder}: no train_val prototxt in the folder; start a new fine-tune and pick one.")
    st.net_src = str(model.train_val)
    st.deploy_src = str(model.deploy or "")
    st.solver_src = str(model.solver or "")
    st.start_kind, st.start_path = "model", str(model.folder)
    return list(model.lines)
