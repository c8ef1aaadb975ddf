"""One trainer per run folder, seen from the wizard (issue 12), at 80x24.

Another process holds the run folder's lock (``tunewiz.runs.lock``, as a running ``tunewiz train``
does): Start refuses with the owner's pid and writes nothing (train.pid, launch.json and console.log stay
the owner's).  Snapshots of another run in the folder: refused with the files and the ways out.  A trainer
that the wizard launched and that ends before its first event: the Train step shows the last line it
printed (here the trainer's own refusal, the folder having been taken between the wizard's check and
its launch).  Runs started from the command line show as running.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tunewiz.runs import events as ev, launch, layout, listing
from tunewiz.wizard.app import WizardApp

from wizard_helpers import state_at_start
from wizard_walk import assert_frame, check_start, shot, text, until

WAIT_S = float(os.environ.get("TUNEWIZ_TEST_WAIT_S", "300"))  # a loaded machine starts python slowly

# A trainer as far as the folder is concerned: it holds the lock, names itself in it, and waits.
OWNER = r"""
import sys, time
from tunewiz.runs.lock import lock_folder
lock = lock_folder(sys.argv[1], str)
print("locked", flush=True)
time.sleep(600)
"""


@pytest.fixture
def owner():
    """Start a process that holds a folder's lock (``owner(folder)`` -> its pid); killed at the end."""
    procs = []

    def hold(folder: Path) -> int:
        folder.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen([sys.executable, "-c", OWNER, str(folder)], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc.pid

    yield hold
    for proc in procs:
        proc.kill()
        proc.wait()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


async def _open_start(pilot, app, state) -> None:
    from tunewiz.wizard.screens.start import StartScreen

    app.state = state
    await pilot.pause()
    app.push_screen(StartScreen())
    await until(pilot, lambda: bool(app.screen.query("#start-path")), what="Start screen")


@pytest.mark.asyncio
async def test_a_second_start_in_a_busy_run_folder_is_refused(prepared, owner):
    state = state_at_start(prepared, "busy")
    run = state.run_dir
    app = WizardApp(runs_root=state.runs_root, why_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_start(pilot, app, state)
        await check_start(pilot, app, prepared["weights"])
        assert app.screen.checked.ok, text(app, "#status")
        # the folder is taken after the checks passed, by a trainer the wizard started earlier
        pid = owner(run)
        (run / layout.PID).write_text(f"{pid}\n")
        (run / layout.LAUNCH).write_text(json.dumps({"pid": pid, "command": ["owner"]}) + "\n")
        before = _files(run)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert type(app.screen).__name__ == "StartScreen"
        status, report = text(app, "#status"), text(app, "#report")
        assert "Problem" in status and f"pid {pid}" in status and "nothing was written" in status, status
        assert "use another run name" in status and f"kill -INT {pid}" in status, status
        assert "== run folder in use" in report and f"pid {pid} (since " in report, report
        seen = assert_frame(app, 5)
        assert f"pid {pid}" in seen and "another run name." in seen, seen  # the whole line at 80x24
        assert _files(run) == before  # train.pid, launch.json, the lock: the owner's, untouched
        assert not (run / layout.CONSOLE).exists() and not (run / "solver.prototxt").exists()
        # Check again: the checks themselves now say it
        await check_start(pilot, app, prepared["weights"])
        assert not app.screen.checked.ok and f"pid {pid}" in text(app, "#status")
        assert launch.is_running(run) and launch.trainer_pid(run) == pid


@pytest.mark.asyncio
async def test_snapshots_of_another_run_are_in_the_way(prepared):
    state = state_at_start(prepared, "theirs")
    run = state.run_dir
    run.mkdir(parents=True)
    for n in (4, 8):  # another run's (made by hand with caffe, say): no events.jsonl of the wizard's
        for ext in ("caffemodel", "solverstate"):
            (run / f"theirs_iter_{n}.{ext}").write_bytes(b"not ours")
    before = _files(run)
    app = WizardApp(runs_root=state.runs_root, why_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_start(pilot, app, state)
        await check_start(pilot, app, prepared["weights"])
        status, report = text(app, "#status"), text(app, "#report")
        assert "run folder theirs holds another run's snapshots (4 files, up to theirs_iter_8)" in status, status
        assert "Resume it (Start: snapshot, theirs_iter_8.solverstate)" in status, status
        assert "use another run name" in status and "nothing was written" in status, status
        assert "== snapshots in the way" in report and "theirs_iter_4.caffemodel" in report, report
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert type(app.screen).__name__ == "StartScreen" and "another run" in text(app, "#status")
        seen = assert_frame(app, 5)
        assert "theirs_iter_8.solverstate" in seen and "delete them." in seen, seen  # the whole line
    assert _files(run) == before


@pytest.mark.asyncio
async def test_a_trainer_that_ends_before_training_shows_its_last_line(prepared, owner, monkeypatch):
    """The folder is taken between the wizard's check and its launch: the trainer refuses (its own
    check), and the Train step shows that line from console.log instead of waiting."""
    from tunewiz.runs import lock as runlock

    state = state_at_start(prepared, "race")
    run = state.run_dir
    app = WizardApp(runs_root=state.runs_root, why_default=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await _open_start(pilot, app, state)
            await check_start(pilot, app, prepared["weights"])
            pid = owner(run)
            for module in (runlock, launch):  # the wizard looks a moment too early: nobody holds it yet
                monkeypatch.setattr(module, "folder_owner", lambda folder: None)
            await pilot.press("ctrl+n")
            await until(pilot, lambda: type(app.screen).__name__ == "TrainScreen", what="Train screen")
            monkeypatch.undo()
            await until(pilot, lambda: "ended before training began" in text(app, "#status"), timeout=WAIT_S,
                        what="the trainer's refusal")
            status = text(app, "#status")
            child = launch.launched_pid(run)
            assert f"the trainer (pid {child}) ended before training began" in status, status
            assert "in use by another trainer" in status and f"pid {pid}" in status, status
            assert f"pid {pid}" in shot(app)
            console = (run / layout.CONSOLE).read_text()  # the trainer's own words, shown whole
            assert "tunewiz: error: run folder" in console and f"kill -INT {pid}" in console, console
            assert f"kill -INT {pid}" in status, status
    finally:
        child = launch.launched_pid(run)
        if child and launch.pid_alive(child):
            os.kill(child, 9)


def test_a_run_started_from_the_command_line_shows_as_running(tmp_path, owner):
    run = tmp_path / "runs" / "cli"
    pid = owner(run)
    assert launch.read_pid(run) is None  # no train.pid: not started by the wizard
    assert launch.is_running(run) and launch.trainer_pid(run) == pid
    [info] = listing.find_runs(tmp_path / "runs")
    assert info.running and "RUNNING" in info.label()


def test_launch_failure_reads_only_this_launch(tmp_path):
    """The outcome is told from what the launch added: an earlier run's console lines and events do not count."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    (tmp_path / layout.CONSOLE).write_text("old line of an earlier run\n")
    (tmp_path / "events.jsonl").write_text(ev.to_json(ev.Started(0, 5, "cpu", "s", "n")) + "\n")
    marks = {"console_at": (tmp_path / layout.CONSOLE).stat().st_size,
             "events_at": (tmp_path / "events.jsonl").stat().st_size}
    (tmp_path / layout.LAUNCH).write_text(json.dumps({"pid": int(dead), **marks}))
    assert launch.launch_failure(tmp_path) == f"the trainer (pid {dead}) ended before training began: it printed nothing"
    with open(tmp_path / layout.CONSOLE, "a") as f:
        f.write("I0101 loading\ntunewiz: error: the weights file is cut short\n\n")
    assert launch.launch_failure(tmp_path).endswith("began: the weights file is cut short")
    with open(tmp_path / "events.jsonl", "a") as f:
        f.write(ev.to_json(ev.Started(0, 5, "cpu", "s", "n")) + "\n")
    assert launch.launch_failure(tmp_path) is None  # it started: whatever came after is the panel's
    (tmp_path / layout.LAUNCH).write_text(json.dumps({"pid": int(dead)}))
    assert launch.launch_failure(tmp_path) is None  # launched by an older wizard: no marks, no guess


@pytest.mark.asyncio
async def test_resume_on_the_train_step_is_refused_before_anything_is_written(tmp_path, owner):
    """R resumes from the run's last snapshot: not over another run's later snapshots, not beside a trainer."""
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "solver.prototxt").write_text(f'net: "train_val.prototxt"\nsnapshot_prefix: "{run / "r1"}"\n')
    (run / "r1_iter_4.caffemodel").write_bytes(b"ours")
    (run / "r1_iter_4.solverstate").write_bytes(b"\x08\x04")  # SolverState.iter = 4
    for ext in ("caffemodel", "solverstate"):  # written later by a run of someone else's
        (run / f"r1_iter_8.{ext}").write_bytes(b"theirs")
    events = [ev.Started(0, 20, "cpu", "s", "n"),
              ev.SnapshotSaved(4, [str(run / "r1_iter_4.caffemodel"), str(run / "r1_iter_4.solverstate")]),
              ev.Stopped(4, "SIGINT")]
    (run / "events.jsonl").write_text("".join(ev.to_json(e) + "\n" for e in events))
    before = _files(run)
    app = WizardApp(runs_root=run.parent, attach=run, why_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.screen.history.done, what="history")
        await pilot.press("r")
        await pilot.pause()
        status = text(app, "#status")
        assert "resuming from iteration 4 would write over 2 later snapshot files (up to r1_iter_8)" in status, status
        assert "Resume from the latest (Start: snapshot, r1_iter_8.solverstate)" in status, status
        assert "later files." in shot(app), shot(app)
        assert _files(run) == before  # no train.pid, launch.json, console.log
        pid = owner(run)
        await pilot.press("r")
        await pilot.pause()
        status = text(app, "#status")
        assert f"this run folder's trainer is running (pid {pid})" in status, status
        assert f"(pid {pid})" in shot(app)
    assert not (run / layout.PID).exists() and not (run / layout.LAUNCH).exists()


def test_the_snapshot_folder_of_another_trainer_is_refused_too(tmp_path, owner):
    """A solver whose snapshot_prefix lies outside the run folder: the trainer locks that folder too."""
    from tunewiz.wizard.runcheck import RunRefused, check_free

    shared = tmp_path / "snaps"
    pid = owner(shared)
    run = tmp_path / "runs" / "r2"
    run.mkdir(parents=True)
    with pytest.raises(RunRefused, match=f"the snapshot folder {shared} is in use by another trainer, pid {pid};"):
        check_free(run, str(shared / "r2"))
    check_free(run, str(run / "r2"))  # its own folder, free: no refusal
