"""The wizard's adapter to the recipe (steps 3-4): the net copy and its edits, the solver copy.

The screens call the headless core only through ``core_data`` (step 2), this module
(steps 3-4) and ``core_run`` (start, results), imported lazily: torch and the engine are
loaded only when a step needs them, so the first screen appears fast.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tunewiz.errors import TunewizError

# ---------------------------------------------------------------- step 3: net
def load_net(path):
    from tunewiz.caffe.prototxt import read_net_text
    from tunewiz.recipe.layers import check_editable

    net = read_net_text(Path(path).expanduser())
    check_editable(net, str(path))
    return net


def find_output_layer(net):
    """The recipe's output layer (name, type, num_output, reason) plus a one-line description."""
    from tunewiz.recipe.output_layer import find_output_layer as find

    out = find(net)
    out.description = f"{out.type}, num_output {out.num_output}"
    return out


@dataclass
class NetEdit:
    net: object
    deploy: object
    notes: list[str]
    rows: list[tuple] = field(default_factory=list)
    advice: "Advice | None" = None
    diff: str = ""


@dataclass
class Advice:
    batch_size: int
    iter_size: int
    changed: bool
    text: str


def edit_net(source, deploy_source, st, memory: str = "") -> NetEdit:
    """The recipe's edits, in ``build_plan``'s order, on copies: classes, data layers, batch, freeze."""
    from tunewiz.recipe.classes import change_classes
    from tunewiz.recipe.data_edits import DataPlan, check_data, point_data_layers, summarize_db
    from tunewiz.recipe.diff import unified_diff
    from tunewiz.recipe.finetune import check_fit
    from tunewiz.recipe.layers import clone

    tv, dep = clone(source), clone(deploy_source) if deploy_source is not None else None
    cp = change_classes(tv, st.num_classes, run=st.run_name, deploy=dep, new_name=st.new_name or None)
    notes = [cp.output.reason, cp.consequence] + cp.changes + cp.rewired + cp.warnings
    chw = None
    if st.train_db:
        dp, summary = DataPlan(), summarize_db(st.train_db)
        point_data_layers(tv, st.train_db, st.val_db, dp, mean_for(source, st))
        check_fit(tv, _start_weights(st))  # data the net cannot take: finetune's fix-it message, before any shape
        check_data(tv, summary, dp, dep)
        notes += dp.changes + dp.warnings
        chw = (summary.channels, summary.height, summary.width)
    edit = NetEdit(tv, dep, notes)
    edit.advice = advise_batch(tv, chw, memory)
    if edit.advice.changed:
        set_batch(tv, edit.advice.batch_size)
    if st.freeze_through:
        from tunewiz.recipe.freeze import freeze_through

        counts = {k: [_prod(s) for s in v] for k, v in _param_shapes(tv, chw).items()} if chw else None
        fp = freeze_through(tv, st.freeze_through, reference=clone(tv), param_counts=counts)
        notes += fp.changes + [fp.summary()]
    edit.rows = layer_rows(tv, chw)
    edit.diff = unified_diff(source, tv, Path(st.net_src).name, "train_val.prototxt (copy)")
    return edit


def _start_weights(st) -> list[str]:
    """The pretrained weights chosen so far (the sample names them before step 5), for the data-fit check."""
    if st.start_kind != "weights" or not st.start_path:
        return []
    paths = [Path(p.strip()).expanduser() for p in st.start_path.split(",") if p.strip()]
    return [str(p) for p in paths if p.is_file()]


def mean_for(source, st) -> str | None:
    """The new mean file, only where the source net subtracted a mean (keep the pretrained preprocessing)."""
    from tunewiz.recipe.data_edits import data_layers

    for ref in data_layers(source):
        tp = ref.msg.transform_param
        if tp.mean_file or len(tp.mean_value):
            return st.mean_file or None
    return None


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _param_shapes(net, chw):
    from tunewiz.recipe.start import param_shapes

    return param_shapes(net, chw)


