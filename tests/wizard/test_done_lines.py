"""The Done screen's command lines: the run's own FinetuneOptions, one flag per line, paths relative to the
folder the wizard runs in."""
from __future__ import annotations

import argparse
import json
import shlex

from tunewiz.wizard.core import options_for
from tunewiz.wizard.core_run import command_lines, run_options, short_path
from tunewiz.wizard.state import SAMPLE_DIR, WizardState


def _sample_state(root):
    st = WizardState(runs_root=root / "runs")
    st.use_sample()
    st.train_db = str(st.run_dir / "data" / "train_lmdb")
    st.val_db = str(st.run_dir / "data" / "val_lmdb")
    st.mean_file = str(st.run_dir / "data" / "mean.binaryproto")
    st.new_name = "ip2_digits59"
    return st


def _finetune_argv(text: str) -> list[str]:
    return shlex.split(text.split("\ncaffe train")[0].replace("\\\n", " "))


def test_short_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert short_path(tmp_path / "runs" / "a") == "runs/a"
    assert short_path("/elsewhere/x.caffemodel") == "/elsewhere/x.caffemodel"
    assert short_path("") == ""


def test_lines_fit_80_columns_and_parse_back(monkeypatch):
    monkeypatch.chdir(SAMPLE_DIR.parents[2])  # the repository's root, as the README starts the wizard
    st = _sample_state(SAMPLE_DIR.parents[2])
    st.options = options_for(st)
    text = command_lines(st, st.run_dir)
    assert all(len(line) <= 78 for line in text.splitlines()), text
    argv = _finetune_argv(text)
    assert argv == shlex.split(st.options.command_line(train=True, path_text=short_path))
    assert argv[:2] == ["tunewiz", "finetune"] and argv[-1] == "--train"
    assert "--net=tunewiz/sample_models/lenet_digits/lenet_train_val.prototxt" in argv
    assert f"--out=runs/{st.run_name}" in argv and "--max-iter=100" in argv
    assert not any(a.startswith("--mean-file") for a in argv)  # the pretrained net's mean is kept
    assert "# then" not in text  # every choice is a flag: nothing to edit by hand afterwards
    caffe = shlex.split(text.split("\ncaffe train")[1].split("\ntunewiz train")[0].replace("\\\n", " "))
    assert caffe == ["--solver", f"runs/{st.run_name}/solver.prototxt",
                     "--weights", "tunewiz/sample_models/lenet_digits/lenet_digits04.caffemodel"]


def test_every_choice_is_a_flag_finetune_takes_back(tmp_path, monkeypatch):
    from tunewiz.commands import finetune
    from tunewiz.recipe.options import from_args

    monkeypatch.chdir(tmp_path)
    st = _sample_state(tmp_path)
    st.freeze_through, st.gpu_memory, st.new_mean, st.lr_divisor = "conv2", "8G", True, 100.0
    st.max_iter, st.snapshot_every, st.base_lr, st.stepsize, st.test_iter, st.test_interval = 300, 50, 0.002, 70, 4, 9
    st.options = options_for(st)
    parser = argparse.ArgumentParser()
    finetune.add_arguments(parser, "finetune")
    args = parser.parse_args(_finetune_argv(command_lines(st, st.run_dir))[2:])  # SystemExit on an unknown flag
    assert args.train and from_args(args) == st.options  # the same run, every solver edit included
    assert st.options.mean_file == str(st.run_dir / "data" / "mean.binaryproto")
    assert (st.options.max_iter, st.options.stepsize, st.options.base_lr) == (300, 70, 0.002)


def test_the_run_folders_own_options_come_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    st = _sample_state(tmp_path)
    written = options_for(st).replace(freeze_through="conv1")
    st.run_dir.mkdir(parents=True)
    (st.run_dir / "finetune.json").write_text(json.dumps({"sha256": {}, "options": written.to_json()}))
    st.options = options_for(st)
    assert run_options(st, st.run_dir) == written
    assert "--freeze-through=conv1" in command_lines(st, st.run_dir)
    (st.run_dir / "finetune.json").write_text(json.dumps({"sha256": {}}))  # an older run folder
    assert run_options(st, st.run_dir) == st.options
    assert run_options(WizardState(runs_root=tmp_path / "runs"), st.run_dir) is None
    assert command_lines(WizardState(), st.run_dir).startswith("caffe train")
