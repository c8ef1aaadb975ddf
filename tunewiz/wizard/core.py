"""The wizard's adapter to the recipe (steps 3-4): its choices as one ``FinetuneOptions``, the stages' previews.

The wizard has no edit of its own: :func:`options_for` turns ``WizardState`` into the recipe's
contract, and the Net and Solver screens show what ``tunewiz.recipe.finetune.plan_net`` and
``plan_solver`` make of it, the very stages Start runs (``plan_finetune``) before it writes.  What
is left here is presentation (the layer table, the advice text, the diff).

The screens call the headless core only through ``core_data`` (step 2), this module (steps 3-4)
and ``core_run`` (start, results), imported lazily: torch and the engine are loaded only when a
step needs them, so the first screen appears fast.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tunewiz.errors import TunewizError
from tunewiz.runs import layout

TRAIN_VAL, DEPLOY, SOLVER = layout.TRAIN_VAL, layout.DEPLOY, layout.SOLVER
# A deploy's pretrained preprocessing (WizardState.preprocessing) as the recipe's mean_value; 'mean_file'
# takes the model's own file instead (the common choices of recipe.from_deploy.PREPROCESSING).
MEAN_VALUES = {"imagenet": (104.0, 117.0, 123.0), "none": (0.0,)}
ASK_PREPROCESSING = ("the net is a deploy, which does not say how its weights' images were preprocessed: "
                     "choose it under 'Pretrained preprocessing' (Caffe ImageNet: mean 104/117/123; the model's "
                     "own mean file; or nothing subtracted).")  # 3 lines of the status at 80 columns


# ---------------------------------------------------------------- the contract
def options_for(st, kind: str | None = None, path: str | None = None):
    """The ``FinetuneOptions`` of the wizard's choices so far.

    ``kind``/``path`` name the start (Start's check); without them the start chosen earlier is used
    when its files exist (the sample names its weights at step 1, and the Net step's data-fit check
    needs them), else none: the Net and Solver stages do not need one.
    """
    from tunewiz.recipe.options import FinetuneOptions

    if kind is None:
        kind, path = st.start_kind, _existing(st.start_kind, st.start_path)
    if st.new_mean and not st.mean_file:
        raise TunewizError("the new data's mean was not computed: convert the images again (step 2), or keep "
                           "the pretrained net's mean.")
    return FinetuneOptions(
        net=st.net_src or None, deploy=st.deploy_src or None, solver=st.solver_src or None,
        weights=path if kind == "weights" else (), model=path if kind == "model" else None,
        snapshot=path if kind == "snapshot" else None,
        train_db=st.train_db, val_db=st.val_db, **_mean(st),
        rename=st.new_name or None, freeze_through=st.freeze_through or None, gpu_memory=st.gpu_memory or None,
        lr_divisor=st.lr_divisor, base_lr=st.base_lr, max_iter=st.max_iter or st.default_max_iter,
        stepsize=st.stepsize, snapshot_every=st.snapshot_every, test_iter=st.test_iter,
        test_interval=st.test_interval, out=str(st.run_dir), numerics=st.numerics, **device_options(st),
        # the recipe names a run after its folder by default: the flag only when the two differ
        run_name=st.run_name if st.run_name != st.run_dir.name else None)


def visible_gpus(st) -> list:
    """The GPUs the Net screen's device choice offers (``tunewiz.engine.devices.visible_gpus``, asked once)."""
    if st.gpus is None:
        from tunewiz.engine.devices import visible_gpus as listed

        st.gpus = listed()
    return st.gpus


def device_options(st) -> dict:
    """The device choice as options: the CPU is ``--mode cpu``, GPUs are ``--gpu`` (one rank each); the
    default (``''``) leaves both to the recipe (solver_mode GPU when CUDA is there)."""
    if st.device == "cpu":
        return {"mode": "cpu"}
    if st.device == "all":
        return {"gpu": "all"}
    if st.device not in ("one", "several"):
        return {}
    ids = [i.strip() for i in st.gpu_ids.split(",") if i.strip()]
    known = sorted(g.index for g in st.gpus or ())
    wrong = next((i for i in ids if not i.isdigit() or int(i) not in known), None)
    if wrong is not None or not ids:
        raise TunewizError(f"GPU ids '{st.gpu_ids}': give ids of the GPUs listed ({', '.join(map(str, known))}), "
                           "comma separated, e.g. 0,1.")
    if (len(ids) == 1) != (st.device == "one"):
        raise TunewizError("one GPU: give one id, e.g. 0." if st.device == "one" else
                           "several GPUs: give two ids or more, e.g. 0,1 (or choose 'one GPU').")
    return {"gpu": ",".join(ids)}


def _mean(st) -> dict:
    """mean_file / mean_value / scale: the new data's mean when chosen, else for a deploy the pretrained
    preprocessing the user named (a train_val states its own, which the recipe keeps)."""
    if st.net_kind != "deploy":
        return {"mean_file": st.mean_file} if st.new_mean else {}
    if st.new_mean:  # the deploy's scale still holds: the weights learned pixels of that range
        return {"mean_file": st.mean_file, "scale": st.scale}
    return pretrained_preprocessing(st)


def pretrained_preprocessing(st) -> dict:
    """A deploy's pretrained preprocessing as chosen on the Net screen (raises until it is chosen)."""
    if st.preprocessing == "mean_file":
        if not st.preprocessing_mean:
            raise TunewizError("type the model's own mean file (.binaryproto) under 'Pretrained preprocessing', "
                               "or choose another preprocessing.")
        return {"mean_file": st.preprocessing_mean, "scale": st.scale}
    if st.preprocessing not in MEAN_VALUES:
        raise TunewizError(ASK_PREPROCESSING)
    return {"mean_value": MEAN_VALUES[st.preprocessing], "scale": st.scale}


def _existing(kind: str, path: str) -> str | None:
    """``path`` when every file it names exists (a half-typed path must not stop the previews)."""
    paths = [Path(p.strip()).expanduser() for p in (path or "").split(",") if p.strip()]
    if not paths:
        return None
    ok = all(p.is_dir() for p in paths) if kind == "model" else all(p.is_file() for p in paths)
    return path if ok else None


# ---------------------------------------------------------------- step 3: net
def load_net(path):
    from tunewiz.caffe.prototxt import read_net_text
    from tunewiz.recipe.layers import check_editable

    net = read_net_text(Path(path).expanduser())
    check_editable(net, str(path))
    return net


def net_kind(net, path) -> str:
    """'deploy' (the recipe writes its train_val) or 'train_val'; a RecipeError for anything else."""
    from tunewiz.recipe.from_deploy import kind_of

    return kind_of(net, str(path))


def find_output_layer(net):
    """The recipe's output layer (name, type, num_output, reason) plus a one-line description."""
    from tunewiz.recipe.output_layer import find_output_layer as find

    out = find(net)
    out.description = f"{out.type}, num_output {out.num_output}"
    return out


def source_mean(net, st=None) -> str:
    """How the source net's data layers preprocess (what 'keep the pretrained net's mean' keeps); for a
    deploy, which records none, the preprocessing chosen in ``st``."""
    from tunewiz.recipe.data_edits import data_layers

    if st is not None and st.net_kind == "deploy":
        try:
            given = pretrained_preprocessing(st)
        except TunewizError:
            return "a deploy records none: choose it under 'Pretrained preprocessing'"
        scale = f", scale {st.scale:g}" if st.scale else ""
        if given.get("mean_file"):
            return f"it subtracts the mean file {given['mean_file']}{scale}"
        return "it subtracts the mean values " + ",".join(f"{v:g}" for v in given["mean_value"]) + scale
    for ref in data_layers(net):
        tp = ref.msg.transform_param
        if tp.mean_file:
            return f"it subtracts the mean file {tp.mean_file}"
        if len(tp.mean_value):
            return "it subtracts the mean values " + ",".join(f"{v:g}" for v in tp.mean_value)
    return "it subtracts no mean"


@dataclass
class NetView:
    """What the Net screen shows of the recipe's ``NetPlan``."""

    plan: object
    notes: list[str]
    rows: list[tuple] = field(default_factory=list)
    advice: str = ""
    diff: str = ""


def net_options(st):
    """The options the Net stage is planned on (made in the UI thread: a worker then reads no state)."""
    if not st.train_db:
        raise TunewizError("no data yet: go back to Data (Esc) and convert your images; the copy reads them.")
    return options_for(st)


def net_view(opts) -> NetView:
    """The Net stage and its presentation: notes, layer rows, the batch advice, the diff of the copy."""
    from tunewiz.recipe.diff import unified_diff
    from tunewiz.recipe.finetune import plan_net
    from tunewiz.recipe.sizing import train_batch

    plan = plan_net(opts)
    notes = [line for sec in plan.sections if sec.title != "batch size" for line in sec.lines]
    notes += [f"! {w}" for w in plan.warnings]
    said = next((sec.lines for sec in plan.sections if sec.title == "batch size"), [])
    if plan.batch is not None:  # the section: the advice's lines, its summary, then what several GPUs make of it
        advice = "\n".join(plan.batch.lines + [f"=> {plan.batch.summary}"] + said[len(plan.batch.lines) + 1:])
    else:
        advice = "\n".join([f"TRAIN batch_size {train_batch(plan.net)}. Type one GPU's free memory (e.g. 4G, or "
                            "auto) and press Enter for the largest batch that fits.", *said])
    diff = unified_diff(plan.source, plan.net, plan.net_path.name, f"{TRAIN_VAL} (copy)")
    return NetView(plan, notes, layer_rows(plan.net, plan.chw), advice, diff)


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def layer_rows(net, chw=None) -> list[tuple]:
    """(name, type, top shape, parameters, lr_mult, state) per TRAIN layer (shapes: the engine on 'meta')."""
    from tunewiz.caffe import caffe_pb2
    from tunewiz.recipe.layers import layers_of

    tops, params = {}, {}
    if chw:
        from tunewiz.recipe.shape_net import build_meta

        built = build_meta(net, chw)
        tops = {w.name: [built.blob_shapes[t] for t in w.tops] for w in built.wirings}
        params = {layer.name: [tuple(b.shape) for b in layer.blobs] for layer in built.layers if len(layer.blobs)}
    rows = []
    for ref in layers_of(net, caffe_pb2.TRAIN):
        mults = ref.multipliers()
        top = " ".join("x".join(map(str, s)) or "scalar" for s in tops.get(ref.name, [])) or "?"
        count = sum(_prod(s) for s in params[ref.name]) if ref.name in params else ("?" if mults else 0)
        lr = "/".join(f"{m[0]:g}" for m in mults) or "-"
        state = "-" if not mults else ("FROZEN" if all(m[0] == 0 for m in mults) else "learns")
        rows.append((ref.name, ref.type, top, count, lr, state))
    return rows


# ---------------------------------------------------------------- step 4: solver
def load_solver(path):
    from tunewiz.caffe.prototxt import read_solver_text

    return read_solver_text(Path(path).expanduser())


# The Solver screen's fields: the solver's names, each with the FinetuneOptions field that sets it.
SOLVER_FIELDS = {"base_lr": "base_lr", "max_iter": "max_iter", "snapshot": "snapshot_every",
                 "stepsize": "stepsize", "test_iter": "test_iter", "test_interval": "test_interval"}
# Set outright; the rest shape the proposal (test_interval too: the recipe's max_iter and snapshot fit it).
OUTRIGHT = ("base_lr", "stepsize", "test_iter")


def default_solver():
    """The solver the recipe writes for a deploy given without one (Caffe's fine-tuning defaults)."""
    from tunewiz.recipe.from_deploy import default_solver as defaults

    return defaults()


def net_plan_for_solver(st):
    """The Net stage the solver is planned on: the Net screen's, unless the source solver changed since
    (the net stage reads the source solver's iter_size and type for the batch)."""
    from tunewiz.recipe.finetune import plan_net

    opts = net_options(st)
    plan = st.net_plan
    if plan is None or str(plan.solver_path or "") != str(opts.solver or ""):
        plan = st.net_plan = plan_net(opts)
    return plan


def solver_stages(st, net_plan):
    """(the recipe's proposal: the user's max_iter/snapshot only, the stage with every edit)."""
    from tunewiz.recipe.solver_stage import plan_solver

    opts = options_for(st)
    proposal = plan_solver(opts.replace(**{name: None for name in OUTRIGHT}), net_plan)
    return proposal, plan_solver(opts, net_plan)


def lr_points(solver, points: int = 41) -> list[tuple[int, float]]:
    """(iter, lr) points of the schedule, computed by the engine's lr policies (via the recipe)."""
    from tunewiz.recipe.solver_edits import schedule_preview

    return schedule_preview(solver, points)
