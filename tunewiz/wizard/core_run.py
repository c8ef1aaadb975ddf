"""The wizard's adapter for the last steps: start checks, writing, launching, results.

Start runs the recipe's ``plan_finetune`` (what ``tunewiz finetune`` runs) on ``core.options_for``
of the wizard's choices and writes with ``write_plan``, so the wizard and the command write the same
files; the Done screen's command is those options' own command line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tunewiz.errors import TunewizError
from tunewiz.runs import layout
from tunewiz.wizard.core import SOLVER, TRAIN_VAL, find_output_layer, load_net, options_for


@dataclass
class StartCheck:
    ok: bool
    lines: list[str] = field(default_factory=list)
    problem: str = ""
    plan: object = None


def start_options(st, kind: str, path: str):
    """The options Start checks and writes (made in the UI thread; the check then reads no state)."""
    return options_for(st, kind, path)


def check_start(opts) -> StartCheck:
    """Every stage of the recipe (edits + the transfer report or the snapshot checks); nothing is written."""
    from tunewiz.engine.checks.datafit import DataFitError
    from tunewiz.recipe.finetune import plan_finetune

    try:
        for w in opts.weights:
            if not Path(w).is_file():
                return StartCheck(False, [], f"{w} does not exist; give the pretrained .caffemodel.")
        plan = plan_finetune(opts)
        check_folder(plan.out_dir, plan)
        first = ("weights transfer", "resume checks", "model folder")  # what this step checks, on top
        plan.sections.sort(key=lambda sec: not sec.title.startswith(first))
    except DataFitError as exc:  # long: the report shows it whole, the status line its start
        return StartCheck(False, fit_lines(str(exc), exc.records), str(exc))
    except TunewizError as exc:  # a refused folder (runcheck.RunRefused) says who holds it in the report
        return StartCheck(False, list(getattr(exc, "details", [])), str(exc))
    return StartCheck(True, plan.render().splitlines(), plan=plan)


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


def check_folder(run_dir, plan) -> None:
    """The run folder is free and holds no snapshots the plan's run would replace (RunRefused if not)."""
    from tunewiz.wizard.runcheck import check_free, solver_prefix

    check_free(run_dir, solver_prefix(text=plan.files.get(SOLVER)) if SOLVER in plan.files else None,
               plan.snapshot or None)


def run_numerics(run_dir) -> str:
    """The numerics a run folder was made with (its finetune.json's options), for a resume; Caffe's order
    for a folder that holds none."""
    return _made_with(run_dir, "numerics", "caffe")


def run_gpu(run_dir) -> str | None:
    """The GPUs a run folder was made to train on (its options' ``gpu``: ``0,1``, ``all``), for a resume on
    as many ranks (Caffe resumes a multi-GPU run with the same -gpu); None: solver_mode's device."""
    return _made_with(run_dir, "gpu", None)


def _made_with(run_dir, name: str, default):
    from tunewiz.recipe.run import read_options

    try:
        return getattr(read_options(run_dir), name)
    except TunewizError:  # no finetune.json, or one from before it held the options
        return default


def start_run(st, check: StartCheck) -> int:
    """Write the plan's copies (the recipe's one writing step) and start ``tunewiz train`` detached."""
    from tunewiz.recipe.run import write_plan
    from tunewiz.runs import launch

    plan = check.plan
    check_folder(st.run_dir, plan)  # before anything is written: a refused start leaves the folder as it was
    if (st.run_dir / layout.EVENTS).exists() and not plan.snapshot:
        raise TunewizError(f"{st.run_dir} has trained already: start a new run (Welcome, another run name), "
                           "or resume this one from its panel (R) or with a snapshot.")
    write_plan(plan, overwrite=False)
    st.options = plan.options
    st.written = {name: str(plan.path(name)) for name in plan.files}
    return launch.start_training(st.run_dir, plan.path(SOLVER), weights=plan.weights or None,
                                 snapshot=plan.snapshot or None, numerics=plan.options.numerics,
                                 gpu=plan.options.gpu)


def resume_run(run_dir, state: str | None) -> int:
    """Resume a stopped run from its ``state`` snapshot with the unchanged solver (Caffe's --snapshot),
    once the folder is free and no later snapshots are in the way."""
    from tunewiz.runs import launch
    from tunewiz.wizard.runcheck import check_free, solver_prefix

    solver = Path(run_dir) / layout.SOLVER
    if not state or not solver.is_file():
        raise TunewizError("nothing to resume: this run folder has no .solverstate snapshot and solver.prototxt.")
    check_free(run_dir, solver_prefix(solver), state)
    return launch.start_training(run_dir, solver, snapshot=state, numerics=run_numerics(run_dir),
                                 gpu=run_gpu(run_dir))


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


