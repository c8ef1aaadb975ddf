"""One step numbering everywhere: the wizard's (Welcome 1, Data 2, Net 3, Solver 4, Start 5, Train 6,
Done 7).  Every "step N" that names its step, in any module's text, uses that number, and the screens'
titles count the same way."""
from __future__ import annotations

import re
from pathlib import Path

from tunewiz.wizard.screens.base import STEPS, TITLES

PACKAGE = Path(__file__).resolve().parents[2] / "tunewiz"
NAMED = re.compile(r"\b[Ss]teps? (\d)(?:-(\d))?[ ,:(]+(?:\()?(" + "|".join(TITLES.values()) + r")\b")


def _number(title: str) -> int:
    return STEPS.index(next(k for k, v in TITLES.items() if v == title)) + 1


def test_every_named_step_has_the_wizards_number():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for match in NAMED.finditer(path.read_text()):
            if int(match.group(1)) != _number(match.group(3)):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}: {match.group(0)!r}")
    assert not wrong, wrong


def test_the_check_sees_a_wrong_number():
    assert int(NAMED.search("convert the images first (step 1, Data)").group(1)) != _number("Data")


def test_the_screens_say_their_own_number():
    for key in STEPS:
        from tunewiz.wizard.app import SCREENS_BY_KEY

        module = __import__(f"tunewiz.wizard.screens.{SCREENS_BY_KEY[key][0]}", fromlist=["x"])
        said = re.match(r"Step (\d), (\w+)", module.__doc__)
        assert said and int(said.group(1)) == STEPS.index(key) + 1 and said.group(2) == TITLES[key], module.__doc__
