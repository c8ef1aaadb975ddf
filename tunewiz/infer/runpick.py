"""What ``tunewiz classify --run RUN`` takes from a run folder: deploy, snapshot, mean, scale, labels.

* the deploy: ``RUN/deploy.prototxt`` (:mod:`tunewiz.runs.layout`);
* the snapshot: the one with the best TEST accuracy the run logged.  A test at iteration N and the
  snapshot of iteration N hold the same weights (Caffe snapshots after update N and tests before update
  N + 1), so the candidates are the iterations that have both a ``TestDone`` (test net 0) and a
  ``SnapshotSaved`` whose ``.caffemodel`` is still there; the highest accuracy wins, a tie goes to the
  later snapshot.  Accuracy is the top of the train_val's last TEST ``Accuracy`` layer with ``top_k`` 1
  (GoogLeNet's ``loss3/top-1``), else an output named ``accuracy``.  Without such a pair: the last snapshot.
  Snapshot files in the folder that no event names (a run trained by Caffe itself) count as snapshots.
  ``--snapshot`` picks another: an iteration number, a file name in RUN, or a path;
* the mean and scale: the train_val's TEST data layer's ``transform_param`` (``mean_file``,
  ``mean_value``, ``scale``), so images are preprocessed as the net was trained.  A relative
  ``mean_file`` is looked up from the working directory, then from the run folder and each folder above
  it (the wizard writes it relative to the folder it ran in), then in ``RUN/data``;
* the labels: ``RUN/data/labels.txt``, ``RUN/labels.txt``, or ``labels.txt`` beside a data layer's
  database (where ``convert-imageset`` of class folders writes it); None when there is none.

Whatever is missing is one message naming the flag to pass instead (``--model``, ``--weights``,
``--mean``); missing labels are not an error: classes print as their index.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from tunewiz.errors import TunewizError
from tunewiz.runs import layout
from tunewiz.runs.events import SnapshotSaved, TestDone
from tunewiz.runs.follow import EventFollower

_ITER = re.compile(r"_iter_(\d+)\.caffemodel(\.h5)?$")


@dataclass(frozen=True)
class RunPick:
    """The files and preprocessing of a run folder (``why``: how the snapshot was chosen)."""

    run_dir: Path
    deploy: Path
    weights: Path
    iteration: int | None
    why: str
    mean_file: str | None = None
    mean_value: tuple[float, ...] = ()
    scale: float | None = None
    labels: Path | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def pick_run(run_dir: str | os.PathLike, snapshot: str | None = None) -> RunPick:
    """The deploy, snapshot, mean, scale and labels of ``run_dir`` (see the module docstring)."""
    run = Path(run_dir)
    if not run.is_dir():
        raise TunewizError(f"--run {run_dir}: not a folder; give a run folder (the --out of tunewiz finetune, "
                           "or one under the wizard's runs/)")
    deploy = run / layout.DEPLOY
    if not deploy.is_file():
        raise TunewizError(f"--run {run_dir}: no {layout.DEPLOY} in it; pass --model DEPLOY.prototxt")
    net = _train_val(run)
    weights, iteration, why = _choose_snapshot(run, snapshot, net)
    transform = _test_transform(net) if net is not None else None
    notes = [] if net is not None else [f"no {layout.TRAIN_VAL} in {run}: no mean and no scale are applied "
                                        "(pass --mean/--mean-value and --input-scale if the net was trained with them)"]
    mean_file, mean_value, scale = None, (), None
    if transform is not None:
        mean_file = _find_mean(run, transform.mean_file) if transform.HasField("mean_file") else None
        mean_value = tuple(float(v) for v in transform.mean_value)
        scale = float(transform.scale) if transform.HasField("scale") and transform.scale != 1 else None
    labels = _find_labels(run, net)
    return RunPick(run, deploy, weights, iteration, why, mean_file, mean_value, scale, labels, tuple(notes))


# ------------------------------------------------------------------------------------------ snapshot
def run_snapshots(run: Path) -> tuple[dict[int, Path], dict[int, dict]]:
    """({iteration: caffemodel that exists}, {iteration: outputs of test net 0}) from the run's events and files."""
    snapshots: dict[int, Path] = {}
    tests: dict[int, dict] = {}
    for stamped in EventFollower(run).poll():  # in order: a resumed run's later event wins
        event = stamped.event
        if isinstance(event, SnapshotSaved):
            model = _caffemodel(run, event.paths)
            if model is not None:
                snapshots[event.iter] = model
        elif isinstance(event, TestDone) and event.net == 0:
            tests[event.iter] = event.outputs
    for path in run.iterdir():
        found = _ITER.search(path.name)
        if found and path.is_file():
            snapshots.setdefault(int(found.group(1)), path)
    return dict(sorted(snapshots.items())), tests


