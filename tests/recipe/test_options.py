"""FinetuneOptions: one typed contract; json <-> object <-> command line round-trips, bad values are one line.

300 seeded combinations of the fields (every field drawn: absent, a typical value or an edge value) go
object -> JSON text -> object and object -> ``tunewiz finetune`` command line -> the real parser ->
object, and come back equal; 300 more with one bad value each give one clear message naming the flag.
"""
from __future__ import annotations

import dataclasses
import json
import random
import shlex

import pytest

from tunewiz.cli import command_parser
from tunewiz.recipe.options import FinetuneOptions, OptionsError, from_args

FIELDS = {f.name: f for f in dataclasses.fields(FinetuneOptions)}
PATHS = ["net.prototxt", "models/x y/train val.prototxt", "/abs/deploy.prototxt", "~/w.caffemodel", "a-b_c.d"]
GOOD = {
    "str": ["8G", "auto", "run-1", "x y"],
    "names": [("ip2_new",), ("fc8",), ("loss1/classifier", "loss3/classifier"), ("x y",), ("-dash",)],
    "int": [1, 2, 7, 100, 450000],
    "float": [0.001, 1e-7, 3.5, 100.0, 0.1 + 0.2],
    "floats": [(104.0, 117.0, 123.0), (-1.5,), (0.0, 2.25)],
    "ints": [(5,), (10, 20), (1, 2, 3, 4)],
    "list": [("w.caffemodel",), ("a.caffemodel", "b.caffemodel")],
}
CHOICE_FIELDS = {"numerics": ["caffe", "torch"], "mode": ["cpu", "gpu"], "gpu": ["0", "0,1", "all", "3,1"]}


def _value(rng: random.Random, f: dataclasses.Field):
    kind = f.metadata["kind"]
    if f.name in CHOICE_FIELDS:
        return rng.choice(CHOICE_FIELDS[f.name])
    if kind == "bool":
        return True
    if f.metadata["path"]:
        return tuple(rng.sample(PATHS, rng.randint(1, 2))) if kind == "list" else rng.choice(PATHS)
    if f.name == "classes":
        return rng.choice([2, 3, 20, 1000])
    return rng.choice(GOOD[kind])


def _combination(rng: random.Random) -> dict:
    values = {}
    for name, f in FIELDS.items():
        if rng.random() < 0.5:
            values[name] = _value(rng, f)
    starts = [k for k in ("weights", "model", "snapshot") if k in values]
    for extra in starts[1:]:  # one start at most: the contract refuses two
        del values[extra]
    if values.get("mean_file") and values.get("mean_value"):
        del values["mean_value"]
    if "batch_size" in values and values.get("gpu_memory"):
        del values["gpu_memory"]
    if "gpu_memory" in values:
        values["gpu_memory"] = rng.choice(["8G", "auto", "512M"])
    if values.get("mode") == "cpu" and "gpu" in values:  # --gpu trains on GPUs: the contract refuses both
        del values["gpu"]
    return values


COMBOS = [_combination(random.Random(seed)) for seed in range(300)]


def test_the_combinations_cover_every_field():
    for name in FIELDS:
        assert sum(name in c for c in COMBOS) > 20, name
    assert len({json.dumps(sorted(c)) for c in COMBOS}) > 250


