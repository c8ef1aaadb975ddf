"""End to end: the wizard starts a real (short, CPU) training that outlives the wizard; attach shows it."""
from __future__ import annotations

import importlib.util
import os
import signal
import time

import pytest

from tunewiz.runs import launch
from tunewiz.wizard.app import WizardApp
from tunewiz.runs.follow import load_history

from wizard_helpers import state_at_start
from wizard_walk import check_start, press_button, text
from wizard_walk import until as _until

# A loaded machine (load 5 on 2 cores) can take a minute to start torch and a trainer: every wait
# polls its condition every 50 ms and gives up only after WAIT_S (no fixed sleeps).
WAIT_S = float(os.environ.get("TUNEWIZ_TEST_WAIT_S", "300"))


async def until(pilot, cond, timeout: float = WAIT_S, what: str = "condition") -> None:
    await _until(pilot, cond, timeout=max(timeout, WAIT_S), what=what)

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.skipif(importlib.util.find_spec("tunewiz.commands.train") is None,
                       reason="'tunewiz train' is not in this build yet"),
]


def _wait(cond, timeout=WAIT_S):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return False


async def test_training_outlives_the_wizard_and_attach_shows_it(prepared):
    from tunewiz.wizard.screens.start import StartScreen

    state = state_at_start(prepared, "e2e", max_iter=100000)  # runs until stopped
    run = state.run_dir
    app = WizardApp(runs_root=state.runs_root)
    pid = None
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            app.state = state
            app.push_screen(StartScreen())
            await until(pilot, lambda: bool(app.screen.query("#start-path")), what="Start screen")
            await check_start(pilot, app, prepared["weights"])
            await pilot.press("ctrl+n")
            await until(pilot, lambda: type(app.screen).__name__ == "TrainScreen")
            pid = launch.read_pid(run)
            await until(pilot, lambda: app.screen.history.iteration >= 3, timeout=120, what="iterations")
            assert "RUNNING" in text(app, "#progress-line")
            await pilot.press("ctrl+q")
            await until(pilot, lambda: type(app.screen).__name__ == "Confirm")
            await pilot.press("enter")  # leave it running and quit
        # The wizard is gone; the trainer goes on in its own session.
        assert os.getsid(pid) == pid != os.getsid(0)
        seen = load_history(run).iteration
        assert _wait(lambda: load_history(run).iteration > seen + 2), "training stopped with the wizard"
        assert launch.is_running(run)

        again = WizardApp(runs_root=state.runs_root, attach=run)
        async with again.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: again.screen.history.iteration > seen, what="history on attach")
            h = again.screen.history
            assert h.iters[0] == 0 and h.max_iter == 100000 and h.device
            assert h.accuracy  # test_interval 5: tests ran and were plotted
            await pilot.press("x")
            await until(pilot, lambda: type(again.screen).__name__ == "Confirm")
            await pilot.press("enter")  # yes, stop: SIGINT, the trainer snapshots first
            await until(pilot, lambda: again.screen.history.done, timeout=120, what="stopped event")
            await until(pilot, lambda: not again.screen.running, timeout=30, what="trainer exit")
            stopped_at = again.screen.history.iteration
            await pilot.press("r")  # resume from the stop's snapshot, same solver
            await until(pilot, lambda: again.screen.history.state == "running", timeout=30, what="resumed")
            await until(pilot, lambda: again.screen.history.iteration > stopped_at + 2, timeout=120, what="resumed")
            assert again.screen.history.start_iter == stopped_at
            await pilot.press("x")
            await until(pilot, lambda: type(again.screen).__name__ == "Confirm")
            await pilot.press("enter")
            await until(pilot, lambda: again.screen.history.done and not again.screen.running, timeout=120)
            await pilot.press("ctrl+n")  # Done: results and a quick try with the snapshot
            await until(pilot, lambda: type(again.screen).__name__ == "DoneScreen")
            await press_button(pilot, again, "#try")
            await until(pilot, lambda: "record 0:" in text(again, "#try-result"), timeout=120, what="quick try")
            tried = text(again, "#try-result")
            assert "true " in tried and "predicted " in tried and ("right" in tried or "WRONG" in tried)
        h = load_history(run)
        assert h.state == "stopped" and any(p.endswith(".caffemodel") for p in h.snapshots)
        assert _wait(lambda: not launch.is_running(run))
    finally:  # a failed test leaves no trainer behind (the first one, or the resumed one)
        for left in {pid, launch.read_pid(run)}:
            if left and launch.pid_alive(left):
                os.kill(left, signal.SIGKILL)