def layer_rows(net, chw=None) -> list[tuple]:
    """(name, type, top shape, parameters, lr_mult, state) per TRAIN layer (shapes: the engine on 'meta')."""
    from tunewiz.recipe.layers import layers_of

    tops, params = {}, {}
    if chw:
        from tunewiz.recipe.shape_net import build_meta

        built = build_meta(net, chw)
        tops = {w.name: [built.blob_shapes[t] for t in w.tops] for w in built.wirings}
        params = {layer.name: [tuple(b.shape) for b in layer.blobs] for layer in built.layers if len(layer.blobs)}
    rows = []
    for ref in layers_of(net, _train()):
        mults = ref.multipliers()
        top = " ".join("x".join(map(str, s)) or "scalar" for s in tops.get(ref.name, [])) or "?"
        count = sum(_prod(s) for s in params[ref.name]) if ref.name in params else ("?" if mults else 0)
        lr = "/".join(f"{m[0]:g}" for m in mults) or "-"
        state = "-" if not mults else ("FROZEN" if all(m[0] == 0 for m in mults) else "learns")
        rows.append((ref.name, ref.type, top, count, lr, state))
    return rows


def _train():
    from tunewiz.caffe import caffe_pb2

    return caffe_pb2.TRAIN


def _train_data_params(net) -> list:
    from tunewiz.recipe.data_edits import data_layers

    return [ref.msg.image_data_param if ref.type == "ImageData" else ref.msg.data_param
            for ref in data_layers(net) if ref.in_phase(_train())]


def train_batch(net) -> int:
    params = _train_data_params(net)
    return int(params[0].batch_size) if params else 0


def set_batch(net, batch_size: int):
    for p in _train_data_params(net):
        p.batch_size = batch_size
    return net


def advise_batch(net, chw, memory: str) -> Advice:
    """The recipe's batch advisor for a memory size like '8G' (empty: keep the batch)."""
    batch = train_batch(net)
    if not memory:
        return Advice(batch, 1, False, f"TRAIN batch_size {batch}. Type the GPU's free memory (e.g. 4G) and "
                                       "press Enter for the largest batch that fits.")
    if not chw:
        raise TunewizError("the batch advisor needs the image size: convert the data first (step 2).")
    from tunewiz.recipe import batch as advisor

    model = advisor.memory_model(net, chw)
    advice = advisor.advise(model, advisor.parse_memory(memory), batch, 1)
    return Advice(advice.batch_size, advice.iter_size, advice.changed,
                  "\n".join(advice.lines + [f"=> {advice.summary}"]))


# ---------------------------------------------------------------- step 4: solver
TRAIN_VAL, DEPLOY, SOLVER = "train_val.prototxt", "deploy.prototxt", "solver.prototxt"


def load_solver(path):
    from tunewiz.caffe.prototxt import read_solver_text

    return read_solver_text(Path(path).expanduser())


def _test_batch(net) -> int:
    from tunewiz.caffe import caffe_pb2
    from tunewiz.recipe.data_edits import data_layers

    for ref in data_layers(net):
        if ref.in_phase(caffe_pb2.TEST) and not ref.in_phase(caffe_pb2.TRAIN):
            p = ref.msg.data_param if ref.type == "Data" else ref.msg.image_data_param
            return int(p.batch_size)
    return 0


def edit_solver(source, st, overrides: dict):
    """The recipe's solver copy (paths absolute, into the run folder), then the user's edits."""
    from tunewiz.recipe.solver_edits import edit_solver as recipe_edit

    run = st.run_dir.resolve()
    val_batch = _test_batch(st.net) if st.net is not None else 0
    solver, _plan = recipe_edit(
        source, net_path=str(run / TRAIN_VAL), snapshot_prefix=str(run / st.run_name),
        lr_divisor=st.lr_divisor, max_iter=overrides.get("max_iter", st.default_max_iter),
        snapshot=overrides.get("snapshot"),
        val_records=st.val_count or None, val_batch=val_batch or None)
    if "base_lr" in overrides:
        solver.base_lr = overrides["base_lr"]
    if "stepsize" in overrides and solver.lr_policy in ("step", "sigmoid"):
        solver.stepsize = overrides["stepsize"]
    if "test_iter" in overrides and len(solver.test_iter):
        solver.test_iter[0] = overrides["test_iter"]
    if "test_interval" in overrides:
        solver.test_interval = overrides["test_interval"]
    if st.iter_size > 1:
        solver.iter_size = st.iter_size
    if solver.max_iter <= 0:
        raise TunewizError("max_iter must be at least 1.")
    if solver.snapshot > solver.max_iter:
        solver.snapshot = solver.max_iter
    return solver


def lr_points(solver, points: int = 41) -> list[tuple[int, float]]:
    """(iter, lr) points of the schedule, computed by the engine's lr policies (via the recipe)."""
    from tunewiz.recipe.solver_edits import schedule_preview

    return schedule_preview(solver, points)
