"""The progress panel, re-attach, the Done screen and quitting while a training runs."""
from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

from tunewiz.runs import events as ev
from tunewiz.runs import launch
from tunewiz.wizard.app import WizardApp

from wizard_helpers import SIZES
from wizard_walk import assert_frame, screen_text, shot, text, until

pytestmark = pytest.mark.asyncio

TRAINER_LIKE = "import time  # stands in for tunewiz train\nwhile True: time.sleep(0.05)\n"


def write_run(run, *, stopped: bool = True):
    run.mkdir(parents=True, exist_ok=True)
    events = [ev.Started(0, 20, "cpu", "solver.prototxt", "train_val.prototxt")]
    for i in range(1, 11):
        events.append(ev.IterationDone(i, 2.0 / i, 2.5 / i, 0.01, 400.0 + i))
        if i % 5 == 0:
            events.append(ev.TestDone(i, 0, {"accuracy": 0.4 + i / 50, "loss": 1.0 / i}))
    events.append(ev.SnapshotSaved(10, [str(run / "r_iter_10.caffemodel"), str(run / "r_iter_10.solverstate")]))
    if stopped:
        events += [ev.Stopped(10, "stop requested (SIGINT)"), ev.Finished(10)]
    with open(run / "events.jsonl", "w") as f:
        f.writelines(ev.to_json(e) + "\n" for e in events)
    (run / "train.log").write_text("I1127 20:00:00.000000  1 solver.cpp:218] Iteration 10 (4 iter/s), loss = 0.25\n")
    return run


@pytest.mark.parametrize("size", SIZES)
async def test_attach_shows_the_whole_history(tmp_path, size):
    run = write_run(tmp_path / "runs" / "r1")
    app = WizardApp(runs_root=tmp_path / "runs", attach=run)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: type(app.screen).__name__ == "TrainScreen" and app.screen.history.iters,
                    what="events")
        # the plots are drawn on a later refresh: wait for them, not for a fixed time
        await until(pilot, lambda: "test accuracy" in shot(app) and "loss (raw, dots)" in shot(app) and "STOPPED" in text(app, "#progress-line"),
                    what="plots and progress drawn")
        line = text(app, "#progress-line")
        assert "STOPPED" in line and "iteration 10/20" in line and "50%" in line
        stats = text(app, "#stats")
        assert "loss 0.2000 (smoothed 0.2500)" in stats and "images/s 410" in stats and "device cpu" in stats
        assert "accuracy 0.6000" in stats and "snapshots: 1" in stats and "SIGINT" in stats
        assert "Iteration 10 (4 iter/s), loss = 0.25" in text(app, "#loglines")
        assert app.screen.history.accuracy == pytest.approx([0.5, 0.6])
        seen = shot(app)
        assert "STOPPED" in seen and "iteration 10/20" in seen
        assert "loss (raw, dots)" in seen and "test accuracy" in seen  # both plots drawn, legends in words
        await pilot.press("x")  # not running: says so, no question asked
        await pilot.pause()
        assert "not running" in text(app, "#status")


async def test_panel_follows_new_events(tmp_path):
    run = tmp_path / "runs" / "live"
    run.mkdir(parents=True)
    (run / "events.jsonl").write_text(ev.to_json(ev.Started(0, 100, "cpu", "s", "n")) + "\n")
    app = WizardApp(runs_root=tmp_path / "runs", attach=run)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.screen.history.max_iter == 100, what="started")
        with open(run / "events.jsonl", "a") as f:
            f.write(ev.to_json(ev.IterationDone(7, 1.5, 1.6, 0.001, 99.0)) + "\n")
        await until(pilot, lambda: app.screen.history.iteration == 7, what="iteration 7")
        await pilot.pause(0.1)
        assert "iteration 7/100" in text(app, "#progress-line")


