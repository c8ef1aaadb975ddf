"""The Done screen's command lines: one flag per line, paths relative to the folder the wizard runs in."""
from __future__ import annotations

import shlex

from tunewiz.wizard.core_run import command_lines, short_path
from tunewiz.wizard.state import WizardState


def _sample_state(root):
    st = WizardState(runs_root=root / "runs")
    st.use_sample()
    st.train_db = str(st.run_dir / "data" / "train_lmdb")
    st.val_db = str(st.run_dir / "data" / "val_lmdb")
    st.new_name = "ip2_digits59"
    return st


def test_short_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert short_path(tmp_path / "runs" / "a") == "runs/a"
    assert short_path("/elsewhere/x.caffemodel") == "/elsewhere/x.caffemodel"
    assert short_path("") == ""


def test_lines_fit_80_columns_and_parse_back(tmp_path, monkeypatch):
    from tunewiz.wizard.state import SAMPLE_DIR

    monkeypatch.chdir(SAMPLE_DIR.parents[1])  # the repository's root, as the README starts the wizard
    st = _sample_state(SAMPLE_DIR.parents[1])
    text = command_lines(st, st.run_dir)
    assert all(len(line) <= 78 for line in text.splitlines()), text
    finetune = text.split("\ncaffe train")[0]
    argv = shlex.split(finetune.replace("\\\n", " "))
    assert argv[:2] == ["tunewiz", "finetune"]
    assert argv[argv.index("--net") + 1] == "sample_models/lenet_digits/lenet_train_val.prototxt"
    assert argv[argv.index("--out") + 1] == f"runs/{st.run_name}"
    assert argv[-1] == "--train"
    caffe = shlex.split(text.split("\ncaffe train")[1].split("\ntunewiz train")[0].replace("\\\n", " "))
    assert caffe == ["--solver", f"runs/{st.run_name}/solver.prototxt",
                     "--weights", "sample_models/lenet_digits/lenet_digits04.caffemodel"]


def test_every_flag_shown_is_one_finetune_takes(tmp_path, monkeypatch):
    import argparse

    from tunewiz.commands import finetune

    monkeypatch.chdir(tmp_path)
    st = _sample_state(tmp_path)
    st.freeze_through, st.gpu_memory = "conv2", "8G"
    st.solver_overrides = {"max_iter": 300, "snapshot": 50}
    parser = argparse.ArgumentParser()
    finetune.add_arguments(parser, "finetune")
    argv = shlex.split(command_lines(st, st.run_dir).split("\ncaffe train")[0].replace("\\\n", " "))
    args = parser.parse_args(argv[2:])  # exits (SystemExit) on a flag finetune does not know
    assert args.freeze_through == "conv2" and args.max_iter == 300 and args.train