@pytest.mark.parametrize("values", COMBOS, ids=range(len(COMBOS)))
def test_round_trips(values, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    opts = FinetuneOptions(**values)
    assert FinetuneOptions.from_json(json.loads(json.dumps(opts.to_json()))) == opts
    argv = shlex.split(opts.command_line())
    assert argv[:2] == ["tunewiz", "finetune"]
    assert from_args(command_parser("finetune").parse_args(argv[2:])) == opts
    assert opts.replace() == opts


def test_paths_become_absolute_and_a_short_command_reads_back_the_same(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    opts = FinetuneOptions(net="n.prototxt", weights="a.caffemodel,b.caffemodel", out="runs/r")
    assert opts.net == str(tmp_path / "n.prototxt") and opts.weights == (str(tmp_path / "a.caffemodel"),
                                                                        str(tmp_path / "b.caffemodel"))
    short = opts.command_line(path_text=lambda p: str(__import__("os").path.relpath(p)))
    assert "--net=n.prototxt" in short and "--out=runs/r" in short
    assert from_args(command_parser("finetune").parse_args(shlex.split(short)[2:])) == opts


BAD = [
    ({"weights": "w.caffemodel", "snapshot": "s.solverstate"}, "--weights and --snapshot"),
    ({"model": "zoo", "weights": "w"}, "not --weights and --model"),
    ({"mean_file": "m.binaryproto", "mean_value": (1.0,)}, "--mean-file or --mean-value"),
    ({"batch_size": 8, "gpu_memory": "4G"}, "--batch-size or --gpu-memory"),
    ({"classes": 1}, "--classes must be at least 2"),
    ({"max_iter": 0}, "--max-iter must be at least 1"),
    ({"batch_size": -3}, "--batch-size must be at least 1"),
    ({"test_iter": 0}, "--test-iter must be at least 1"),
    ({"iter_size": 0}, "--iter-size must be at least 1"),
    ({"stepvalue": (30, 10)}, "--stepvalue: the values must increase"),
    ({"stepvalue": (0, 10)}, "--stepvalue: every value must be at least 1"),
    ({"lr_divisor": 0.0}, "--lr-divisor must be > 0"),
    ({"base_lr": -1.0}, "--base-lr must be > 0"),
    ({"base_lr": float("nan")}, "--base-lr: nan is not a finite number"),
    ({"numerics": "fast"}, "--numerics must be one of caffe, torch"),
    ({"mode": "tpu"}, "--mode must be one of cpu, gpu"),
    ({"gpu": "0;1"}, "--gpu '0;1': give GPU ids (0, or 0,1) or all"),
    ({"gpu": "0,1", "mode": "cpu"}, "give --gpu or --mode cpu, not both"),
    ({"max_iter": "20"}, "--max-iter: '20' is not a number"),
    ({"max_iter": 2.5}, "--max-iter: 2.5 is not a whole number"),
    ({"keep_lr_mult": "yes"}, "--keep-lr-mult: 'yes' is not true or false"),
    ({"mean_value": "1,b"}, "--mean-value: '1,b' is not a list of numbers"),
    ({"rename": 5}, "--rename: 5 is not a list of layer names"),
    ({"run_name": 5}, "--run-name: 5 is not text"),
]


PARTNERS = {"batch_size": {"gpu_memory"}, "gpu_memory": {"batch_size"}, "mean_file": {"mean_value"}, "gpu": {"mode"},
            "mean_value": {"mean_file"}, "weights": {"model", "snapshot"}, "model": {"weights", "snapshot"},
            "snapshot": {"weights", "model"}}


def _bad_combos() -> list[tuple[dict, str]]:
    """A good combination with one bad value (its partners removed, so that value is what is refused)."""
    out = []
    for seed in range(300):
        values, (bad, says) = dict(COMBOS[seed]), BAD[seed % len(BAD)]
        for name in bad:
            for partner in PARTNERS.get(name, ()):
                values.pop(partner, None)
        values.update(bad)
        out.append((values, says))
    return out


@pytest.mark.parametrize("values, says", _bad_combos(), ids=range(300))
def test_a_bad_value_is_one_clear_message(values, says, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OptionsError) as info:
        FinetuneOptions(**values)
    message = str(info.value)
    assert says in message and "\n" not in message


def test_json_with_an_unknown_or_misspelt_field_is_refused():
    with pytest.raises(OptionsError, match="unknown option 'max_iters'"):
        FinetuneOptions.from_json({"max_iters": 20})
    with pytest.raises(OptionsError, match="must be an object"):
        FinetuneOptions.from_json(["net"])