async def test_attach_before_the_first_event_says_it_waits_then_follows(tmp_path):
    """Issue 19: `tunewiz attach` right after starting a trainer in the background, before its events.jsonl."""
    run = tmp_path / "runs" / "fresh"
    run.mkdir(parents=True)
    proc = launch.spawn_detached([sys.executable, "-c", TRAINER_LIKE], run)  # its train.pid: alive
    try:
        app = WizardApp(runs_root=tmp_path / "runs", attach=run)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: "first event" in text(app, "#progress-line"), what="the waiting line")
            line = text(app, "#progress-line")
            assert line.startswith("RUNNING") and "waiting for the trainer's first event" in line, line
            assert "waiting for the trainer's first event" in shot(app).replace("\n", " ")
            with open(run / "events.jsonl", "w") as f:
                f.write(ev.to_json(ev.Started(0, 100, "cpu", "s", "n")) + "\n")
                f.write(ev.to_json(ev.IterationDone(3, 1.5, 1.6, 0.001, 99.0)) + "\n")
            await until(pilot, lambda: "iteration 3/100" in text(app, "#progress-line"), what="iteration 3")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


async def test_a_run_whose_trainer_ended_before_its_first_event_says_so(tmp_path):
    run = tmp_path / "runs" / "failed"
    run.mkdir(parents=True)
    app = WizardApp(runs_root=tmp_path / "runs", attach=run)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "no event" in text(app, "#progress-line"), what="the progress line")
        assert text(app, "#progress-line").startswith("NOT RUNNING  no event: the trainer ended before its first")


async def test_quit_while_training_asks_and_leaves_it_running(tmp_path):
    run = write_run(tmp_path / "runs" / "busy", stopped=False)
    proc = launch.spawn_detached([sys.executable, "-c", TRAINER_LIKE], run)
    try:
        app = WizardApp(runs_root=tmp_path / "runs", attach=run)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.screen.running, what="running")
            await pilot.press("ctrl+q")
            await until(pilot, lambda: type(app.screen).__name__ == "Confirm", what="question")
            assert "still running" in screen_text(app)
            await pilot.press("enter")  # first choice: leave it running and quit
            await pilot.pause()
        assert proc.poll() is None and launch.is_running(run)  # the wizard left, training did not
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


async def test_stop_key_asks_then_sends_sigint(tmp_path):
    run = write_run(tmp_path / "runs" / "busy", stopped=False)
    code = ("import signal, sys, time, pathlib  # train\n"
            "signal.signal(signal.SIGINT, lambda *a: (pathlib.Path('stopped').write_text('x'), sys.exit(0)))\n"
            "pathlib.Path('ready').write_text('x')\nwhile True: time.sleep(0.05)\n")
    proc = launch.spawn_detached([sys.executable, "-c", code], run)
    try:
        end = time.monotonic() + 10
        while not (run / "ready").exists() and time.monotonic() < end:
            time.sleep(0.02)
        app = WizardApp(runs_root=tmp_path / "runs", attach=run)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.screen.running, what="running")
            await pilot.press("x")
            await until(pilot, lambda: type(app.screen).__name__ == "Confirm", what="question")
            await pilot.press("down", "enter")  # "No, keep training"
            await pilot.pause(0.2)
            assert not (run / "stopped").exists()
            await pilot.press("x")
            await until(pilot, lambda: type(app.screen).__name__ == "Confirm", what="question")
            await pilot.press("enter")  # "Yes, stop it"
            await until(pilot, lambda: (run / "stopped").exists(), what="SIGINT reached the trainer")
            await until(pilot, lambda: not app.screen.running, what="stopped")
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize("size", SIZES)
async def test_done_screen_shows_results_and_commands(tmp_path, size):
    run = write_run(tmp_path / "runs" / "r1")
    (run / "solver.prototxt").write_text('net: "train_val.prototxt"\n')
    (run / "launch.json").write_text(json.dumps({"solver": str(run / "solver.prototxt"),
                                                 "weights": ["/models/pre.caffemodel"], "snapshot": ""}))
    app = WizardApp(runs_root=tmp_path / "runs", attach=run)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.screen.history.done, what="history")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: type(app.screen).__name__ == "DoneScreen", what="Done screen")
        assert "Best test accuracy 0.6000, last 0.6000 after 10 iterations" in text(app, "#results")
        assert "solver.prototxt" in text(app, "#files")
        commands = text(app, "#commands")
        assert (f"caffe train \\\n    --solver {run / 'solver.prototxt'} \\\n    --weights /models/pre.caffemodel"
                in commands)
        seen = assert_frame(app, 7)
        assert "Best test accuracy 0.6000" in seen


