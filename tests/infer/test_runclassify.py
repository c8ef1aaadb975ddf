"""``classify_in_run`` (the Done screen's classify) gives what ``tunewiz classify --run RUN FILE`` prints: the
same snapshot, preprocessing and top classes, on a real quick fine-tune of the bundled sample."""
from __future__ import annotations

import os

import pytest

from tests.infer.sample_run import make_sample_run
from tunewiz.cli import main
from tunewiz.errors import TunewizError
from tunewiz.infer.classify import Classified
from tunewiz.infer.runclassify import classify_in_run
from tunewiz.sample_models import LENET_DIGITS


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    return make_sample_run(tmp_path_factory.mktemp("runclassify"))


def test_a_file_gives_the_commands_top_classes(sample_run, capsys):
    image = sorted((LENET_DIGITS / "images" / "9").iterdir())[0]
    header, *results = list(classify_in_run(sample_run, str(image), top_k=5))
    assert main(["classify", "--run", str(sample_run), "--numerics", "torch", str(image)]) == 0
    printed = capsys.readouterr().out.splitlines()[1:]
    (result,) = [r for r in results if isinstance(r, Classified)]
    assert [f'{p.probability:.4f} - "{p.name}"' for p in result.predictions] == printed
    assert "best TEST accuracy" in header and "input scale 0.00390625" in header


def test_a_missing_path_is_one_message(sample_run):
    with pytest.raises(TunewizError, match="no such file or folder"):
        list(classify_in_run(sample_run, str(sample_run / "none.png")))


def test_a_second_quick_try_reuses_the_prepared_classifier_until_the_snapshot_changes(sample_run):
    from tunewiz.infer import runclassify

    image = sorted((LENET_DIGITS / "images" / "9").iterdir())[1]
    first = [r for r in classify_in_run(sample_run, str(image)) if not isinstance(r, str)]
    kept = runclassify._LAST[0][1]
    again = [r for r in classify_in_run(sample_run, str(image)) if not isinstance(r, str)]
    assert runclassify._LAST[0][1] is kept and again == first
    weights = runclassify._LAST[0][0][1][0]
    os.utime(weights, ns=(1, 1))  # the snapshot file changed (as a new training writes it)
    list(classify_in_run(sample_run, str(image)))
    assert runclassify._LAST[0][1] is not kept
