"""Pilot-driven walks through every step at 80x24 and 120x40, with the error paths."""
from __future__ import annotations

import pytest

from tunewiz.runs import events as ev
from tunewiz.runs.follow import load_history
from tunewiz.wizard.app import WizardApp

pytestmark = pytest.mark.asyncio

from wizard_helpers import SIZES, make_caffemodel, make_class_folders, state_at_start
from wizard_walk import (assert_frame, shot, check_start, convert, press_button, screen_text, set_input, text, to_data,
                         to_net, to_solver, until)


def app_for(ws, **kw) -> WizardApp:
    return WizardApp(runs_root=ws["runs"], **kw)


@pytest.mark.parametrize("size", SIZES)
async def test_welcome_offers_the_four_ways_in(workspace, size):
    app = app_for(workspace)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        shown = assert_frame(app, 1)
        assert "WELCOME" in shown and "> Open the bundled sample" in shown
        options = [str(o.prompt).lstrip("> ") for o in app.screen.query_one("#choices").options]
        assert options[0].startswith("Open the bundled sample")
        assert options[1].startswith("Start a new fine-tune") and options[2].startswith("Start from a Model Zoo")
        assert options[3].startswith("Continue a run folder")
        await pilot.press("f1")  # the why panel: what fine-tuning is
        await pilot.pause()
        assert "What is fine-tuning" in screen_text(app)


async def test_data_says_what_is_missing_without_data(workspace):
    app = app_for(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_data(pilot, app)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert type(app.screen).__name__ == "DataScreen"
        assert "Problem: no data yet" in assert_frame(app, 2)
        await set_input(pilot, app, "#images", str(workspace["root"] / "nowhere"))
        assert "not a folder" in text(app, "#status")


async def test_data_refuses_one_class(workspace, tmp_path):
    one = make_class_folders(tmp_path / "one", classes=("only",), per_class=3)
    app = app_for(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_data(pilot, app)
        await set_input(pilot, app, "#images", str(one))
        status = text(app, "#status")
        assert "Problem" in status and "at least" in status and "two" in status
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert type(app.screen).__name__ == "DataScreen"


async def test_walk_every_step_to_training(workspace, weights, size=(80, 24)):
    app = app_for(workspace)
    async with app.run_test(size=size) as pilot:
        await to_net(pilot, app, workspace)
        seen = assert_frame(app, 3)
        assert "Output layer: ip2" in seen and "ip2_run1" in seen  # visible without scrolling, at 80x24 too
        # Data gave 3 classes; the output layer is found, renamed and resized.
        assert app.state.classes == ["five", "seven", "six"]
        assert "Output layer: ip2" in text(app, "#output-layer") and "3" in text(app, "#output-layer")
        table = app.screen.query_one("#layers")
        rows = [table.get_row_at(i)[1:] for i in range(table.row_count)]
        names = [r[0] for r in rows]
        assert names[:2] == ["data", "conv1"] and "ip2_run1" in names
        conv1 = rows[names.index("conv1")]
        assert conv1[2] == "16x4x6x6" and conv1[3] == "40" and conv1[5] == "learns"
        assert "+  name: \"ip2_run1\"" in text(app, "#diff") and "-  bottom: \"ip2\"" in text(app, "#diff")
        # Back keeps what was chosen; Next comes back to the same copy.
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ == "DataScreen")
        assert app.screen.query_one("#images").value == str(workspace["images"]) and app.state.train_db
        await pilot.press("ctrl+n")
        await until(pilot, lambda: type(app.screen).__name__ == "NetScreen" and app.screen.source is not None)
        await until(pilot, lambda: not app.screen.pending and app.state.net is not None, what="net plan again")
        table = app.screen.query_one("#layers")
        # F on a row freezes through it (one key), and the table says so in words.
        table.focus()
        table.move_cursor(row=names.index("ip1"))
        await pilot.press("f")
        await until(pilot, lambda: not app.screen.pending and app.state.freeze_through == "ip1")
        await until(pilot, lambda: table.get_row_at(names.index("ip1"))[6] == "FROZEN", what="frozen row")
        assert table.get_row_at(names.index("ip1"))[0] == ">"  # the cursor row is marked in text
        assert "51 of 683 parameters stay trainable" in text(app, "#freeze-report")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: type(app.screen).__name__ == "SolverScreen")
        await set_input(pilot, app, "#solver-src", str(workspace["solver"]))
        await until(pilot, lambda: app.state.solver is not None)
        seen = assert_frame(app, 4)
        assert "base_lr 0.01" in seen and "lr schedule (step)" in seen
        assert app.screen.query_one("#f-base_lr").value == "0.01"  # 0.1 / 10
        await set_input(pilot, app, "#f-max_iter", "10")
        assert app.state.solver.max_iter == 10 and app.state.solver.stepsize == 5  # 20 scaled by 10/40
        assert app.state.solver.snapshot_prefix.endswith("runs/run1/run1")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: type(app.screen).__name__ == "StartScreen")
        await check_start(pilot, app, weights)
        seen = assert_frame(app, 5)
        assert "copied from the weights: conv1, ip1" in seen  # the transfer report comes first
        report = text(app, "#report")
        assert "copied from the weights: conv1, ip1" in report and "new (start from their filler): ip2_run1" in report
        assert "Checks passed" in text(app, "#status")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: type(app.screen).__name__ == "TrainScreen", what="Train screen")
        run = workspace["runs"] / "run1"
        for name in ("train_val.prototxt", "deploy.prototxt", "solver.prototxt", "train.pid", "launch.json"):
            assert (run / name).is_file(), name
        assert_frame(app, 6)


