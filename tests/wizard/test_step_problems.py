"""Nothing hidden, nothing left behind (issue 12), at 80x24.

Data: a conversion of unreadable images shows the skipped images' reasons beside its error and leaves no
(empty) data folder; in list mode a validation list that fails removes the train database made just
before it, so a retry converts (no "already exists").  Net and Solver: Ctrl+N after a bad prototxt repeats
the actual problem, whatever the status line said in between.
"""
from __future__ import annotations

import copy

import pytest

from tunewiz.wizard.app import WizardApp

from wizard_helpers import make_class_folders
from wizard_walk import press_button, set_input, shot, text, to_data, until

pytestmark = pytest.mark.asyncio


def _unreadable_folders(root, classes=("cat", "dog"), per_class=5):
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            (root / name / f"{i:03d}.png").write_bytes(b"not a png at all")
    return root


async def _convert(pilot, app, images) -> None:
    await set_input(pilot, app, "#images", str(images))
    await press_button(pilot, app, "#convert")
    await until(pilot, lambda: not app.screen.converting, what="conversion")


async def test_unreadable_images_show_their_warnings_and_leave_no_data_folder(workspace):
    images = _unreadable_folders(workspace["root"] / "bad")
    app = WizardApp(runs_root=workspace["runs"], why_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_data(pilot, app)
        await _convert(pilot, app, images)
        status, result = text(app, "#status"), text(app, "#convert-result")
        # 8 of the 10 are the training share (val 0.2): the first conversion, and the one that fails
        assert "Problem" in status and "none of the 8 images" in status and "could be read" in status, status
        assert "Not converted; 8 image(s) skipped:" in result, result
        assert "cannot decode cat/" in result and "(not an image OpenCV reads)" in result, result
        assert "(+4 more)" in result, result
        await until(pilot, lambda: "cannot decode cat/" in shot(app), what="the warnings scrolled into view")
        assert "none of the 8 images" in shot(app)
        assert not app.state.train_db
    run = workspace["runs"] / app.state.run_name
    assert not (run / "data").exists() and not run.exists()  # made for the conversion, removed with it


def _list_files(root):
    """train.txt over good images; val.txt naming images that are not there."""
    make_class_folders(root / "images", classes=("a", "b"), per_class=4)
    (root / "train.txt").write_text("".join(f"{c}/{i:03d}.png {k}\n" for k, c in enumerate("ab") for i in range(4)))
    (root / "val.txt").write_text("gone/000.png 0\ngone/001.png 1\n")
    return root / "train.txt"


async def test_a_failing_val_list_removes_the_train_database(workspace):
    train_list = _list_files(workspace["root"] / "lists")
    app = WizardApp(runs_root=workspace["runs"], why_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_data(pilot, app)
        await _convert(pilot, app, train_list)
        data = workspace["runs"] / app.state.run_name / "data"
        status, result = text(app, "#status"), text(app, "#convert-result")
        assert "none of the 2 images could be read" in status and "check ROOTFOLDER" in status, status
        assert "Could not open or find file gone/000.png" in result, result
        await until(pilot, lambda: "Could not open or find file gone/000.png" in shot(app), what="warnings in view")
        assert not data.exists()  # the train database it made first is gone too
        # the val list fixed: the retry converts both (no "train_lmdb already exists")
        (train_list.parent / "val.txt").write_text("a/000.png 0\nb/000.png 1\n")
        button = app.screen.query_one("#convert")  # a Button ignores Enter for 0.2 s after a press
        await until(pilot, lambda: not button.has_class("-active"), what="the button pressable again")
        await press_button(pilot, app, "#convert")
        await until(pilot, lambda: not app.screen.converting, what="conversion")
        assert app.state.train_db and "Done." in text(app, "#convert-result"), text(app, "#status")
        assert sorted(p.name for p in data.iterdir()) == ["mean.binaryproto", "train_lmdb", "val_lmdb"]


async def test_ctrl_n_after_a_bad_prototxt_repeats_the_problem(prepared, tmp_path):
    from tunewiz.wizard.screens.net import NetScreen
    from tunewiz.wizard.screens.solver import SolverScreen

    st = copy.copy(prepared["state"])
    st.runs_root, st.net_src, st.deploy_src = tmp_path / "runs", "", ""
    broken = tmp_path / "broken.prototxt"
    broken.write_text('name: "x"\nlayer {\n  name: "data"\n  type: "Input"\n  top: "data"\n  bogus_field: 3\n}\n')
    good = (prepared["root"] / "src" / "tiny_train_val.prototxt").read_text()
    dangling = tmp_path / "dangling.prototxt"  # parses; no layer makes conv1's bottom 'ip9'
    dangling.write_text(good.replace('bottom: "data"', 'bottom: "ip9"', 1))
    assert dangling.read_text() != good
    app = WizardApp(runs_root=st.runs_root, why_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.state = st
        await pilot.pause()
        app.push_screen(NetScreen())
        await until(pilot, lambda: bool(app.screen.query("#net-src")), what="Net screen")
        screen = app.screen
        await set_input(pilot, app, "#net-src", str(broken))
        said = text(app, "#status")
        assert "bogus_field" in said, said
        screen.say("something else took the status line")
        await pilot.press("ctrl+n")
        await pilot.pause()
        again = text(app, "#status")
        assert "the net did not load:" in again and "bogus_field" in again, again
        assert "see the message above" not in again and "bogus_field" in shot(app)

        await set_input(pilot, app, "#net-src", str(dangling))
        await until(pilot, lambda: not screen.pending, what="net plan")
        said = text(app, "#status")
        assert "ip9" in said and st.net is None, said
        screen.say("something else took the status line")
        await pilot.press("ctrl+n")
        await pilot.pause()
        again = text(app, "#status")
        assert "the copy could not be made:" in again and "ip9" in again, again
        assert type(app.screen) is NetScreen and "ip9" in shot(app)

        await set_input(pilot, app, "#net-src", str(prepared["root"] / "src" / "tiny_train_val.prototxt"))
        await until(pilot, lambda: not screen.pending and st.net is not None, what="net plan")
        app.push_screen(SolverScreen())
        await until(pilot, lambda: bool(app.screen.query("#solver-src")), what="Solver screen")
        bad_solver = tmp_path / "bad_solver.prototxt"
        bad_solver.write_text("base_lr: 0.01\nmax_iter: ten\n")
        await set_input(pilot, app, "#solver-src", str(bad_solver))
        app.screen.say("something else took the status line")
        await pilot.press("ctrl+n")
        await pilot.pause()
        again = text(app, "#status")
        assert "the solver did not load:" in again and "max_iter" in again, again
        assert "see the message above" not in again
