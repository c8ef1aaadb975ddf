"""``FinetuneOptions``: every choice a fine-tune needs, typed and validated in one place.

The CLI builds it from ``tunewiz finetune``'s flags (:func:`from_args`), the wizard from its state,
a script by hand; the recipe's stages (:mod:`tunewiz.recipe.finetune`) read nothing else.  Each
field's flag and help live in its metadata, so the parser, the command line (:meth:`to_argv`) and
the JSON kept in the run folder's ``finetune.json`` (:meth:`to_json`) can never drift apart.

Paths are made absolute against the folder the options are made in: the copies then name the
databases, weights and run folder the same way whatever folder training later runs from.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from tunewiz.recipe.layers import RecipeError
from tunewiz.runs import layout


class OptionsError(RecipeError):
    """A value that cannot be used; the message names the flag."""


def _opt(flag: str, help: str, kind: str = "str", path: bool = False, choices=None):
    return {"flag": flag, "help": help, "kind": kind, "path": path, "choices": choices}


@dataclass(frozen=True)
class FinetuneOptions:
    """The contract of a fine-tune (see the module docstring); one line of help per field."""

    # sources
    net: str | None = field(default=None, metadata=_opt("--net", "source train_val prototxt (default: the "
                                                        "--model folder's)", path=True))
    deploy: str | None = field(default=None, metadata=_opt("--deploy", "source deploy prototxt (rewired too)",
                                                           path=True))
    solver: str | None = field(default=None, metadata=_opt("--solver", "source solver prototxt (default: the "
                                                           "--model folder's)", path=True))
    weights: tuple[str, ...] = field(default=(), metadata=_opt("--weights", "pretrained caffemodel(s), comma "
                                                               "separated", "list", path=True))
    model: str | None = field(default=None, metadata=_opt("--model", "a Model Zoo folder: prototxt + caffemodel "
                                                          "+ readme.md (sha1 checked)", path=True))
    snapshot: str | None = field(default=None, metadata=_opt("--snapshot", "a .solverstate to resume this run "
                                                             "from", path=True))
    # data
    train_db: str = field(default="", metadata=_opt("--train-db", "training database (LMDB/LevelDB, made in "
                                                    "step 2 (Data) by convert-imageset)", path=True))
    val_db: str = field(default="", metadata=_opt("--val-db", "validation database (LMDB/LevelDB)", path=True))
    mean_file: str | None = field(default=None, metadata=_opt(
        "--mean-file", "use this mean (e.g. the new data's) instead of the pretrained net's; default: keep the "
        "net's preprocessing, which its weights learned", path=True))
    mean_value: tuple[float, ...] = field(default=(), metadata=_opt(
        "--mean-value", "per-channel mean values B,G,R instead of the net's mean", "floats"))
    scale: float | None = field(default=None, metadata=_opt(
        "--scale", "pixel scale of the pretrained preprocessing (deploy-only models, e.g. 0.017)", "float"))
    # classes, output layer, freeze
    classes: int | None = field(default=None, metadata=_opt("--classes", "number of classes (default: counted "
                                                            "from the training labels)", "int"))
    output_layer: tuple[str, ...] = field(default=(), metadata=_opt(
        "--output-layer", "the head(s) to replace, comma separated or repeated (default: found — every layer "
        "with parameters that feeds a loss, e.g. GoogLeNet's three)", "names"))
    rename: tuple[str, ...] = field(default=(), metadata=_opt(
        "--rename", "new name of each head, in order (default <layer>_<run>; the same name keeps its weights)",
        "names"))
    keep_lr_mult: bool = field(default=False, metadata=_opt(
        "--keep-lr-mult", "keep the output layer's lr_mult (default 10/20, flickr style)", "bool"))
    freeze_through: str | None = field(default=None, metadata=_opt(
        "--freeze-through", "lr_mult 0 for every layer up to this one"))
    # batch
    batch_size: int | None = field(default=None, metadata=_opt(
        "--batch-size", "training batch_size (iter_size keeps the effective batch)", "int"))
    gpu_memory: str | None = field(default=None, metadata=_opt(
        "--gpu-memory", "free GPU memory, e.g. 8G, or 'auto' (ask the GPU): the advisor picks batch_size/iter_size"))
    iter_size: int | None = field(default=None, metadata=_opt(
        "--iter-size", "the solver's iter_size (default: what keeps the effective batch)", "int"))
    # solver
    lr_divisor: float = field(default=10.0, metadata=_opt(
        "--lr-divisor", "base_lr is divided by this (default 10; up to 100)", "float"))
    base_lr: float | None = field(default=None, metadata=_opt(
        "--base-lr", "set base_lr outright (instead of dividing the source's)", "float"))
    max_iter: int | None = field(default=None, metadata=_opt(
        "--max-iter", "new max_iter (default: about 20 epochs of the new data when the solver's is far longer, "
        "a multiple of test_interval; stepsize/stepvalue scale with it, at most two lr drops)", "int"))
    stepsize: int | None = field(default=None, metadata=_opt("--stepsize", "set stepsize outright", "int"))
    stepvalue: tuple[int, ...] = field(default=(), metadata=_opt("--stepvalue", "set the multistep stepvalues "
                                                                 "outright, comma separated", "ints"))
    snapshot_every: int | None = field(default=None, metadata=_opt(
        "--snapshot-every", "snapshot interval (default: a multiple of test_interval, so each snapshot is tested; "
        "at most 5 snapshots a run)", "int"))
    test_iter: int | None = field(default=None, metadata=_opt(
        "--test-iter", "TEST batches per test (default: the validation set once)", "int"))
    test_interval: int | None = field(default=None, metadata=_opt(
        "--test-interval", "iterations between tests (default: about once an epoch when the solver tests "
        "less often; one that divides max_iter when one is near)", "int"))
    test_batch_size: int | None = field(default=None, metadata=_opt(
        "--test-batch-size", "TEST batch_size (default: the net's, at most the validation set)", "int"))
    # run
    numerics: str = field(default="caffe", metadata=_opt(
        "--numerics", "on the CPU: caffe = Caffe's own summation order, torch = torch's kernels (faster)",
        choices=("caffe", "torch")))
    mode: str | None = field(default=None, metadata=_opt(
        "--mode", "solver_mode of the run (default: GPU when one is available)", choices=("cpu", "gpu")))
    gpu: str | None = field(default=None, metadata=_opt(
        "--gpu", "train on these GPUs: 0, 0,1 or all; one process per GPU, each running the net's whole "
        "batch_size (Caffe's multi-GPU training: N GPUs = N x the batch an iteration, base_lr unchanged); "
        "--gpu-memory auto then reads the smallest free memory of them (default: solver_mode's device)"))
    out: str = field(default="", metadata=_opt("--out", "run folder for the edited copies and the snapshots",
                                               path=True))
    run_name: str | None = field(default=None, metadata=_opt("--run-name", "run name (default: the --out "
                                                             "folder's name)"))

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _normalize(f, getattr(self, f.name)))
        _validate(self)

    # --------------------------------------------------------------- views
    @property
    def start_kind(self) -> str | None:
        """weights | model | snapshot (None until one is given)."""
        return next((k for k in ("weights", "model", "snapshot") if getattr(self, k)), None)

    @property
    def safe_run_name(self) -> str:
        """``--run-name``, or the run folder's name, as a word Caffe's file names can carry."""
        raw = self.run_name or Path(self.out).name
        return re.sub(r"[^A-Za-z0-9_]+", "_", raw).strip("_") or "run"

    def replace(self, **changes) -> "FinetuneOptions":
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        """Plain data (lists for tuples) that :meth:`from_json` reads back equal."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, data: dict, where: str = layout.FINETUNE) -> "FinetuneOptions":
        if not isinstance(data, dict):
            raise OptionsError(f"{where}: 'options' must be an object of fine-tune options")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise OptionsError(f"{where}: unknown option {unknown[0]!r} (known: {', '.join(sorted(names))})")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def to_argv(self, path_text=str) -> list[str]:
        """The ``tunewiz finetune`` flags that make these options (defaults left out); ``path_text`` may
        shorten the paths (e.g. relative to the current folder: they are made absolute again when read)."""
        argv: list[str] = []
        for f in dataclasses.fields(self):
            value, meta = getattr(self, f.name), f.metadata
            if value == f.default:
                continue
            if meta["kind"] == "bool":
                argv.append(meta["flag"])
                continue
            show = path_text if meta["path"] else _num
            text = ",".join(show(v) for v in value) if isinstance(value, tuple) else show(value)
            argv.append(f"{meta['flag']}={text}")  # --flag=value: a value starting with '-' stays a value
        return argv

    def command_line(self, *, train: bool = False, path_text=str) -> str:
        """``tunewiz finetune …`` as one shell line (see :meth:`to_argv`)."""
        return shlex.join(["tunewiz", "finetune", *self.to_argv(path_text), *(["--train"] if train else [])])


