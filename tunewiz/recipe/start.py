"""Step 5: where training starts — weights, a Model Zoo folder, or a snapshot — checked first.

* weights (``--weights a.caffemodel[,b.caffemodel]``): Caffe's ``CopyTrainedLayersFrom``
  matches layers by NAME; a source layer the net lacks is ignored ("Ignoring source
  layer X"), a net layer the source lacks keeps its filler values, a same-named layer
  with other blob shapes is fatal ("Cannot copy param 0 weights from layer 'X'; shape
  mismatch").  Later files overwrite earlier ones.  The report says which is which.
* model folder (the Model Zoo layout): ``readme.md`` front matter names the
  ``caffemodel`` and its ``sha1``; the sha1 is checked and the folder's prototxts
  become the sources of step 3 (Net).
* snapshot (``.solverstate``): ``learned_net`` must exist (Caffe resolves it against the
  working directory), its history must fit the net (one blob per learnable param, two
  for AdaDelta/Adam), and solver/net must not have changed since (the article: resume
  with the same solver).  A caffemodel given as snapshot is caught and explained.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.zoo import find_readme, front_matter, sha1_of
from tunewiz.recipe.batch import HISTORY
from tunewiz.recipe.layers import RecipeError
from tunewiz.runs import layout

FINGERPRINT = layout.FINETUNE


@dataclass
class TransferReport:
    """Per weights file: copied / new / ignored / mismatch layer names."""

    copied: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    mismatch: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"copied from the weights: {', '.join(self.copied) or 'none'}",
               f"new (start from their filler): {', '.join(self.new) or 'none'}",
               f"ignored source layers (Caffe logs 'Ignoring source layer'): {', '.join(self.ignored) or 'none'}"]
        if self.mismatch:
            out.append(f"SHAPE MISMATCH (Caffe stops here): {'; '.join(self.mismatch)}")
        return out


def param_shapes(net_param, chw: tuple[int, int, int] | None = None) -> dict[str, list[tuple[int, ...]]]:
    """Learnable blob shapes per layer of the TRAIN net (built on 'meta': no memory) for C x H x W images
    (default: the size of the first image of the TRAIN database)."""
    from tunewiz.recipe.shape_net import build_meta

    net = build_meta(net_param, chw)
    shapes: dict[str, list[tuple[int, ...]]] = {}
    for layer in net.layers:
        if len(layer.blobs):
            shapes[layer.name] = [tuple(b.shape) for b in layer.blobs]
    return shapes


def transfer_report(weights_paths: list[str], net_param, chw: tuple[int, int, int] | None = None) -> TransferReport:
    """What Caffe's CopyTrainedLayersFrom will do with these files for this net.

    Runs the engine's ``copy_trained_layers`` on the net built on the 'meta' device (no memory,
    the copy is a no-op), so the report follows exactly the rules training will apply; a shape
    mismatch comes back as Caffe's own message.
    """
    from tunewiz.engine.net.weights import WeightCopyError, copy_trained_layers
    from tunewiz.recipe.shape_net import build_meta

    net = build_meta(net_param, chw)
    try:
        done = copy_trained_layers(net, list(weights_paths))
    except WeightCopyError as exc:
        return TransferReport(mismatch=[str(exc)])
    return TransferReport([name for name, _ in done.copied], list(done.new), list(done.ignored))


def _s(shape) -> str:
    return " x ".join(map(str, shape)) if isinstance(shape, (tuple, list)) else str(shape)


def _add(items: list[str], name: str) -> None:
    if name not in items:
        items.append(name)


# --- Model Zoo folder -------------------------------------------------------------------
@dataclass
class ModelFolder:
    """A Model Zoo folder: its prototxts, caffemodel and readme facts."""

    folder: Path
    caffemodel: Path
    train_val: Path | None
    deploy: Path | None
    solver: Path | None
    meta: dict[str, str]
    lines: list[str] = field(default_factory=list)


def read_model_folder(folder: str | os.PathLike) -> ModelFolder:
    """Check a Model Zoo folder (sha1 of the caffemodel) and find its prototxts."""
    d = Path(folder)
    if not d.is_dir():
        raise RecipeError(f"--model {d}: not a folder; give the Model Zoo folder (prototxt + caffemodel + readme.md)")
    readme = find_readme(d)
    meta = front_matter(readme) if readme else {}
    name = meta.get("caffemodel")
    models = sorted(d.glob("*.caffemodel"))
    model = d / name if name else (models[0] if len(models) == 1 else None)
    if model is None or not model.is_file():
        url = meta.get("caffemodel_url", "")
        raise RecipeError(f"--model {d}: the caffemodel {name or '(*.caffemodel)'} is not in the folder"
                          + (f"; download it with 'tunewiz download-model {d}' (from {url})" if url else "")
                          + " and try again")
    lines = [f"model folder {d}: {meta.get('name', d.name)}"]
    want = meta.get("sha1", "").lower()
    if want:
        got = sha1_of(model)
        if got != want:
            raise RecipeError(f"--model {d}: {model.name} has sha1 {got}, but readme.md says {want}; the download "
                              "is incomplete or a different file — download it again"
                              + (f" ('tunewiz download-model {d} --force')" if meta.get("caffemodel_url") else ""))
        lines.append(f"{model.name}: sha1 {got} matches readme.md")
    else:
        lines.append(f"{model.name}: readme.md gives no sha1, so the file was not checked")
    pick = lambda *keys: next((p for k in keys for p in sorted(d.glob("*.prototxt")) if k in p.name), None)  # noqa: E731
    return ModelFolder(d, model, pick("train_val", "train"), pick("deploy"), pick("solver"), meta, lines)


# --- snapshot ---------------------------------------------------------------------------
def explain_not_a_snapshot(path: str) -> RecipeError:
    return RecipeError(
        f"--snapshot {path}: this is a .caffemodel (weights only), not a .solverstate. A caffemodel starts a "
        "NEW training from those weights: give it with --weights (iteration 0, a fresh solver, momentum 0). "
        "A .solverstate resumes an interrupted training: it holds the iteration, the solver's history "
        "(momentum) and the name of its caffemodel — give the matching <prefix>_iter_N.solverstate.")


def check_snapshot(path: str, learnable, solver: caffe_pb2.SolverParameter,
                   files: dict[str, str] | None = None, cwd: str = ".") -> list[str]:
    """Checks before resuming; returns the report lines (raises RecipeError on a problem).

    ``learnable``: shapes of the net's learnable params in order, or the NetParameter itself.
    """
    from tunewiz.caffe.detect import detect
    from tunewiz.caffe.solverstate import read_solverstate

    kind = detect(path).kind
    if kind == "caffemodel":
        raise explain_not_a_snapshot(path)
    state = read_solverstate(path)
    learned = Path(cwd) / state.learned_net
    if not learned.is_file():
        near = Path(path).parent / Path(state.learned_net).name
        hint = f" ({near} exists: run from the folder the snapshot was written from)" if near.is_file() else ""
        raise RecipeError(f"--snapshot {path}: its weights file {state.learned_net} does not exist relative to "
                          f"the working directory{hint}")
    lines = [f"snapshot at iteration {state.iter}, weights {state.learned_net}"]
    if isinstance(learnable, caffe_pb2.NetParameter):
        learnable = learnable_shapes(learnable)
    lines += _check_history(path, state, learnable, solver)
    lines += _check_unchanged(path, files or {})
    return lines


def learnable_shapes(net_param, chw: tuple[int, int, int] | None = None) -> list[tuple[int, ...]]:
    """Shapes of Caffe's learnable_params (shared params once), in order."""
    from tunewiz.recipe.shape_net import build_meta

    return [tuple(i.param.shape) for i in build_meta(net_param, chw).learnable_params()]