def _caffemodel(run: Path, paths: list) -> Path | None:
    """The weights file of a snapshot event: in the run folder by its name first (a moved or copied run's
    events name the old folder), else where the event says."""
    for name in paths:
        if not str(name).endswith((".caffemodel", ".caffemodel.h5")):
            continue
        for candidate in (run / Path(name).name, Path(name)):
            if candidate.is_file():
                return candidate
    return None


def best_snapshot(run_dir: str | os.PathLike) -> tuple[Path, int | None, str]:
    """(caffemodel, iteration, why) of the run's snapshot with the best logged TEST accuracy, else its last
    (what ``tunewiz classify --run`` and the wizard's Done screen use)."""
    run = Path(run_dir)
    return _choose_snapshot(run, None, _train_val(run))


def _choose_snapshot(run: Path, wanted: str | None, net) -> tuple[Path, int | None, str]:
    snapshots, tests = run_snapshots(run)
    if wanted:
        return _named_snapshot(run, wanted, snapshots)
    if not snapshots:
        raise TunewizError(f"{run}: no snapshot (.caffemodel) in it yet; train first (or give the weights: "
                           "tunewiz classify --weights W.caffemodel)")
    key = accuracy_key(net, tests)
    scored = [(tests[i][key], i) for i in snapshots if key and i in tests and tests[i].get(key) is not None]
    if scored:
        accuracy, best = max(scored)
        return snapshots[best], best, f"best TEST {key} {accuracy:.4f} of {len(scored)} tested snapshots"
    last = max(snapshots)
    return snapshots[last], last, "the last snapshot: the run logged no TEST accuracy at a snapshot's iteration"


def _named_snapshot(run: Path, wanted: str, snapshots: dict[int, Path]) -> tuple[Path, int | None, str]:
    if wanted.isdigit():
        if int(wanted) in snapshots:
            return snapshots[int(wanted)], int(wanted), f"--snapshot {wanted}"
        have = ", ".join(map(str, snapshots)) or "none"
        raise TunewizError(f"--snapshot {wanted}: {run} has no snapshot of iteration {wanted} (it has: {have})")
    for candidate in (Path(wanted), run / wanted):
        if candidate.is_file():
            found = _ITER.search(candidate.name)
            return candidate, int(found.group(1)) if found else None, f"--snapshot {wanted}"
    raise TunewizError(f"--snapshot {wanted}: no such file (nor in {run}); give an iteration number, a "
                       "snapshot's file name, or a .caffemodel path")


def accuracy_key(net, tests: dict[int, dict]) -> str | None:
    """The TEST output that is top-1 accuracy: the last TEST Accuracy layer with top_k 1, else 'accuracy'."""
    outputs = {name for outs in tests.values() for name in outs}
    if net is not None:
        tops = [lp.top[0] for lp in _test_layers(net)
                if lp.type == "Accuracy" and lp.top and lp.accuracy_param.top_k == 1]
        for top in reversed(tops):
            if top in outputs:
                return top
    return "accuracy" if "accuracy" in outputs else None


# ------------------------------------------------------------------------------------------ mean, labels
def _train_val(run: Path):
    from tunewiz.caffe.netio import read_net

    path = run / layout.TRAIN_VAL
    return read_net(path) if path.is_file() else None


def _test_layers(net):
    from tunewiz.engine.net.state import filter_net, make_state

    return list(filter_net(net, make_state(net, "TEST")).layer)


def _test_transform(net):
    """The transform_param of the TEST net's first layer that has one (its data layer)."""
    for lp in _test_layers(net):
        if lp.HasField("transform_param"):
            return lp.transform_param
    return None


def _candidates(run: Path, written: str) -> list[Path]:
    """Where a path a train_val names may be: as written, from the run folder and each folder above, RUN/data."""
    path = Path(written)
    if path.is_absolute():
        return [path, layout.data_dir(run) / path.name]
    return ([path] + [base / path for base in (run.resolve(), *run.resolve().parents)]
            + [layout.data_dir(run) / path.name, run / path.name])


def _find_mean(run: Path, written: str) -> str:
    for candidate in _candidates(run, written):
        if candidate.is_file():
            return str(candidate)
    raise TunewizError(f"--run {run}: the TEST data layer of {layout.TRAIN_VAL} subtracts mean_file '{written}', "
                       "which is not there any more; pass --mean MEAN.binaryproto (the mean the net was trained "
                       "with) or --mean-value B,G,R")


def _find_labels(run: Path, net) -> Path | None:
    places = [layout.data_dir(run) / layout.LABELS, run / layout.LABELS]
    for lp in (net.layer if net is not None else ()):
        if lp.data_param.source:  # labels.txt beside a database made from class folders
            places += [c.parent / layout.LABELS for c in _candidates(run, lp.data_param.source) if c.exists()]
    return next((p for p in places if p.is_file()), None)
