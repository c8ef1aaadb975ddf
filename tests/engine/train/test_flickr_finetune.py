"""Caffe's own fine-tuning example, run as its readme says, on a copy shrunk in batch and iterations.

``tunewiz train -solver … -weights …`` from a working folder laid out as Caffe's root (ImageData
layers without ``root_folder``, list paths relative to that folder, ``new_height``/``new_width``,
crop, mirror and ``mean_file``), compared with real Caffe's run of the same files
(``tests/fixtures/flickr_style/make_fixture.py``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import flickr_workspace as ws  # noqa: E402

from tunewiz.cli import main  # noqa: E402

EXPECTED = json.loads((ws.FLICKR / "caffe_test_iter0.json").read_text())


@pytest.fixture(scope="module")
def flickr_run(tmp_path_factory):
    """The readme's command, run once for the module: (working folder, exit code, train.log)."""
    work = ws.build(tmp_path_factory.mktemp("flickr"))
    old = Path.cwd()
    import os

    os.chdir(work)
    try:
        code = main(["train", "-solver", ws.SOLVER, "-weights", f"{ws.WEIGHTS},{ws.FC8_FLICKR}", "-gpu", "0"])
    finally:
        os.chdir(old)
    return work, code, (work / "train.log").read_text()


def test_readme_command_trains_and_tests_as_caffe(flickr_run):
    work, code, log = flickr_run
    assert code == 0, log[-2000:]
    ours = ws.logged_test_outputs(log, 0)
    assert set(ours) == set(EXPECTED) == {"accuracy", "loss"}
    assert ours["accuracy"] == EXPECTED["accuracy"]
    assert ours["loss"] == pytest.approx(EXPECTED["loss"], rel=1e-4)


def test_the_run_says_what_caffe_says_about_the_weights(flickr_run):
    """Same transfer lines as Caffe's log: fc8 ignored, fc8_flickr from the second file."""
    _, _, log = flickr_run
    caffe_log = (ws.FLICKR / "caffe_train.log").read_text()
    for line in ("Ignoring source layer fc8", f"Finetuning from {ws.WEIGHTS}", f"Finetuning from {ws.FC8_FLICKR}"):
        assert line in caffe_log and line in log


def test_the_snapshot_holds_the_twenty_style_classifier(flickr_run):
    from tunewiz.caffe.caffemodel import load_weights

    work, _, _ = flickr_run
    prefix = work / "models" / "finetune_flickr_style" / f"finetune_flickr_style_iter_{ws.MAX_ITER}"
    arrays = load_weights(prefix.with_suffix(".caffemodel")).arrays()
    assert arrays["fc8_flickr"][0].shape == (20, 4096) and "fc8" not in arrays
    assert prefix.with_suffix(".solverstate").is_file()
