"""Helpers for the training tests: run a fixture solver from a copy of tests/fixtures/training."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import torch

from tunewiz.caffe.caffemodel import load_weights
from tunewiz.caffe.netio import read_solver
from tunewiz.engine.train.caffelog import CaffeLog
from tunewiz.engine.train.trainer import TrainConfig, train

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "training"


def workdir(tmp_path: Path, *runs: str, caffe_snapshots: bool = True) -> Path:
    """A training/ folder for Caffe's relative paths: data + init linked, the runs' inputs copied.

    ``caffe_snapshots=False`` leaves out the Caffe snapshots a run's fixture keeps (``<run>_iter_N.*``):
    ``tunewiz train`` refuses to start a new run beside another run's snapshots."""
    root = tmp_path / "training"
    root.mkdir()
    (root / "data").symlink_to(FIX / "data")
    for name in ("init.caffemodel", "train_val.prototxt"):
        (root / name).symlink_to(FIX / name)
    for run in runs:
        shutil.copytree(FIX / run, root / run,
                        ignore=None if caffe_snapshots else shutil.ignore_patterns(f"{run}_iter_*"))
    return root


def run_solver(root: Path, run: str, *, weights=("init.caffemodel",), snapshot=None, edit=None,
               stop=None, snapshot_now=None, run_dir=None, on_event=None, numerics="caffe"):
    """Train ``<run>/solver.prototxt`` from ``root``; returns (events, log lines)."""
    torch.set_num_threads(1)
    sp = read_solver(root / run / "solver.prototxt")
    if edit:
        edit(sp)
    log = CaffeLog(None, None)
    log.keep = True
    events = []
    cfg = TrainConfig(sp, root=root, weights=list(weights) if not snapshot else [], snapshot=snapshot,
                      stop=stop, snapshot_now=snapshot_now, run_dir=run_dir, log=log, numerics=numerics)
    for event in train(cfg):
        events.append(event)
        if on_event:
            on_event(event)
    return events, log.lines


def of_kind(events, kind):
    return [e for e in events if e.kind == kind]


def read_tsv(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def weights_of(path: Path) -> dict[str, np.ndarray]:
    arrays = load_weights(path).arrays()
    return {f"{layer}/{i}": a for layer, blobs in arrays.items() for i, a in enumerate(blobs)}


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| relative to the blob's largest magnitude."""
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))