def run_options(st, run_dir):
    """The FinetuneOptions a run folder was made with: its finetune.json, else the ones the wizard started
    it with; None for a folder made otherwise (an older tunewiz, or by hand)."""
    from tunewiz.recipe.run import read_options
    from tunewiz.recipe.start import FINGERPRINT

    run_dir = Path(run_dir).resolve()
    if (run_dir / FINGERPRINT).is_file():
        try:
            return read_options(run_dir)
        except TunewizError:  # written before finetune.json held the options: the wizard's, if they are this run's
            pass
    opts = st.options
    return opts if opts is not None and Path(opts.out) == run_dir else None


def finetune_lines(opts) -> str:
    """``opts.command_line(train=True)`` with paths relative to the current folder, one flag per line."""
    import shlex

    words = shlex.split(opts.command_line(train=True, path_text=short_path))
    return " \\\n    ".join([" ".join(words[:2])] + [shlex.quote(w) for w in words[2:]])


def command_lines(st, run_dir) -> str:
    """The equivalent ``tunewiz finetune …`` and ``caffe train …`` command lines.

    One flag per line (``\\`` continuations) and paths relative to the current folder, so that at
    80 columns no line wraps inside a flag and a copied command still runs.  The finetune line is the
    run's own options (every choice made in the wizard is a flag), so it makes the same run folder.
    """
    import shlex

    from tunewiz.runs.launch import read_launch

    run_dir = Path(run_dir).resolve()
    opts = run_options(st, run_dir)
    launched = read_launch(run_dir)
    weights = ",".join(short_path(w) for w in launched.get("weights") or (opts.weights if opts else ()))
    snapshot = launched.get("snapshot") or (opts.snapshot if opts else "")
    start = (f"--snapshot {shlex.quote(short_path(snapshot))}" if snapshot else
             f"--weights {shlex.quote(weights or 'W.caffemodel')}")
    lines = [finetune_lines(opts)] if opts is not None else []
    solver = shlex.quote(short_path(launched.get("solver") or run_dir / SOLVER))
    gpu = f" \\\n    --gpu {opts.gpu}" if opts is not None and opts.gpu else ""  # Caffe's -gpu 0,1 too
    for tool in ("caffe train", "tunewiz train"):
        lines.append(f"{tool} \\\n    --solver {solver} \\\n    {start}{gpu}")
    return "\n".join(lines)


def quick_try(st, run_dir, count: int = 8) -> list[str]:
    """Classify a few validation records with the best snapshot (the TEST net of the copy)."""
    import torch

    from tunewiz.caffe import caffe_pb2
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import copy_trained_layers
    from tunewiz.wizard.core_score import best_model, label_names

    run_dir = Path(run_dir)
    model = best_model(run_dir)
    net_param = load_net(run_dir / TRAIN_VAL)
    out = find_output_layer(net_param)
    net = Net(net_param, caffe_pb2.TEST, device="cpu")
    copy_trained_layers(net, [model])
    label_top = _label_top(net_param)
    with torch.no_grad():
        blobs = net.forward()
    net.close()
    scores = torch.softmax(blobs[_top_of(net_param, out.name)].reshape(blobs[label_top].shape[0], -1), dim=1)
    names = dict(enumerate(label_names(run_dir) or []))
    lines = []
    for i in range(min(count, scores.shape[0])):
        p, k = scores[i].max(dim=0)
        truth = int(blobs[label_top][i])
        verdict = "right" if int(k) == truth else "WRONG"
        lines.append(f"record {i}: true {names.get(truth, truth)}, predicted {names.get(int(k), int(k))} "
                     f"(p={float(p):.2f}) {verdict}")
    return [f"with {Path(model).name}:"] + lines


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


# ---------------------------------------------------------------- a Model Zoo folder as the start
def use_model_folder(st, folder: str) -> list[str]:
    """The recipe's model-folder check (sha1); its prototxts become the sources, its caffemodel the start."""
    from tunewiz.recipe.start import read_model_folder

    model = read_model_folder(Path(folder).expanduser())
    if model.train_val is None and model.deploy is None:
        raise TunewizError(f"{folder}: no train_val or deploy prototxt in the folder; start a new fine-tune and "
                           "pick the net.")
    # a deploy alone is the net source: the recipe writes its train_val (and the deploy copy) from it
    st.net_src = str(model.train_val or model.deploy)
    st.deploy_src = str(model.deploy or "") if model.train_val else ""
    st.solver_src = str(model.solver or "")
    st.start_kind, st.start_path = "model", str(model.folder)
    made = [] if model.train_val else [f"no train_val: it is written from {model.deploy.name} (the Net step asks "
                                       "the preprocessing its weights learned)"]
    return list(model.lines) + made
