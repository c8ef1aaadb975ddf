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
    channels: set = field(default_factory=set)

    @property
    def all_gray(self) -> bool:
        return self.channels == {1}

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
        scan.channels.add(1 if img.ndim == 2 else int(img.shape[2]))
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


def compute_mean(db, out_file, backend: str = "lmdb", stop=None) -> list[float]:
    """The data core's mean of ``db`` written to ``out_file``; returns the per-channel means."""
    mean_mod = importlib.import_module("tunewiz.data.mean")
    mean, _count, _decoded = mean_mod.compute_mean(str(db), backend, stop)
    mean_mod.write_mean(mean, str(out_file))
    return mean_mod.channel_mean_values(mean)


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
    from tunewiz.recipe.layers import clone

    tv, dep = clone(source), clone(deploy_source) if deploy_source is not None else None
    cp = change_classes(tv, st.num_classes, run=st.run_name, deploy=dep, new_name=st.new_name or None)
    notes = [cp.output.reason, cp.consequence] + cp.changes + cp.rewired + cp.warnings
    chw = None
    if st.train_db:
        dp, summary = DataPlan(), summarize_db(st.train_db)
        point_data_layers(tv, st.train_db, st.val_db, dp, mean_for(source, st))
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