def _check_history(path: str, state, shapes: list[tuple[int, ...]], solver) -> list[str]:
    per = HISTORY.get(solver.type or "SGD", 1)
    want = shapes * per
    got = [tuple(b.data.shape) for b in state.history]
    if len(got) != len(want):
        raise RecipeError(f"--snapshot {path}: it holds {len(got)} history blobs, the net with solver type "
                          f"{solver.type or 'SGD'} needs {len(want)}; the snapshot belongs to another net or "
                          "solver type — resume with the same net and solver, or start anew with --weights")
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            raise RecipeError(f"--snapshot {path}: history blob {i} is {_s(g)}, the net's param is {_s(w)}; "
                              "the net changed since the snapshot")
    return [f"history: {len(got)} blobs fit the net's {len(shapes)} learnable params"]


def _check_unchanged(path: str, files: dict[str, str]) -> list[str]:
    """The solver and net must be the ones the snapshot was trained with."""
    snap_time = os.path.getmtime(path)
    record_path = Path(path).parent / FINGERPRINT
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    for role, file in files.items():
        digest = hashlib.sha256(Path(file).read_bytes()).hexdigest()
        recorded = record.get("sha256", {}).get(Path(file).name)
        if recorded and recorded != digest:
            raise RecipeError(f"--snapshot {path}: the {role} {file} changed since this run was set up; resuming "
                              "with a different solver or net gives a different training — restore it, or start "
                              "a new run from the snapshot's caffemodel with --weights")
        if os.path.getmtime(file) > snap_time and not recorded:
            raise RecipeError(f"--snapshot {path}: the {role} {file} was modified after the snapshot was taken; "
                              "resume with the same solver and net (or start anew with --weights)")
    return ["solver and net unchanged since the snapshot"] if files else []


def fingerprint(paths: list[Path]) -> dict:
    """What run.py records next to the copies, for the resume check."""
    return {"sha256": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}}
