"""A model released as deploy + caffemodel only, through the wizard at 80x24 (issue 11), and the numerics choice.

The long walk: a Model Zoo folder with a deploy, weights written by tunewiz and a readme (no train_val,
no solver) -> the sample's images converted at 20x20 -> Net: refused until the pretrained preprocessing
is chosen, then 'nothing subtracted' with scale 1/256 -> Solver: no source, Caffe's defaults shown,
torch numerics -> Start (the folder) -> Train -> Done, whose command, run again in a fresh process,
writes the same files.
"""
from __future__ import annotations

import copy
import json
import shlex
import shutil
import subprocess
import sys

import pytest

from tunewiz.caffe.prototxt import read_net_text, read_solver_text
from tunewiz.wizard import core
from tunewiz.wizard.app import WizardApp
from tunewiz.wizard.state import SAMPLE_DIR

from wizard_helpers import make_deploy_zoo
from wizard_walk import assert_frame, convert, set_input, shot, text, until

pytestmark = pytest.mark.asyncio
COPIES = ("train_val.prototxt", "deploy.prototxt", "solver.prototxt")


async def choose(pilot, app, selector: str, downs: int) -> None:
    """Open a Select with Enter, move down ``downs`` options, Enter: as a keyboard user does."""
    app.screen.query_one(selector).focus()
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    await pilot.press(*["down"] * downs, "enter")
    await pilot.pause()