def _num(v) -> str:
    return repr(v) if isinstance(v, float) else str(v)


def _normalize(f: dataclasses.Field, value):
    """Types as declared (a list from JSON -> tuple, '' -> None) and absolute paths."""
    kind, default = f.metadata["kind"], f.default
    if value is None or value == "":
        return default if default is not None else None
    if kind == "names":  # from a repeated flag, a comma list, or both
        parts = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else [value]
        if not all(isinstance(p, str) for p in parts):
            raise OptionsError(f"{f.metadata['flag']}: {value!r} is not a list of layer names")
        return tuple(n.strip() for p in parts for n in p.split(",") if n.strip())
    if kind in ("list", "floats", "ints"):
        items = value.split(",") if isinstance(value, str) else list(value)
        conv = {"list": str, "floats": float, "ints": int}[kind]
        try:
            value = tuple(conv(v.strip() if isinstance(v, str) else v) for v in items if str(v).strip())
        except (TypeError, ValueError):
            raise OptionsError(f"{f.metadata['flag']}: {value!r} is not a list of "
                               f"{'numbers' if kind != 'list' else 'paths'}") from None
    elif kind in ("int", "float") and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise OptionsError(f"{f.metadata['flag']}: {value!r} is not a number")
    elif kind == "int":
        if value != int(value):
            raise OptionsError(f"{f.metadata['flag']}: {value!r} is not a whole number")
        value = int(value)
    elif kind == "float":
        value = float(value)
        if not math.isfinite(value):
            raise OptionsError(f"{f.metadata['flag']}: {value!r} is not a finite number")
    elif kind == "bool" and not isinstance(value, bool):
        raise OptionsError(f"{f.metadata['flag']}: {value!r} is not true or false")
    elif kind == "str" and not isinstance(value, str):
        raise OptionsError(f"{f.metadata['flag']}: {value!r} is not text")
    if f.metadata["path"]:
        value = tuple(os.path.abspath(os.path.expanduser(v)) for v in value) if isinstance(value, tuple) \
            else os.path.abspath(os.path.expanduser(value))
    return value


