"""``tunewiz classify`` prints what real Caffe's ``examples/cpp_classification/classification.bin`` prints.

The fixture (``tests/fixtures/classification_cpp``, made by its ``make_fixture.py`` with the oracle's
Caffe) holds colour, gray and BGRA PNGs of sizes other than the nets' inputs, a mean image of yet another
size per net, labels, and Caffe's stdout for every net and image.  The same files through ``tunewiz
classify --model --weights --mean --labels`` (the default, classification.cpp's preprocessing) give the same
lines: labels in the same order, each probability within one unit of the 4th decimal.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tunewiz.cli import main

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "classification_cpp"
LINE = re.compile(r'^(\d\.\d{4}) - "(.*)"$')


def _cases() -> list[tuple[list[str], list[str]]]:
    """(model, weights, mean, labels, image) and Caffe's lines, per block of expected.txt."""
    cases, argv, lines = [], None, []
    for line in (FIXTURE / "expected.txt").read_text().splitlines():
        if line.startswith("# "):
            if argv:
                cases.append((argv, lines))
            argv, lines = line[2:].split(), []
        else:
            lines.append(line)
    return cases + [(argv, lines)]


def _weights(name: str) -> Path:
    for folder in (FIXTURE.parent / "pycaffe_classifier", FIXTURE.parents[2] / "tunewiz" / "sample_models" / "lenet_digits"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(name)


@pytest.mark.parametrize("argv, caffe_lines", _cases(), ids=[f"{a[0]}-{a[4]}" for a, _ in _cases()])
def test_classify_prints_caffes_lines(argv, caffe_lines, capsys, monkeypatch):
    model, weights, mean, labels, image = argv
    monkeypatch.chdir(FIXTURE)  # classification.bin was given the file names as they are printed
    assert main(["classify", "--model", model, "--weights", str(_weights(weights)), "--mean", mean,
                 "--labels", labels, image]) == 0
    ours = capsys.readouterr().out.splitlines()
    assert ours[0] == caffe_lines[0] == f"---------- Prediction for {image} ----------"
    assert len(ours) == len(caffe_lines) == 6
    for mine, theirs in zip(ours[1:], caffe_lines[1:]):
        (p_mine, label_mine), (p_theirs, label_theirs) = LINE.match(mine).groups(), LINE.match(theirs).groups()
        assert abs(float(p_mine) - float(p_theirs)) <= 1.01e-4, (mine, theirs)
        assert label_mine == label_theirs, (mine, theirs)
