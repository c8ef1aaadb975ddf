"""Caffe's ``caffe train|test|time`` flags on ``tunewiz train|test|time`` (tools/caffe.cpp's DEFINE_*s).

caffe defines its flags once for every action, so each action takes all of them and ignores the
ones it does not read; tunewiz does the same and says so in one ``note:`` line per ignored flag.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine" / "train"))
from training_util import workdir  # noqa: E402

from tunewiz.cli import command_parser, main  # noqa: E402
from tunewiz.commands.train import CAFFE_FLAGS, _note_ignored  # noqa: E402

CAFFE = ["solver", "model", "weights", "snapshot", "iterations", "gpu", "phase", "level", "stage",
         "sigint_effect", "sighup_effect"]
VALUES = {"solver": "s.prototxt", "model": "n.prototxt", "weights": "w.caffemodel", "snapshot": "x.solverstate",
          "iterations": "3", "gpu": "0", "phase": "TEST", "level": "1", "stage": "a", "sigint_effect": "none",
          "sighup_effect": "none"}
REQUIRED = {"train": ["-solver", "s.prototxt"], "test": ["-model", "n.prototxt"], "time": ["-model", "n.prototxt"]}
IGNORED = {"train": {"model", "iterations", "phase"}, "test": {"solver", "snapshot", "sigint_effect", "sighup_effect"},
           "time": {"solver", "snapshot", "sigint_effect", "sighup_effect"}}


def test_the_flags_are_caffes():
    assert list(CAFFE_FLAGS) == CAFFE


@pytest.mark.parametrize("command", ["train", "test", "time"])
def test_every_caffe_flag_on_every_command_and_a_note_for_each_ignored_one(command, capsys):
    argv = REQUIRED[command] + [a for flag in CAFFE if flag not in ("solver", "model") for a in (f"-{flag}",
                                                                                                  VALUES[flag])]
    argv += [f"-{flag}={VALUES[flag]}" for flag in ("solver", "model") if f"-{flag}" not in argv]
    args = command_parser(command).parse_args(argv)
    args.command = command
    _note_ignored(args)
    notes = capsys.readouterr().err.splitlines()
    assert notes == [f"note: -{flag} has no effect on tunewiz {command} (caffe {command} ignores it too)"
                     for flag in CAFFE if flag in IGNORED[command]]


@pytest.mark.parametrize("command", ["train", "test", "time"])
def test_nothing_to_note_without_ignored_flags(command, capsys):
    args = command_parser(command).parse_args(REQUIRED[command])
    args.command = command
    _note_ignored(args)
    assert capsys.readouterr().err == ""


def test_defaults_stay_caffes():
    train = command_parser("train").parse_args(["-solver", "s"])
    assert (train.weights, train.snapshot, train.gpu, train.level, train.stage) == ("", "", "", 0, "")
    assert (train.sigint_effect, train.sighup_effect, train.run_dir) == ("stop", "snapshot", ".")
    test = command_parser("test").parse_args(["-model", "n"])
    time = command_parser("time").parse_args(["-model", "n"])
    assert (test.phase, test.iterations, time.phase, time.iterations) == ("TEST", 50, "TRAIN", 50)
    assert command_parser("time").parse_args(["-model", "n", "-phase", "test"]).phase == "TEST"


@pytest.mark.parametrize("argv,needle", [(["train"], "--solver"), (["test", "-weights", "w"], "--model"),
                                         (["train", "-solver", "s", "-gpu", "first"], "give GPU ids"),
                                         (["train", "-solver", "s", "-sigint_effect", "quit"], "invalid choice")])
def test_caffes_checks_are_argument_errors(argv, needle, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and needle in err and "Traceback" not in err


def test_train_as_caffe_writes_it(tmp_path, monkeypatch, capsys):
    """``caffe train -solver S -weights W`` as written, on a two-iteration copy of a fixture run.

    torch's numerics: the exact path limits the BLAS pools loaded when it first runs, and this test
    runs before tests/data loads OpenCV's own OpenBLAS (which tests/engine/layers/kernels/test_caffe_cpu.py
    then finds unlimited)."""
    root = workdir(tmp_path, "sgd_inv", caffe_snapshots=False)
    solver = root / "sgd_inv" / "solver.prototxt"
    text = solver.read_text()
    for old, new in (("max_iter: 50", "max_iter: 2"), ("snapshot: 25", "snapshot: 0"),
                     ("test_interval: 10", "test_interval: 1000\ntest_initialization: false")):
        assert old in text
        text = text.replace(old, new)
    solver.write_text(text)
    monkeypatch.chdir(root)
    code = main(["train", "-solver", "sgd_inv/solver.prototxt", "-weights", "init.caffemodel",
                 "-sigint_effect=stop", "-run_dir=run", "-iterations", "9", "--numerics=torch"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.startswith("note: -iterations has no effect on tunewiz train")
    assert "Finetuning from init.caffemodel" in err and "Optimization Done." in err
    assert (root / "run" / "train.log").is_file()
