"""Start (step 5) at 80x24: data that cannot fit the net fails the check with finetune's fix-it message.

Gray records with weights made for colour (the normal walk's state), and records too small for the
tiny LeNet (2x2 images); the report shows the whole message, the status line says Problem, Ctrl+N
writes nothing.  The Net step (the recipe's ``plan_net`` via ``core.net_view``) stops with the same message.
"""
from __future__ import annotations

import copy
import threading
from types import SimpleNamespace

import pytest

from tunewiz.wizard.app import WizardApp

from wizard_helpers import FIXTURES, make_class_folders, state_at_start
from wizard_walk import assert_frame, check_start, text, until


def colour_caffemodel(out):
    """The tiny LeNet's weights for 3-channel input (conv1 is 4x3x3x3)."""
    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.prototxt import read_net_text
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import save_caffemodel

    param = read_net_text(FIXTURES / "tiny_deploy.prototxt")
    param.layer[0].input_param.shape[0].dim[1] = 3
    save_caffemodel(Net(param, caffe_pb2.TEST, device="cpu", seed=1), out)
    return out


@pytest.fixture(scope="module")
def tiny_images(tmp_path_factory, prepared) -> object:
    """The prepared state, but its databases hold 2x2 images (converted by the wizard's own adapter)."""
    from tunewiz.data import conversion

    root = tmp_path_factory.mktemp("tiny")
    images = make_class_folders(root / "images", size=2)
    st = copy.copy(prepared["state"])
    st.runs_root, st.run_name = root / "runs", "tiny"
    gen = conversion.convert_folder(images, st.run_dir / "data", conversion.ConvertOptions(gray=True), threading.Event())
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            result = stop.value
            break
    st.image_root, st.train_db, st.val_db = str(images), str(result.train_db), str(result.val_db)
    return st


async def open_start(pilot, app, state) -> None:
    from tunewiz.wizard.screens.start import StartScreen

    app.state = state
    await pilot.pause()
    app.push_screen(StartScreen())
    await until(pilot, lambda: bool(app.screen.query("#start-path")), what="Start screen")


async def assert_refused(pilot, app, state, *words: str) -> str:
    status, report = text(app, "#status"), text(app, "#report")
    assert "Problem" in status and "does not fit the net" in status
    assert "== the data does not fit the net" in report and "Fix: " in report and "In the wizard" in report
    for word in words:
        assert word in report, word
    seen = assert_frame(app, 5)
    assert "Problem:" in seen and "does not fit" in seen  # visible at 80x24
    await pilot.press("ctrl+n")
    await pilot.pause()
    assert type(app.screen).__name__ == "StartScreen"
    assert not (state.run_dir / "solver.prototxt").exists()  # nothing written
    return report


@pytest.mark.asyncio
async def test_gray_data_and_colour_weights_cannot_start(prepared, tmp_path):
    weights = colour_caffemodel(tmp_path / "colour.caffemodel")
    state = state_at_start(prepared, "colour")
    app = WizardApp(runs_root=state.runs_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_start(pilot, app, state)
        await check_start(pilot, app, weights)
        await assert_refused(pilot, app, state, "1x8x8", "net expects 3x8x8", "layer 'conv1'",
                             "take 3 channels (colour)", "without --gray", "resize 8x8 and gray off",
                             "tunewiz convert-imageset --resize_height 8 --resize_width 8")


@pytest.mark.asyncio
async def test_images_too_small_cannot_start(tiny_images, prepared):
    from tunewiz.wizard import core

    state = copy.copy(tiny_images)
    # the Net step would have stopped (see the next test): stand-ins, so that Start runs its own check
    state.net_plan, state.solver_stage = SimpleNamespace(net=object()), SimpleNamespace(solver=object())
    app = WizardApp(runs_root=state.runs_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_start(pilot, app, state)
        await check_start(pilot, app, prepared["weights"])
        await assert_refused(pilot, app, state, "1x2x2", "net expects 1x8x8", "output size [0, 0] is not positive",
                             "In the wizard: Esc back to Data (step 2), convert with resize 8x8 and gray on",
                             "tunewiz convert-imageset --gray --resize_height 8 --resize_width 8")


def test_the_net_step_says_the_same(tiny_images, prepared):
    from tunewiz.engine.checks.datafit import DataFitError
    from tunewiz.wizard import core

    state = copy.copy(tiny_images)
    state.start_kind, state.start_path = "weights", str(prepared["weights"])
    with pytest.raises(DataFitError, match=r"1x2x2 .* net expects 1x8x8"):
        core.net_view(core.net_options(state))
