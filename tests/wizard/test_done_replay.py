"""The issue's "Done when": the Done screen's command makes the run folder the wizard made, byte for byte.

A Pilot walk (80x24) of the bundled sample with choices away from the defaults (another output name,
a freeze, the new data's mean, solver edits) trains it to Done; the run folder is moved aside (the
databases, inputs, go back where they were) and the Done screen's ``tunewiz finetune`` command, without
``--train``, runs in a fresh process: it writes train_val, deploy and solver byte-identical to the
wizard's and an equal finetune.json.  So does ``tunewiz finetune --options`` on the moved finetune.json.
"""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys

import pytest

from tunewiz.wizard.app import WizardApp
from tunewiz.wizard.state import SAMPLE_DIR

from wizard_walk import set_input, text, until

pytestmark = pytest.mark.asyncio
COPIES = ("train_val.prototxt", "deploy.prototxt", "solver.prototxt")


def _same_run(run, moved) -> None:
    for name in COPIES:
        assert (run / name).read_bytes() == (moved / name).read_bytes(), name
    assert json.loads((run / "finetune.json").read_text()) == json.loads((moved / "finetune.json").read_text())


def _finetune(cwd, *argv) -> None:
    done = subprocess.run([sys.executable, "-m", "tunewiz", "finetune", *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


async def _walk_to_done(pilot, app) -> str:
    """Sample, convert; Net: rename, freeze through conv1, the new mean; Solver: edits; Start; train; Done."""
    from tunewiz.caffe.prototxt import to_text

    await pilot.pause()
    await pilot.press("enter")  # "Open the bundled sample"
    await until(pilot, lambda: type(app.screen).__name__ == "DataScreen" and app.screen.scan is not None)
    st = app.state  # the Welcome step made it
    await pilot.press("enter")  # Convert
    await until(pilot, lambda: bool(st.train_db) and bool(st.mean_file), what="conversion and mean")
    await pilot.press("ctrl+n")
    await until(pilot, lambda: type(app.screen).__name__ == "NetScreen" and st.net is not None
                and not app.screen.pending, what="net copy")
    assert "keeps that preprocessing" in text(app, "#mean-note") and not st.new_mean  # default: keep it
    await set_input(pilot, app, "#new-name", "digits_head")
    await until(pilot, lambda: st.new_name == "digits_head" and st.net is not None, what="renamed copy")
    table = app.screen.query_one("#layers")
    names = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]
    table.focus()
    table.move_cursor(row=names.index("conv1"))
    await pilot.press("f")
    await until(pilot, lambda: st.freeze_through == "conv1" and st.net is not None, what="frozen copy")
    mean = app.screen.query_one("#new-mean")
    mean.focus()
    await pilot.press("space")  # tick: the new data's mean
    await until(pilot, lambda: st.new_mean and st.net is not None, what="copy with the new mean")
    assert "Chosen: the new data's mean" in text(app, "#mean-note")
    net_shown = to_text(st.net)
    assert 'name: "digits_head"' in net_shown and "mean.binaryproto" in net_shown
    await pilot.press("ctrl+n")
    await until(pilot, lambda: type(app.screen).__name__ == "SolverScreen" and st.solver is not None)
    for name, value in (("max_iter", "20"), ("base_lr", "0.002"), ("test_interval", "5")):
        await set_input(pilot, app, f"#f-{name}", value)
    await until(pilot, lambda: st.solver is not None and st.solver.test_interval == 5, what="solver edits")
    assert (st.max_iter, st.base_lr, st.test_interval) == (20, 0.002, 5)
    solver_shown = to_text(st.solver)
    await pilot.press("ctrl+n")
    await until(pilot, lambda: type(app.screen).__name__ == "StartScreen" and app.screen.checked is not None
                and not app.screen.checking, what="start checks")
    assert app.screen.checked.ok, app.screen.checked.problem
    await pilot.press("ctrl+n")
    await until(pilot, lambda: type(app.screen).__name__ == "TrainScreen", what="Train screen")
    run = st.run_dir
    # what the Net and Solver screens showed is what Start wrote
    assert (run / "train_val.prototxt").read_text() == net_shown
    assert (run / "solver.prototxt").read_text() == solver_shown
    await until(pilot, lambda: app.screen.history.done and not app.screen.running, timeout=300,
                what="the 20 iterations")
    await pilot.press("ctrl+n")
    await until(pilot, lambda: type(app.screen).__name__ == "DoneScreen", what="Done screen")
    return text(app, "#commands")


async def test_the_done_command_makes_the_same_run_folder(tmp_path, monkeypatch):
    if not (SAMPLE_DIR / "lenet_digits04.caffemodel").is_file():
        pytest.skip("the bundled sample is not in this checkout")
    monkeypatch.chdir(tmp_path)  # the command's paths are relative to the folder the wizard runs in
    app = WizardApp(runs_root=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        commands = await _walk_to_done(pilot, app)
    run = app.state.run_dir
    argv = shlex.split(commands.split("\ncaffe train")[0].replace("\\\n", " "))
    assert argv[:2] == ["tunewiz", "finetune"] and argv[-1] == "--train"
    for flag in ("--rename=digits_head", "--freeze-through=conv1", "--base-lr=0.002", "--test-interval=5",
                 "--max-iter=20", f"--mean-file=runs/{run.name}/data/mean.binaryproto"):
        assert flag in argv, (flag, argv)

    from tunewiz.runs.launch import read_launch

    assert read_launch(run)["command"][-2:] == ["--numerics", "caffe"]  # the options' numerics, to the trainer
    moved = tmp_path / "moved"
    run.rename(moved)
    run.mkdir()
    (moved / "data").rename(run / "data")  # the databases and the mean are inputs: they stay where they were
    _finetune(tmp_path, *argv[2:-1])
    _same_run(run, moved)

    for name in (*COPIES, "finetune.json"):
        (run / name).unlink()
    _finetune(tmp_path, "--options", str(moved / "finetune.json"))
    _same_run(run, moved)
    shutil.rmtree(moved)
