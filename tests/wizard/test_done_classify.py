"""The Done screen's "Classify a file or folder...": a real fine-tuned run of the bundled sample (its deploy,
best snapshot, scale and labels), a folder picked in the file picker, one line per image with its top 3; the
same top class as ``tunewiz classify --run`` gives.  At 80x24."""
from __future__ import annotations

import pytest

from tests.infer.sample_run import make_sample_run
from tunewiz.sample_models import LENET_DIGITS
from tunewiz.wizard.app import WizardApp

from wizard_walk import press_button, text, until

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    return make_sample_run(tmp_path_factory.mktemp("done_classify"))


def _top_classes(run, folder):
    from tunewiz.infer.classify import Classified
    from tunewiz.infer.runclassify import classify_in_run

    return {r.path.rsplit("/", 1)[-1]: r.predictions[0].name
            for r in classify_in_run(run, str(folder)) if isinstance(r, Classified)}


async def test_a_folder_picked_on_the_done_screen_is_classified_with_the_best_snapshot(sample_run):
    folder = LENET_DIGITS / "images" / "7"
    want = _top_classes(sample_run, folder)
    app = WizardApp(runs_root=sample_run.parent, attach=sample_run, why_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.screen.history.done, what="history")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: getattr(app.screen, "KEY", "") == "done", what="the Done screen")
        await press_button(pilot, app, "#classify")
        await until(pilot, lambda: app.screen.query("#picker-path"), what="the picker")
        app.screen.query_one("#picker-path").value = str(folder)
        app.screen.query_one("#picker-path").focus()
        await pilot.press("enter")
        await until(pilot, lambda: "Each line: an image" in text(app, "#status"), what="the lines")
        lines = text(app, "#try-result").splitlines()
    assert "best TEST accuracy" in lines[0] and "input scale 0.00390625" in lines[0]
    shown = {line.split(":")[0]: line.split(": ")[1].split(" ")[0] for line in lines[1:]}
    assert shown == want and len(shown) == len(list(folder.iterdir()))
    assert sum(top == "7" for top in shown.values()) > len(shown) // 2  # the fine-tuned net knows its 7s


async def test_a_missing_path_is_said_and_the_screen_stands(sample_run):
    app = WizardApp(runs_root=sample_run.parent, attach=sample_run, why_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.screen.history.done, what="history")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: getattr(app.screen, "KEY", "") == "done", what="the Done screen")
        app.screen.classify_path(str(sample_run / "nothing_here"))
        await until(pilot, lambda: "Problem" in text(app, "#status"), what="the problem")
        assert "nothing_here: no such file or folder" in text(app, "#status")
