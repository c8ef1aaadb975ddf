"""ImageData under ``tunewiz train`` as under Caffe: every choice of ``image_data_param`` /
``transform_param`` (root_folder or not, absolute, resize or not, gray, mean file, mean values and
scale, crop, mirror and shuffle) trains, and its numbers are real Caffe's
(``tests/fixtures/imagedata_train/make_fixture.py``): the iteration-0 test always; the training
losses and the final test where TRAIN draws no random numbers (shuffle, mirror and TRAIN crops come
from Caffe's unseeded RNG)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import imagedata_workspace as ws  # noqa: E402

from tunewiz.cli import main  # noqa: E402

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "imagedata_train"
CAFFE = json.loads((FIX / "caffe_runs.json").read_text())


def _close(ours: dict, theirs: dict, what: str) -> None:
    assert set(ours) == set(theirs), what
    for key, value in theirs.items():
        if key == "accuracy":
            assert ours[key] == pytest.approx(value, abs=1e-6), (what, key)
        else:
            assert ours[key] == pytest.approx(value, rel=1e-3), (what, key)


@pytest.mark.parametrize("variant", sorted(ws.VARIANTS))
def test_imagedata_trains_as_caffe(variant, tmp_path, monkeypatch):
    work = ws.build(tmp_path / variant, variant)
    monkeypatch.chdir(work)
    assert main(["train", "-solver", "solver.prototxt", "-weights=init.caffemodel"]) == 0
    ours, theirs = ws.parse_log((work / "train.log").read_text()), CAFFE[variant]
    _close(ours["test0"], theirs["test0"], f"{variant}: iteration-0 test")
    if ws.VARIANTS[variant][2]:
        assert ours["train"] == pytest.approx(theirs["train"], rel=1e-3), variant
        _close(ours["test3"], theirs["test3"], f"{variant}: final test")
    assert (work / "snap_iter_3.caffemodel").is_file()


def test_the_same_net_under_test_gives_the_same_numbers(tmp_path, monkeypatch, capsys):
    """``tunewiz test`` scores the TEST phase exactly as train's iteration-0 test does."""
    work = ws.build(tmp_path / "w", "relative_paths")
    monkeypatch.chdir(work)
    assert main(["test", "-model", "train_val.prototxt", "-weights", "init.caffemodel", "-iterations", "2"]) == 0
    err = capsys.readouterr().err
    expected = CAFFE["relative_paths"]["test0"]
    assert f"accuracy = {expected['accuracy']:g}" in err and f"loss = {expected['loss']:g}" in err
