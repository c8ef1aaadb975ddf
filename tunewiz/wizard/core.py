"""The one adapter between the wizard and the headless core (data, recipe, engine).

Every call the screens make into ``tunewiz.data``, ``tunewiz.recipe`` and
``tunewiz.engine`` goes through here, imported lazily (torch and the engine are only
loaded when a step needs them, so the first screen appears fast).  When a core piece is
missing in this build, :class:`CoreMissing` says which, and the screen shows it.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from tunewiz.errors import TunewizError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp"}


class CoreMissing(TunewizError):
    """A core function the wizard needs is not in this build."""


def _get(module: str, name: str):
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("tunewiz"):
            raise CoreMissing(f"{module}.{name} is not available in this build yet.") from None
        raise
    try:
        return getattr(mod, name)
    except AttributeError:
        raise CoreMissing(f"{module}.{name} is not available in this build yet.") from None


def available(module: str, name: str) -> bool:
    try:
        _get(module, name)
        return True
    except CoreMissing:
        return False


# ---------------------------------------------------------------- step 2: data
@dataclass
class FolderScan:
    root: Path
    classes: list[tuple[str, int]] = field(default_factory=list)
    sizes: dict[tuple[int, int], int] = field(default_factory=dict)
    sampled: int = 0

    @property
    def total(self) -> int:
        return sum(n for _, n in self.classes)

    def size_summary(self) -> str:
        if not self.sizes:
            return "no readable image found"
        common = sorted(self.sizes.items(), key=lambda kv: -kv[1])[:3]
        text = ", ".join(f"{w}x{h} ({n})" for (w, h), n in common)
        more = "" if len(self.sizes) <= 3 else f", {len(self.sizes) - 3} other sizes"
        return f"{len(self.sizes)} size(s) in {self.sampled} sampled: {text}{more}"


def scan_folder(root, sample: int = 60) -> FolderScan:
    """Class folders under ``root`` with image counts (the data core's rules), and sampled sizes."""
    class_folders = _get("tunewiz.data.listfile", "class_folders")
    root = Path(root).expanduser()
    classes, files = class_folders(str(root))  # raises for no folder, one class, an empty class
    scan = FolderScan(root.resolve(), [(name, len(files[name])) for name in classes])
    per_class = max(1, sample // max(len(classes), 1))
    _sample_sizes(scan, [root / p for name in classes for p in files[name][:per_class]])
    return scan


def _sample_sizes(scan: FolderScan, paths) -> None:
    import cv2  # lazy: only when a folder is scanned

    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if img is None:
            continue
        key = (int(img.shape[1]), int(img.shape[0]))
        scan.sizes[key] = scan.sizes.get(key, 0) + 1
        scan.sampled += 1


@dataclass
class Progress:
    done: int
    total: int
    skipped: int = 0
    rate: float = 0.0
    message: str = ""


@dataclass
class ConvertOptions:
    resize_width: int = 0
    resize_height: int = 0
    gray: bool = False
    encoded: bool = False
    backend: str = "lmdb"
    val_fraction: float = 0.2
    shuffle: bool = True


@dataclass
class ConvertResult:
    train_db: Path
    val_db: Path
    records: int = 0
    val_count: int = 0
    skipped: int = 0
    skipped_lines: list[str] = field(default_factory=list)
    labels_file: str = ""
    seconds: float = 0.0

    @property
    def summary(self) -> str:
        text = f"{self.records} training and {self.val_count} validation records in {self.seconds:.1f} s"
        if self.skipped_lines:
            shown = "; ".join(self.skipped_lines[:3])
            more = f" (+{len(self.skipped_lines) - 3} more)" if len(self.skipped_lines) > 3 else ""
            text += f"\nskipped {self.skipped}: {shown}{more}"
        return text


def convert_folder(root, out_dir, options: ConvertOptions, stop, total: int = 0):
    """Yield :class:`Progress` while the data core writes train/val databases; return a ConvertResult."""
    imageset = importlib.import_module("tunewiz.data.imageset")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = ConvertResult(out_dir / f"train_{options.backend}", out_dir / f"val_{options.backend}")
    opts = imageset.Options(gray=options.gray, shuffle=options.shuffle, backend=options.backend,
                            resize_width=options.resize_width, resize_height=options.resize_height,
                            encoded=options.encoded)
    events = imageset.convert_folders(str(root), str(result.train_db), opts, val_fraction=options.val_fraction,
                                      val_db=str(result.val_db), stop=stop)
    offset = 0
    for ev in events:
        name = type(ev).__name__
        if name == "Progress":
            yield Progress(offset + ev.done, max(total, offset + ev.total), result.skipped, ev.rate)
        elif name == "Skipped":
            result.skipped += 1
            result.skipped_lines.append(f"{ev.path}: {ev.reason}")
        elif name == "Finished":
            offset += ev.records + ev.skipped
            if Path(ev.db) == result.train_db:
                result.records = ev.records
            else:
                result.val_count = ev.records
            result.labels_file = ev.labels_file or result.labels_file
            result.seconds += ev.seconds
    return result


def compute_mean(db, out_file, backend: str = "lmdb"):
    """Compute the mean image of ``db`` into ``out_file`` (the data core's compute_image_mean)."""
    fn = _get("tunewiz.data.mean", "compute_image_mean")
    return fn(str(db), str(out_file), backend=backend)


# ---------------------------------------------------------------- step 3: net
def load_net(path):
    from tunewiz.caffe.prototxt import read_net_text

    return read_net_text(Path(path).expanduser())


def find_output_layer(net):
    """The recipe's output layer (name, type, num_output, reason) plus a one-line description."""
    out = _get("tunewiz.recipe.output_layer", "find_output_layer")(net)
    out.description = f"{out.type}, num_output {out.num_output}"
    return out


@dataclass
class NetEdit:
    net: object
    deploy: object
    notes: list[str]
    rows: list[tuple] = field(default_factory=list)
    advice: object = None
    diff: str = ""


def edit_net(source, deploy_source, st, memory: str = "") -> NetEdit:
    """The recipe's edits on copies of the sources: data layers, classes, freeze, batch; plus views."""
    from tunewiz.recipe.classes import change_classes
    from tunewiz.recipe.data_edits import DataPlan, point_data_layers
    from tunewiz.recipe.layers import clone

    net, deploy = clone(source), clone(deploy_source) if deploy_source is not None else None
    notes: list[str] = []
    if st.train_db:
        data = DataPlan()
        point_data_layers(net, st.train_db, st.val_db, data, mean_file=st.mean_file or None)
        notes += data.warnings
    plan = change_classes(net, st.num_classes, run=st.run_name, deploy=deploy, new_name=st.new_name or None)
    notes.append(plan.consequence)
    notes += plan.warnings
    shapes = _shapes(net)
    if st.freeze_through:
        from tunewiz.recipe.freeze import freeze_through

        counts = {name: [_prod(s) for s in blobs] for name, blobs in shapes[1].items()} if shapes else None
        notes.append(freeze_through(net, st.freeze_through, param_counts=counts).summary())
    edit = NetEdit(net, deploy, notes)
    edit.advice = advise_batch(net, memory)
    if edit.advice.changed:
        set_batch(net, edit.advice.batch_size)
        shapes = _shapes(net)
    edit.rows = layer_rows(net, shapes)
    from tunewiz.recipe.diff import unified_diff

    edit.diff = unified_diff(source, net, Path(st.net_src).name, "train_val.prototxt (copy)")
    return edit


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _shapes(net):
    """(top shapes by layer, param shapes by layer) from the engine on 'meta', or None when it cannot build."""
    try:
        from tunewiz.caffe import caffe_pb2
        from tunewiz.engine.net import Net

        built = Net(net, caffe_pb2.TRAIN, device="meta")
    except (TunewizError, ImportError, OSError):
        return None
    tops = {w.name: [built.blob_shapes[t] for t in w.tops] for w in built.wirings}
    params = {layer.name: [tuple(b.shape) for b in layer.blobs] for layer in built.layers if len(layer.blobs)}
    return tops, params


def layer_rows(net, shapes=None) -> list[tuple]:
    """(name, type, top shape, parameters, lr_mult, state) per TRAIN layer."""
    from tunewiz.recipe.layers import layers_of

    tops, params = shapes if shapes else ({}, {})
    rows = []
    for ref in layers_of(net, _train()):
        mults = ref.multipliers()
        top = " ".join("x".join(map(str, s)) for s in tops.get(ref.name, [])) or "?"
        count = sum(_prod(s) for s in params.get(ref.name, [])) if ref.name in params else (
            "?" if mults else 0)
        lr = "/".join(f"{m[0]:g}" for m in mults) or "-"
        state = "-" if not mults else ("FROZEN" if all(m[0] == 0 for m in mults) else "learns")
        rows.append((ref.name, ref.type, top, count, lr, state))
    return rows


def _train():
    from tunewiz.caffe import caffe_pb2

    return caffe_pb2.TRAIN


def train_batch(net) -> int:
    from tunewiz.recipe.data_edits import data_layers

    for ref in data_layers(net):
        if ref.in_phase(_train()):
            p = ref.msg.data_param if ref.type == "Data" else ref.msg.image_data_param
            return int(p.batch_size)
    return 0


def set_batch(net, batch_size: int):
    from tunewiz.recipe.data_edits import data_layers

    for ref in data_layers(net):
        if ref.in_phase(_train()):
            p = ref.msg.data_param if ref.type == "Data" else ref.msg.image_data_param
            p.batch_size = batch_size
    return net


@dataclass
class Advice:
    batch_size: int
    iter_size: int
    changed: bool
    text: str


def advise_batch(net, memory: str) -> Advice:
    """The recipe's batch advisor for a memory size like '8G' (empty: keep the batch)."""
    batch = train_batch(net)
    if not memory:
        return Advice(batch, 1, False, f"TRAIN batch_size {batch}. Type the GPU's free memory (e.g. 4G) and "
                                       "press Enter for the largest batch that fits.")
    from tunewiz.recipe import batch as advisor

    model = advisor.memory_model(net)
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
        lr_divisor=st.lr_divisor, max_iter=overrides.get("max_iter"), snapshot=overrides.get("snapshot"),
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


# ---------------------------------------------------------------- step 5: start
@dataclass
class StartCheck:
    ok: bool
    lines: list[str] = field(default_factory=list)
    problem: str = ""
    weights: list[str] = field(default_factory=list)
    snapshot: str = ""


def check_start(kind: str, path: str, st) -> StartCheck:
    """The recipe's checks for weights / a model folder / a snapshot, before anything runs."""
    from tunewiz.recipe import start

    try:
        if kind == "snapshot":
            lines = start.check_snapshot(path, st.net, st.solver, files=_existing_copies(st),
                                         cwd=str(st.run_dir if st.run_dir.is_dir() else Path(path).parent))
            return StartCheck(True, lines, snapshot=path)
        lines = []
        if kind == "model":
            model = start.read_model_folder(path)
            lines += list(getattr(model, "lines", []) or [])
            weights = [str(model.caffemodel)]
        else:
            weights = [p.strip() for p in path.split(",") if p.strip()]
            for w in weights:
                if not Path(w).is_file():
                    return StartCheck(False, [], f"{w} does not exist; give the pretrained .caffemodel.")
        report = start.transfer_report(weights, st.net)
        lines += report.lines()
    except TunewizError as exc:
        return StartCheck(False, [], str(exc))
    if report.mismatch:
        return StartCheck(False, lines, "shape mismatch: " + "; ".join(report.mismatch), weights)
    return StartCheck(True, lines, weights=weights)


def _existing_copies(st) -> dict[str, str]:
    files = {"solver": st.run_dir / SOLVER, "net": st.run_dir / TRAIN_VAL}
    return {role: str(p) for role, p in files.items() if p.is_file()}


def make_plan(st):
    """The recipe's FinetunePlan for the wizard's choices (written by :func:`start_run`)."""
    from tunewiz.caffe.prototxt import to_text
    from tunewiz.recipe.plan import FinetunePlan

    plan = FinetunePlan(out_dir=st.run_dir.resolve())
    plan.files[TRAIN_VAL] = to_text(st.net)
    plan.sources[TRAIN_VAL] = Path(st.net_src)
    if st.deploy is not None:
        plan.files[DEPLOY] = to_text(st.deploy)
        plan.sources[DEPLOY] = Path(st.deploy_src)
    plan.files[SOLVER] = to_text(st.solver)
    plan.sources[SOLVER] = Path(st.solver_src)
    return plan


def start_run(st, check: StartCheck) -> int:
    """Write the copies (the recipe's one writing step) and start ``tunewiz train`` detached."""
    from tunewiz.recipe.run import write_plan
    from tunewiz.wizard import launch

    plan = make_plan(st)
    write_plan(plan, overwrite=False)
    st.written = {name: str(plan.path(name)) for name in plan.files}
    return launch.start_training(st.run_dir, plan.path(SOLVER), weights=check.weights or None,
                                 snapshot=check.snapshot or None)


# ---------------------------------------------------------------- step 7: done
def command_lines(st, run_dir) -> str:
    """The equivalent ``tunewiz finetune …`` and ``caffe train …`` command lines."""
    import shlex

    from tunewiz.wizard.launch import read_launch

    run_dir = Path(run_dir).resolve()
    launched = read_launch(run_dir)
    weights = ",".join(launched.get("weights") or []) or (st.start_path if st.start_kind == "weights" else "")
    snapshot = launched.get("snapshot") or ""
    start = f"--snapshot {shlex.quote(snapshot)}" if snapshot else f"--weights {shlex.quote(weights or 'W.caffemodel')}"
    lines = []
    if st.net_src and st.solver_src:
        parts = ["tunewiz finetune", f"--net {shlex.quote(st.net_src)}"]
        if st.deploy_src:
            parts.append(f"--deploy {shlex.quote(st.deploy_src)}")
        parts += [f"--solver {shlex.quote(st.solver_src)}", start]
        if st.train_db:
            parts += [f"--train-db {shlex.quote(st.train_db)}", f"--val-db {shlex.quote(st.val_db)}"]
        if st.new_name:
            parts.append(f"--rename {st.new_name}")
        if st.freeze_through:
            parts.append(f"--freeze-through {st.freeze_through}")
        if st.batch_size:
            parts.append(f"--batch-size {st.batch_size}")
        parts += [f"--lr-divisor {st.lr_divisor:g}"]
        if st.solver is not None:
            parts.append(f"--max-iter {st.solver.max_iter}")
        parts += [f"--out {shlex.quote(str(run_dir))}", "--train"]
        lines.append(" \\\n    ".join(parts))
    solver = launched.get("solver") or str(run_dir / SOLVER)
    lines.append(f"caffe train --solver {shlex.quote(solver)} {start}")
    lines.append(f"tunewiz train --solver {shlex.quote(solver)} {start}")
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
