"""The Net screen's device choice at 80x24: the visible GPUs (faked: two), "several GPUs" picked with the keys,
the batch advice per GPU, and the trainer started with --gpu 0,1."""
from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest
from textual.widgets import Input, Select

from tunewiz.engine import devices
from tunewiz.runs import launch
from tunewiz.wizard.app import WizardApp

from wizard_walk import check_start, screen_text, set_input, text, to_net, until

pytestmark = pytest.mark.asyncio
TWO = [devices.Gpu(0, "Fake H200", 140 << 30), devices.Gpu(1, "Fake H200", 140 << 30)]


def _record_launches(monkeypatch) -> list:
    """launch.spawn_detached records the trainer's command instead of starting it (its pid: a process that
    has ended, so the Train screen finds no trainer)."""
    started = []
    ended = subprocess.Popen(["true"])
    ended.wait()

    def spawn(cmd, run_dir, *args, **kwargs):
        started.append(cmd)
        return SimpleNamespace(pid=ended.pid)

    monkeypatch.setattr(launch, "spawn_detached", spawn)
    return started


async def test_several_gpus_reach_the_trainer_as_gpu_0_1(workspace, weights, monkeypatch):
    monkeypatch.setattr(devices, "visible_gpus", lambda: TWO)
    app = WizardApp(runs_root=workspace["runs"])
    async with app.run_test(size=(80, 24)) as pilot:
        await to_net(pilot, app, workspace)
        assert "GPU 0: Fake H200, 140" in screen_text(app) and "GPU 1: Fake H200" in screen_text(app)
        assert "N x batch_size images" in text(app, "#device-why")
        assert app.screen.query_one("#device", Select).value == "one" and app.state.device == ""  # the default
        app.screen.query_one("#device", Select).focus()
        await pilot.pause()
        await pilot.press("enter", "down", "enter")  # one GPU -> several GPUs
        await until(pilot, lambda: app.state.device == "several" and not app.screen.pending
                    and app.state.net is not None, what="several GPUs planned")
        assert app.screen.query_one("#gpu-ids", Input).value == "0,1" and app.state.gpu_ids == "0,1"
        assert "2 GPUs: each runs batch_size" in text(app, "#batch-advice")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: type(app.screen).__name__ == "SolverScreen", what="Solver screen")
        await set_input(pilot, app, "#solver-src", str(workspace["solver"]))
        await until(pilot, lambda: app.state.solver is not None, what="solver copy")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: type(app.screen).__name__ == "StartScreen", what="Start screen")
        await check_start(pilot, app, weights)
        started = _record_launches(monkeypatch)  # from here on (the conversion process is launched too)
        await pilot.press("ctrl+n")
        await until(pilot, lambda: bool(started), what="the trainer's launch")
    (cmd,) = started
    assert cmd[cmd.index("--gpu") + 1] == "0,1"
    assert launch.read_launch(app.state.run_dir)["command"] == cmd


async def test_without_a_gpu_the_choice_says_so_and_offers_the_cpu(workspace, monkeypatch):
    monkeypatch.setattr(devices, "visible_gpus", lambda: [])
    app = WizardApp(runs_root=workspace["runs"])
    async with app.run_test(size=(80, 24)) as pilot:
        await to_net(pilot, app, workspace)
        assert "No CUDA GPU is visible here" in text(app, "#device-list")
        select = app.screen.query_one("#device", Select)
        assert select.value == "cpu" and [v for _, v in select._options] == ["cpu"]
        assert not app.screen.query_one("#gpu-ids-row").display and app.state.device == ""