def _finetune(cwd, *argv) -> None:
    done = subprocess.run([sys.executable, "-m", "tunewiz", "finetune", *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def _same_run(run, moved) -> None:
    for name in COPIES:
        assert (run / name).read_bytes() == (moved / name).read_bytes(), name
    assert json.loads((run / "finetune.json").read_text()) == json.loads((moved / "finetune.json").read_text())


async def _net_step(pilot, app) -> None:
    """Net: the deploy is refused until its preprocessing is said; then nothing subtracted, scale 1/256."""
    st = app.state
    await until(pilot, lambda: type(app.screen).__name__ == "NetScreen" and "Problem" in text(app, "#status"),
                what="the preprocessing question")
    seen = assert_frame(app, 3)
    assert "Pretrained preprocessing" in seen and "choose the preprocessing its weights learned" in seen
    assert "does not record what its weights were trained on" in seen  # the why, on the screen
    assert "Problem: the net is a deploy" in seen and "Pretrained preprocessing" in text(app, "#status")
    assert st.net_kind == "deploy" and st.net is None
    await pilot.press("ctrl+n")  # refused, in words
    await pilot.pause()
    assert type(app.screen).__name__ == "NetScreen" and "Pretrained preprocessing" in text(app, "#status")
    await choose(pilot, app, "#pre-choice", 3)  # prompt, ImageNet, own mean file, nothing subtracted
    assert st.preprocessing == "none"
    await set_input(pilot, app, "#pre-scale", "0.00390625", submit=False)  # typed, Enter not pressed:
    await until(pilot, lambda: not app.screen.pending and st.net is not None, what="the copy from the deploy")
    await pilot.press("ctrl+n")  # Next applies it first (and stays): the copy must be what was typed
    assert type(app.screen).__name__ == "NetScreen"
    await until(pilot, lambda: not app.screen.pending and st.net is not None and st.scale == 0.00390625,
                what="the copy with the scale")
    assert "it subtracts the mean values 0, scale 0.00390625" in text(app, "#mean-note")
    assert "train_val written from the deploy" in text(app, "#freeze-report")


async def _walk(pilot, app, zoo) -> str:
    st = app.state
    await pilot.pause()
    await pilot.press("down", "down", "enter")  # "Start from a Model Zoo folder..."
    await until(pilot, lambda: type(app.screen).__name__ == "FilePicker", what="picker")
    app.screen.query_one("#picker-path").focus()
    app.screen.query_one("#picker-path").value = str(zoo)
    await pilot.press("enter")
    await until(pilot, lambda: type(app.screen).__name__ == "DataScreen", what="Data screen")
    st = app.state  # Welcome made a new one
    assert (st.net_src, st.deploy_src, st.solver_src) == (str(zoo / "deploy.prototxt"), "", "")
    await set_input(pilot, app, "#resize-w", "20", submit=False)  # the deploy takes 20x20
    await set_input(pilot, app, "#resize-h", "20", submit=False)
    await convert(pilot, app, SAMPLE_DIR / "images")
    await pilot.press("ctrl+n")
    await _net_step(pilot, app)
    await pilot.press("ctrl+n")
    await until(pilot, lambda: type(app.screen).__name__ == "SolverScreen" and st.solver is not None,
                what="the solver from the defaults")
    assert "Caffe's fine-tuning defaults" in assert_frame(app, 4)
    await set_input(pilot, app, "#f-max_iter", "10")
    await choose(pilot, app, "#numerics", 1)
    assert st.numerics == "torch" and "--numerics torch" in text(app, "#status")
    assert (st.solver.momentum, st.solver.lr_policy, st.solver.max_iter) == (pytest.approx(0.9), "step", 10)
    await pilot.press("ctrl+n")
    await until(pilot, lambda: type(app.screen).__name__ == "StartScreen" and app.screen.checked is not None
                and not app.screen.checking, what="start checks of the folder")
    assert app.screen.checked.ok, app.screen.checked.problem
    assert "sha1" in text(app, "#report") and "copied from the weights: conv1, conv2, ip1" in text(app, "#report")
    await pilot.press("ctrl+n")
    await until(pilot, lambda: type(app.screen).__name__ == "TrainScreen", what="Train screen")
    await until(pilot, lambda: app.screen.history.done and not app.screen.running, timeout=300,
                what="the 10 iterations")
    await pilot.press("ctrl+n")
    await until(pilot, lambda: type(app.screen).__name__ == "DoneScreen", what="Done screen")
    return text(app, "#commands")


async def test_a_deploy_only_model_folder_trains_and_its_command_replays(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the Done command's paths are relative to this folder
    zoo = make_deploy_zoo(tmp_path / "zoo", SAMPLE_DIR / "lenet_deploy.prototxt")
    app = WizardApp(runs_root=tmp_path / "runs", why_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        commands = await _walk(pilot, app, zoo)
    run = app.state.run_dir
    tv = read_net_text(run / "train_val.prototxt")
    types = [layer.type for layer in tv.layer]
    assert types[:2] == ["Data", "Data"] and types[-2:] == ["SoftmaxWithLoss", "Accuracy"] and "Softmax" not in types
    assert list(tv.layer[0].transform_param.mean_value) == [0] and tv.layer[0].transform_param.scale == pytest.approx(1 / 256)
    solver = read_solver_text(run / "solver.prototxt")
    assert (solver.lr_policy, solver.type or "SGD") == ("step", "SGD")  # Caffe's fine-tuning defaults
    assert [solver.momentum, solver.weight_decay, solver.gamma] == pytest.approx([0.9, 0.0005, 0.1])
    assert solver.base_lr == pytest.approx(0.001) and solver.max_iter == 10
    assert read_net_text(run / "deploy.prototxt").layer[-1].type == "Softmax"  # the deploy copy keeps it

    from tunewiz.runs.launch import read_launch

    assert read_launch(run)["command"][-2:] == ["--numerics", "torch"]  # the choice, to the trainer
    argv = shlex.split(commands.split("\ncaffe train")[0].replace("\\\n", " "))
    assert argv[:2] == ["tunewiz", "finetune"] and argv[-1] == "--train"
    for flag in ("--net=zoo/deploy.prototxt", "--model=zoo", "--mean-value=0.0", "--scale=0.00390625",
                 "--numerics=torch", "--max-iter=10"):
        assert flag in argv, (flag, argv)
    assert not any(a.startswith(("--solver", "--deploy")) for a in argv)
    moved = tmp_path / "moved"
    run.rename(moved)
    run.mkdir()
    (moved / "data").rename(run / "data")  # the databases are inputs: they stay where they were
    _finetune(tmp_path, *argv[2:-1])
    _same_run(run, moved)
    shutil.rmtree(moved)


async def _net_screen(pilot, app, state) -> None:
    from tunewiz.wizard.screens.net import NetScreen

    app.state = state
    await pilot.pause()
    app.push_screen(NetScreen())
    await until(pilot, lambda: bool(app.screen.query("#layers")), what="Net screen")


async def test_a_deploy_without_its_preprocessing_is_refused_with_the_choices(prepared):
    st = copy.copy(prepared["state"])
    st.net_src, st.deploy_src = st.deploy_src, ""  # the tiny deploy as the net source
    app = WizardApp(runs_root=st.runs_root, why_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await _net_screen(pilot, app, st)
        await until(pilot, lambda: "Problem" in text(app, "#status"), what="the refusal")
        status = text(app, "#status")
        for words in ("deploy", "Pretrained preprocessing", "104/117/123", "own mean file", "nothing subtracted"):
            assert words in status, status
        assert "Problem:" in shot(app).split("< Back")[0]  # the whole message shows above the buttons
        assert app.focused is app.screen.query_one("#pre-choice")  # the question is where the keys are
        await choose(pilot, app, "#pre-choice", 2)  # the model's own mean file: its path is asked
        assert app.screen.query_one("#pre-mean-row").display
        assert "type the model's own mean file" in text(app, "#status")
        await set_input(pilot, app, "#pre-scale", "bright")
        assert "scale must be a number" in text(app, "#status")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert type(app.screen).__name__ == "NetScreen"


async def test_a_train_val_asks_no_preprocessing(prepared):
    st = copy.copy(prepared["state"])
    app = WizardApp(runs_root=st.runs_root, why_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await _net_screen(pilot, app, st)
        await until(pilot, lambda: not app.screen.pending and st.net is not None, what="net plan")
        assert st.net_kind == "train_val" and not app.screen.query_one("#pre-box").display
        assert "Pretrained preprocessing" not in shot(app)


async def test_the_numerics_choice_is_the_runs_option(prepared):
    from tunewiz.wizard.screens.solver import SolverScreen

    st = copy.copy(prepared["state"])
    st.net_plan = core.net_plan_for_solver(st)
    app = WizardApp(runs_root=st.runs_root, why_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.state = st
        await pilot.pause()
        app.push_screen(SolverScreen())
        await until(pilot, lambda: st.solver is not None, what="solver copy")
        assert core.options_for(st).numerics == "caffe"
        await choose(pilot, app, "#numerics", 1)
        assert st.numerics == "torch"
        await pilot.press("f1")
        await pilot.pause()
        assert "Caffe's order or torch's kernels?" in text(app, "#why-text")
    opts = core.options_for(st)
    assert opts.numerics == "torch" and "--numerics=torch" in opts.command_line(train=True)