async def test_welcome_lists_runs_and_reopens_one(tmp_path):
    write_run(tmp_path / "runs" / "old")
    app = WizardApp(runs_root=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        prompts = [str(o.prompt) for o in app.screen.query_one("#choices").options]
        assert prompts[4].strip() == "Open old  [stopped]  iter 10/20"
        await pilot.press("down", "down", "down", "down")
        await pilot.pause()
        assert str(app.screen.query_one("#choices").options[4].prompt).startswith("> ")  # marked, not only coloured
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "TrainScreen" and app.screen.history.iters)
        assert app.screen.run_dir == tmp_path / "runs" / "old"


async def test_continue_a_run_folder_with_the_picker(tmp_path):
    run = write_run(tmp_path / "elsewhere" / "r9")
    app = WizardApp(runs_root=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("down", "down", "down", "enter")  # "Continue a run folder..."
        await until(pilot, lambda: type(app.screen).__name__ == "FilePicker", what="picker")
        picker_input = app.screen.query_one("#picker-path")
        picker_input.focus()
        picker_input.value = str(tmp_path / "elsewhere")  # not a run folder
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "WelcomeScreen")
        assert "has no events.jsonl" in text(app, "#status")
        await pilot.press("enter")  # the highlighted choice is still "Continue a run folder..."
        await until(pilot, lambda: type(app.screen).__name__ == "FilePicker", what="picker again")
        app.screen.query_one("#picker-path").focus()
        app.screen.query_one("#picker-path").value = str(run)
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "TrainScreen" and app.screen.history.iters)
        assert app.state.run_dir == run


async def test_plots_are_drawn_only_while_the_panel_is_shown(tmp_path, monkeypatch):
    """A hidden progress panel (the Done screen or a file picker on top) keeps its numbers, skips the plots."""
    from textual.screen import Screen

    from tunewiz.wizard.screens.train import TrainScreen

    drawn: list[int] = []
    original = TrainScreen._draw_plots

    def counting(self, snapshot, sizes):
        drawn.append(snapshot.iteration)
        return original(self, snapshot, sizes)

    monkeypatch.setattr(TrainScreen, "_draw_plots", counting)
    run = write_run(tmp_path / "runs" / "r1", stopped=False)
    app = WizardApp(runs_root=tmp_path / "runs", attach=run)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: 10 in drawn, what="first plot")
        panel = app.screen
        app.push_screen(Screen())  # a full screen on top (a modal dialog leaves the panel visible)
        await until(pilot, lambda: not panel.plots_visible(), what="another screen on top")
        with open(run / "events.jsonl", "a") as f:
            f.write(ev.to_json(ev.IterationDone(11, 0.1, 0.1, 0.01, 400.0)) + "\n")
        await until(pilot, lambda: panel.history.iteration == 11, what="events read while hidden")
        await pilot.pause(0.6)  # a few polls of the follower
        assert 11 not in drawn
        app.pop_screen()
        await until(pilot, lambda: 11 in drawn, what="plot redrawn when shown again")


async def test_ctrl_c_in_the_wizard_does_not_reach_the_training(tmp_path):
    """Ctrl+C is a key for the wizard (Textual says how to quit); the trainer, in its own session, gets nothing."""
    run = write_run(tmp_path / "runs" / "busy", stopped=False)
    trainer = ("import pathlib, signal, time  # stands in for tunewiz train\n"
               "signal.signal(signal.SIGINT, lambda *a: pathlib.Path('got-sigint').write_text('x'))\n"
               "pathlib.Path('ready').write_text('x')\nwhile True: time.sleep(0.05)\n")
    proc = launch.spawn_detached([sys.executable, "-c", trainer], run)
    try:
        end = time.monotonic() + 60
        while not (run / "ready").exists() and time.monotonic() < end:
            time.sleep(0.02)
        app = WizardApp(runs_root=tmp_path / "runs", attach=run)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.screen.running, what="running")
            await pilot.press("ctrl+c")
            await pilot.pause(0.3)
            assert type(app.screen).__name__ == "TrainScreen" and app.is_running
        assert os.getsid(proc.pid) != os.getsid(0)  # a terminal's SIGINT/SIGHUP go to the wizard's session only
        assert proc.poll() is None and not (run / "got-sigint").exists()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
