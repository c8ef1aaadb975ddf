"""The wizard's conversion outlives its terminal: started through the wizard's core, it runs as its own
process in its own session; killing the wizard's side (its whole session, as a dropped SSH connection
does) leaves it converting, and it finishes with valid databases and mean.  A Cancel removes what it made,
and a Data step opened again on the run folder follows a conversion another wizard started."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tunewiz.runs import conversion, events as ev, layout
from tunewiz.runs.follow import EventFollower

from wizard_helpers import make_class_folders

WIZARD_SIDE = r"""
import sys, time
from tunewiz.data.conversion import ConvertOptions
from tunewiz.wizard import core_data
pid = core_data.start_convert(sys.argv[1], sys.argv[2], ConvertOptions(resize_width=64, resize_height=64), 900)
print(pid, flush=True)
time.sleep(300)
"""


def _wait(check, timeout=180.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return False


def _events(run: Path) -> list:
    return [s.event for s in EventFollower(layout.data_dir(run), layout.CONVERT_EVENTS).poll()]


def test_killing_the_wizard_side_leaves_the_conversion_to_finish(tmp_path):
    from tunewiz.caffe.binaryproto import read_mean
    from tunewiz.data.db import DBReader

    images = make_class_folders(tmp_path / "images", per_class=300, size=48)
    run = tmp_path / "runs" / "r1"
    side = subprocess.Popen([sys.executable, "-c", WIZARD_SIDE, str(run), str(images)], stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        pid = int(side.stdout.readline())
        assert os.getsid(pid) == pid != os.getsid(side.pid)  # its own session: the terminal's hangup misses it
        os.killpg(side.pid, signal.SIGKILL)  # the wizard's side, all of its session, gone at once
        side.wait(timeout=30)
        assert conversion.is_converting(run)  # still converting without it
    finally:
        if side.poll() is None:
            side.kill()
    assert _wait(lambda: not conversion.is_converting(run)), "the conversion did not end"
    outcome = _events(run)[-1]
    assert isinstance(outcome, ev.Converted), outcome
    train, val = DBReader(outcome.train_db), DBReader(outcome.val_db)
    try:
        assert len(train) + len(val) == 900 and len(val) == outcome.val_count > 0
    finally:
        train.close()
        val.close()
    assert read_mean(outcome.mean_file).shape == (3, 64, 64)


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has a handler for SIGTERM (its SigCgt mask in /proc)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:  # it ended already
        return False
    for line in lines:
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the handler mask from /proc (Linux)")
def test_cancel_removes_what_it_made(tmp_path):
    import threading

    from tunewiz.data.conversion import ConvertOptions
    from tunewiz.wizard import core_data

    images = make_class_folders(tmp_path / "images", per_class=300, size=48)
    run = tmp_path / "runs" / "r2"
    pid = core_data.start_convert(run, images, ConvertOptions(resize_width=64, resize_height=64), 900)
    # held still once its SIGTERM handler is in place (it is installed before the slow imports), so the
    # cancel always arrives before the conversion could end, however fast the machine
    assert _wait(lambda: _catches_sigterm(pid)), "the conversion never installed its SIGTERM handler"
    os.kill(pid, signal.SIGSTOP)
    try:
        assert core_data.cancel_convert(run)
    finally:
        os.kill(pid, signal.SIGCONT)
    follow = core_data.follow_convert(run, threading.Event())
    with pytest.raises(StopIteration) as end:
        while True:
            next(follow)
    assert isinstance(end.value.value, ev.ConvertFailed) and end.value.value.cancelled
    core_data.take_outcome(run, end.value.value)
    assert not run.exists()  # its databases, its own files, the folders it made: all gone


@pytest.mark.asyncio
async def test_a_wizard_started_again_follows_the_conversion(tmp_path):
    """Welcome lists the run folder as converting; choosing it opens the Data step, which follows the
    conversion to its end and takes its databases in."""
    from tunewiz.data.conversion import ConvertOptions
    from tunewiz.wizard import core_data
    from tunewiz.wizard.app import WizardApp
    from wizard_walk import text, until

    images = make_class_folders(tmp_path / "images", per_class=300, size=48)
    run = tmp_path / "runs" / "r3"
    core_data.start_convert(run, images, ConvertOptions(resize_width=64, resize_height=64), 900)
    app = WizardApp(runs_root=tmp_path / "runs", why_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        def listed() -> bool:  # after the four fixed choices; converting, or ended while nobody followed
            choices = app.screen.query("#choices")
            return bool(choices) and choices.first().option_count > 4 and \
                "r3  [CONVER" in str(choices.first().get_option_at_index(4).prompt)

        await until(pilot, listed, what="the run listed")
        app.screen.choose(f"run:{run}")
        await until(pilot, lambda: type(app.screen).__name__ == "DataScreen", what="Data step")
        await until(pilot, lambda: bool(app.state.train_db), timeout=120, what="the conversion's outcome")
        assert "Done." in text(app, "#convert-result") and app.state.run_dir == run.resolve()
        assert app.state.val_count > 0 and Path(app.state.mean_file).is_file()
    assert not conversion.is_converting(run) and not core_data.pending(run)
