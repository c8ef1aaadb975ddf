"""The why panels: every question the issue lists, in plain words, two to five sentences each."""
from __future__ import annotations

import re

import pytest

from tunewiz.wizard.app import WizardApp
from tunewiz.wizard.whys import SCREEN_WHYS, WHY, why_text

from wizard_walk import screen_text, until

QUESTIONS = {  # the issue's list -> the key that answers it
    "what fine-tuning is and when to use it": "finetune",
    "why the last layer is renamed": "rename",
    "what lr_mult 0 does and how much to freeze": "freeze",
    "why the learning rate drops": "lr",
    "why a smaller batch for a weaker GPU and iter_size": "batch",
    "weights vs snapshot": "start",
}


def sentences(text: str) -> int:
    return len([s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s])


@pytest.mark.parametrize("key", sorted(WHY))
def test_each_answer_is_two_to_five_sentences(key):
    question, answer = WHY[key]
    assert question.endswith("?")
    assert 2 <= sentences(answer) <= 5, (key, sentences(answer))


def test_every_question_of_the_issue_is_answered_on_a_screen():
    shown = {k for keys in SCREEN_WHYS.values() for k in keys}
    assert set(QUESTIONS.values()) <= shown
    assert "renamed" in WHY["rename"][1] and "copied" in WHY["rename"][1]
    assert "lr_mult 0" in WHY["freeze"][1] and "differs" in WHY["freeze"][1]
    assert "iter_size" in WHY["batch"][1] and "unchanged solver" in WHY["start"][1]


@pytest.mark.asyncio
async def test_f1_shows_the_step_question_and_hides_it_again(tmp_path):
    from tunewiz.wizard.screens.solver import SolverScreen

    app = WizardApp(runs_root=tmp_path / "runs", why_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.push_screen(SolverScreen())
        await until(pilot, lambda: bool(app.screen.query("#solver-src")))
        assert "Why does the learning rate drop" not in screen_text(app)
        await pilot.press("f1")
        await pilot.pause()
        assert "Why does the learning rate drop" in screen_text(app)
        assert why_text("solver").startswith("[b]Why does the learning rate drop?[/b]")
        await pilot.press("f1")
        await pilot.pause()
        assert not app.screen.query_one("#why").has_class("-shown")