async def start_screen(pilot, app, state) -> None:
    from tunewiz.wizard.screens.start import StartScreen

    app.state = state
    await pilot.pause()
    app.push_screen(StartScreen())
    await until(pilot, lambda: bool(app.screen.query("#start-path")), what="Start screen")


async def test_mismatched_weights_are_caught_with_the_fix(prepared, tmp_path):
    bad = make_caffemodel(tmp_path / "other.caffemodel", ip1=20)
    state = state_at_start(prepared, "mismatch")
    app = WizardApp(runs_root=state.runs_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_screen(pilot, app, state)
        await check_start(pilot, app, bad)
        status = text(app, "#status")
        assert "Problem" in status and "ip1" in status and "rename the layer" in status
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert type(app.screen).__name__ == "StartScreen"
        assert not (state.run_dir / "solver.prototxt").exists()  # nothing written


async def test_snapshot_given_a_caffemodel_is_explained(prepared):
    state = state_at_start(prepared, "snap")
    app = WizardApp(runs_root=state.runs_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_screen(pilot, app, state)
        await check_start(pilot, app, prepared["weights"], kind="snapshot")
        status = text(app, "#status")
        assert "Problem" in status and ".caffemodel" in status and ".solverstate" in status
        assert "--weights" in status


async def test_data_from_list_files(workspace):
    root = workspace["root"]
    for name, picks in (("train.txt", range(0, 8)), ("val.txt", range(8, 10))):
        lines = [f"{cls}/{i:03d}.png {label}" for label, cls in enumerate(("five", "six", "seven")) for i in picks]
        (root / name).write_text("\n".join(lines) + "\n")
    app = app_for(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_data(pilot, app)
        await set_input(pilot, app, "#images", str(root / "train.txt"))
        assert app.screen.query_one("#list-root").value == str(workspace["images"])  # images/ beside the list
        assert app.screen.query_one("#val-list").value == str(root / "val.txt")
        assert "3 classes, 24 images" in text(app, "#scan-summary")
        await press_button(pilot, app, "#convert")
        await until(pilot, lambda: bool(app.state.train_db) or "Problem" in text(app, "#status"), what="conversion")
        assert app.state.classes == ["0", "1", "2"] and app.state.val_count == 6
        assert "24 training and 6 validation records" in text(app, "#convert-result")


@pytest.mark.parametrize("good", [True, False])
async def test_model_zoo_folder_is_checked_and_becomes_the_source(workspace, weights, good):
    import hashlib
    import shutil

    folder = workspace["root"] / "zoo"
    folder.mkdir()
    for name in ("tiny_train_val.prototxt", "tiny_deploy.prototxt", "tiny_solver.prototxt"):
        shutil.copy(workspace["net"].parent / name, folder / name)
    shutil.copy(weights, folder / "tiny.caffemodel")
    sha1 = hashlib.sha1((folder / "tiny.caffemodel").read_bytes()).hexdigest() if good else "0" * 40
    (folder / "readme.md").write_text(f"---\nname: Tiny LeNet\ncaffemodel: tiny.caffemodel\nsha1: {sha1}\n---\n")
    app = app_for(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("down", "down", "enter")  # "Start from a Model Zoo folder..."
        await until(pilot, lambda: type(app.screen).__name__ == "FilePicker", what="picker")
        app.screen.query_one("#picker-path").focus()
        app.screen.query_one("#picker-path").value = str(folder)
        await pilot.press("enter")
        if good:
            await until(pilot, lambda: type(app.screen).__name__ == "DataScreen", what="Data screen")
            assert app.state.net_src == str(folder / "tiny_train_val.prototxt")
            assert app.state.solver_src == str(folder / "tiny_solver.prototxt")
            assert (app.state.start_kind, app.state.start_path) == ("model", str(folder))
        else:
            await until(pilot, lambda: type(app.screen).__name__ == "WelcomeScreen")
            status = text(app, "#status")
            assert "sha1" in status and "download it again" in status


async def test_converting_again_asks_before_replacing(workspace):
    app = app_for(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_data(pilot, app)
        await convert(pilot, app, workspace["images"])
        first = app.state.train_db
        await press_button(pilot, app, "#convert")
        await until(pilot, lambda: type(app.screen).__name__ == "Confirm", what="question")
        await pilot.press("down", "enter")  # keep them
        await until(pilot, lambda: type(app.screen).__name__ == "DataScreen")
        assert app.state.train_db == first and (app.state.run_dir / "data" / "train_lmdb").exists()
        await press_button(pilot, app, "#convert")
        await until(pilot, lambda: type(app.screen).__name__ == "Confirm", what="question")
        await pilot.press("enter")  # replace them
        await until(pilot, lambda: bool(app.state.train_db) and not app.screen.converting, what="new conversion")
        assert "24 training and 6 validation records" in text(app, "#convert-result")


async def test_a_run_folder_that_trained_is_not_started_over(prepared):
    state = state_at_start(prepared, "done_before")
    state.run_dir.mkdir(parents=True, exist_ok=True)
    (state.run_dir / "events.jsonl").write_text(ev.to_json(ev.Finished(5)) + "\n")
    app = WizardApp(runs_root=state.runs_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_screen(pilot, app, state)
        await check_start(pilot, app, prepared["weights"])
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert type(app.screen).__name__ == "StartScreen"
        assert "has trained already" in text(app, "#status")
        assert not (state.run_dir / "train.pid").exists()


@pytest.mark.parametrize("size", SIZES)
async def test_the_bundled_sample_with_the_keyboard_alone(tmp_path, size):
    """The README's walk: Enter, Enter, Ctrl+N x4 -- sample, convert, net, solver, start, train."""
    import os
    import signal

    from tunewiz.runs import launch
    from tunewiz.wizard.state import SAMPLE_DIR

    if not (SAMPLE_DIR / "lenet_digits04.caffemodel").is_file():
        pytest.skip("the bundled sample is not in this checkout")
    app = WizardApp(runs_root=tmp_path / "runs")
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press("enter")  # "Open the bundled sample"
        await until(pilot, lambda: type(app.screen).__name__ == "DataScreen" and app.screen.scan is not None)
        seen = assert_frame(app, 2)
        assert "5 classes, 896 images" in seen and "'gray' is ticked" in seen
        assert app.screen.query_one("#resize-w").value == "20" and app.screen.focused.id == "convert"
        await pilot.press("enter")  # Convert
        await until(pilot, lambda: bool(app.state.train_db), what="conversion")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: type(app.screen).__name__ == "NetScreen" and app.state.net is not None
                    and not app.screen.pending, what="net copy")
        assert "ip2 -> ip2_digits59 with 5 outputs" in assert_frame(app, 3)
        await pilot.press("ctrl+n")
        await until(pilot, lambda: type(app.screen).__name__ == "SolverScreen" and app.state.solver is not None)
        assert app.state.solver.base_lr == pytest.approx(0.001) and app.state.solver.max_iter == 100
        await pilot.press("ctrl+n")
        await until(pilot, lambda: type(app.screen).__name__ == "StartScreen" and app.screen.checked is not None,
                    what="start checks")
        assert "copied from the weights: conv1, conv2, ip1" in assert_frame(app, 5)
        await pilot.press("ctrl+n")
        await until(pilot, lambda: type(app.screen).__name__ == "TrainScreen", what="Train screen")
        run = app.state.run_dir
        pid = launch.read_pid(run)
        try:
            assert launch.read_launch(run)["solver"] == str(run / "solver.prototxt")
            assert "base_lr: 0.001" in (run / "solver.prototxt").read_text()
            assert 'name: "ip2_digits59"' in (run / "train_val.prototxt").read_text()
            if size != (80, 24):
                return  # the walk to the end once (80x24): 100 iterations, then Done
            await until(pilot, lambda: app.screen.history.done and not app.screen.running, timeout=300,
                        what="the 100 iterations")
            assert "FINISHED" in text(app, "#progress-line")
            await pilot.press("ctrl+n")
            await until(pilot, lambda: type(app.screen).__name__ == "DoneScreen", what="Done screen")
            best = app.screen.query_one("#results").render()
            assert "after 100 iterations (finished)" in str(best)
            assert load_history(run).best_accuracy() >= 0.90  # the sample's promise (README: 0.967)
            assert (run / "digits59_iter_100.caffemodel").is_file()
            await press_button(pilot, app, "#try")  # the quick try: its last line is scrolled into view
            await until(pilot, lambda: "record 0:" in text(app, "#try-result"), what="quick try")
            last = text(app, "#try-result").splitlines()[-1]
            await until(pilot, lambda: last in shot(app), timeout=10, what="the quick try's last line on screen")
        finally:
            if pid and launch.pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


async def test_a_typed_run_name_is_used_for_the_sample(tmp_path):
    from tunewiz.wizard.state import SAMPLE_DIR

    if not SAMPLE_DIR.is_dir():
        pytest.skip("the bundled sample is not in this checkout")
    app = WizardApp(runs_root=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.screen.query_one("#run-name").value = "mydigits"
        app.screen.query_one("#choices").focus()
        await pilot.press("enter")  # "Open the bundled sample"
        await until(pilot, lambda: type(app.screen).__name__ == "DataScreen", what="Data screen")
        assert app.state.sample and app.state.run_name == "mydigits"
        assert app.state.run_dir == (tmp_path / "runs" / "mydigits").resolve()


async def test_the_solver_fields_show_snapshots_that_line_up_with_the_tests(workspace):
    """The snapshot field is the recipe's: a multiple of test_interval (each snapshot tested), also after the
    user sets test_interval; what the fields show is the solver Start writes."""
    app = app_for(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_solver(pilot, app, workspace)

        def field(name: str) -> int:
            return int(app.screen.query_one(f"#f-{name}").value)

        s = app.state.solver
        assert (field("snapshot"), field("test_interval"), field("max_iter")) == (s.snapshot, s.test_interval, s.max_iter)
        assert s.snapshot % s.test_interval == 0 and s.max_iter % s.test_interval == 0
        assert (s.test_interval, s.snapshot) == (2, 8)  # an epoch is 2 iterations: 40 make 5 snapshots
        await set_input(pilot, app, "#f-test_interval", "10")
        await until(pilot, lambda: app.state.solver.test_interval == 10, what="the user's test_interval")
        s = app.state.solver
        assert field("snapshot") == s.snapshot == 10  # a snapshot at every test: 4 in all
        assert "snapshot: 20 -> 10 (a multiple of test_interval 10" in text(app, "#solver-changes")
