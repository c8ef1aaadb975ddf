"""A net with a ``type: "Python"`` layer walks the wizard's steps and trains in the process it launches
(the user's module is found on PYTHONPATH, as Caffe finds it)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tunewiz.runs.follow import load_history
from tunewiz.wizard.app import WizardApp

from wizard_walk import check_start, set_input, text, to_net, until

@pytest.mark.asyncio
async def test_a_python_layer_walks_to_training(workspace, weights, monkeypatch):
    mods = Path(__file__).resolve().parents[1] / "fixtures" / "python_layer"  # pyrelu.py
    monkeypatch.syspath_prepend(str(mods))  # the wizard's own shape and transfer checks
    monkeypatch.setenv("PYTHONPATH", str(mods))  # the trainer it launches
    net = workspace["net"].read_text()
    assert 'name: "relu1"\n  type: "ReLU"' in net
    workspace["net"].write_text(net.replace('name: "relu1"\n  type: "ReLU"',
                                            'name: "relu1"\n  type: "Python"\n'
                                            '  python_param { module: "pyrelu" layer: "PyReLU" }'))
    app = WizardApp(runs_root=workspace["runs"])
    async with app.run_test(size=(80, 24)) as pilot:
        await to_net(pilot, app, workspace)
        table = app.screen.query_one("#layers")
        rows = [table.get_row_at(i)[1:] for i in range(table.row_count)]
        assert ["relu1", "Python"] == list(rows[[r[0] for r in rows].index("relu1")][:2])
        await pilot.press("ctrl+n")
        await until(pilot, lambda: type(app.screen).__name__ == "SolverScreen")
        await set_input(pilot, app, "#solver-src", str(workspace["solver"]))
        await until(pilot, lambda: app.state.solver is not None)
        await set_input(pilot, app, "#f-max_iter", "4")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: type(app.screen).__name__ == "StartScreen")
        await check_start(pilot, app, weights)
        assert "Checks passed" in text(app, "#status")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: type(app.screen).__name__ == "TrainScreen", what="Train screen")
        run = workspace["runs"] / "run1"
        end = time.monotonic() + 180
        while time.monotonic() < end and load_history(run).state != "finished":
            await pilot.pause(0.2)
        history = load_history(run)
        assert history.state == "finished" and history.iteration == 4, (run / "console.log").read_text()[-2000:]
