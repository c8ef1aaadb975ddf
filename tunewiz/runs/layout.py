"""The run folder's layout: every file name a run folder holds, written once.

A run folder (``<runs root>/<run name>``) holds the trainer's ``events.jsonl`` and ``train.log``, the
wizard's launch record (``launch.json``), the detached trainer's pid and console output, the trainer's
lock, the recipe's ``finetune.json``, and ``data/`` with the converted databases and the conversion's
own pid, console and events.  Code that names one of these files takes the name from here.
"""
from __future__ import annotations

import os
from pathlib import Path

EVENTS = "events.jsonl"  # the trainer's typed events (tunewiz.runs.events), one JSON line each
TRAIN_LOG = "train.log"  # Caffe's log, line for line
PID = "train.pid"  # the pid of the trainer the wizard launched
CONSOLE = "console.log"  # the launched trainer's stdout and stderr
LAUNCH = "launch.json"  # what the wizard launched (command, pid, where this launch's output begins)
FINETUNE = "finetune.json"  # the recipe's fingerprint and options
LOCK = "tunewiz.lock"  # one trainer per folder (tunewiz.runs.lock)
SOLVER = "solver.prototxt"  # the copies the recipe writes: the solver the run trains with, its net
TRAIN_VAL = "train_val.prototxt"
DEPLOY = "deploy.prototxt"

DATA = "data"  # the converted databases, labels.txt and mean.binaryproto
LABELS = "labels.txt"
MEAN = "mean.binaryproto"
CONVERT_JOB = "convert.json"  # what the conversion process converts (written before it starts)
CONVERT_EVENTS = "convert.jsonl"  # its typed progress events
CONVERT_PID = "convert.pid"
CONVERT_CONSOLE = "convert.log"

CONVERT_FILES = (CONVERT_JOB, CONVERT_EVENTS, CONVERT_PID, CONVERT_CONSOLE)


def path(run_dir: str | os.PathLike, name: str) -> Path:
    """``<run_dir>/<name>``."""
    return Path(run_dir) / name


def data_dir(run_dir: str | os.PathLike) -> Path:
    """``<run_dir>/data``: where the wizard's conversion writes."""
    return Path(run_dir) / DATA


def train_db(data: str | os.PathLike, backend: str) -> Path:
    """The training database a conversion writes in ``data`` (``train_lmdb``, ``train_leveldb``)."""
    return Path(data) / f"train_{backend}"


def val_db(data: str | os.PathLike, backend: str) -> Path:
    """The validation database a conversion writes in ``data``."""
    return Path(data) / f"val_{backend}"