def _validate(o: FinetuneOptions) -> None:
    starts = [k for k in ("weights", "model", "snapshot") if getattr(o, k)]
    if len(starts) > 1:
        raise OptionsError(f"give one start, not --{starts[0]} and --{starts[1]}: weights to fine-tune from, "
                           "a Model Zoo folder, or a snapshot to resume")
    if o.mean_file and o.mean_value:
        raise OptionsError("give --mean-file or --mean-value, not both")
    if o.batch_size is not None and o.gpu_memory:
        raise OptionsError("give --batch-size or --gpu-memory, not both (the advisor picks the batch from "
                           "the memory)")
    for name in ("classes", "batch_size", "iter_size", "max_iter", "stepsize", "snapshot_every", "test_iter",
                 "test_interval", "test_batch_size"):
        value = getattr(o, name)
        if value is not None and value < (2 if name == "classes" else 1):
            raise OptionsError(f"--{name.replace('_', '-')} must be at least {2 if name == 'classes' else 1} "
                               f"(got {value})")
    if any(v < 1 for v in o.stepvalue):
        raise OptionsError(f"--stepvalue: every value must be at least 1 (got {','.join(map(str, o.stepvalue))})")
    if list(o.stepvalue) != sorted(set(o.stepvalue)):
        raise OptionsError("--stepvalue: the values must increase (Caffe steps through them in order)")
    if not o.lr_divisor > 0:
        raise OptionsError(f"--lr-divisor must be > 0 (got {o.lr_divisor:g})")
    if o.scale is not None and not o.scale > 0:
        raise OptionsError(f"--scale must be > 0 (got {o.scale:g})")
    if o.base_lr is not None and not o.base_lr > 0:
        raise OptionsError(f"--base-lr must be > 0 (got {o.base_lr:g})")
    if o.gpu is not None and not re.fullmatch(r"all|\d+(,\d+)*", o.gpu):
        raise OptionsError(f"--gpu {o.gpu!r}: give GPU ids (0, or 0,1) or all")
    if o.gpu is not None and o.mode == "cpu":
        raise OptionsError("give --gpu or --mode cpu, not both (--gpu trains on GPUs)")
    for name in ("numerics", "mode"):
        value, choices = getattr(o, name), _field(name).metadata["choices"]
        if value is not None and value not in choices:
            raise OptionsError(f"--{name} must be one of {', '.join(choices)} (got {value!r})")


def _field(name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(FinetuneOptions) if f.name == name)


# ------------------------------------------------------------------- the command line
ARG_TYPES = {"int": int, "float": float}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per field, from the field's metadata (``tunewiz finetune``)."""
    for f in dataclasses.fields(FinetuneOptions):
        meta = f.metadata
        if meta["kind"] == "bool":
            parser.add_argument(meta["flag"], dest=f.name, action="store_true", help=meta["help"])
        elif meta["kind"] == "names":
            parser.add_argument(meta["flag"], dest=f.name, action="append", default=None, help=meta["help"])
        else:
            parser.add_argument(meta["flag"], dest=f.name, type=ARG_TYPES.get(meta["kind"], str),
                                choices=meta["choices"], default=None, help=meta["help"])


def given(args: argparse.Namespace) -> list[str]:
    """The option flags given on a command line (parsed by a parser from :func:`add_arguments`)."""
    return [f.metadata["flag"] for f in dataclasses.fields(FinetuneOptions)
            if vars(args)[f.name] not in (None, False)]


def from_args(args: argparse.Namespace) -> FinetuneOptions:
    """The options of a parsed ``tunewiz finetune`` command line (every field read, none guessed)."""
    values = {f.name: vars(args)[f.name] for f in dataclasses.fields(FinetuneOptions)}
    return FinetuneOptions(**{k: v for k, v in values.items() if v is not None})
