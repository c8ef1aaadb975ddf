"""``tunewiz classify`` end to end: classification.cpp's lines, a run folder, lists, folders, JSON, refusals.

The run is a real quick fine-tune of the bundled sample (``tests/infer/sample_run.py``); its printed
probabilities are checked against a forward of the same image preprocessed here (cv2, the run's
``scale``), so the run's preprocessing is the one the net was trained with.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

import tunewiz
from tests.infer.sample_run import make_sample_run
from tunewiz.cli import main
from tunewiz.sample_models import LENET_DIGITS

LINE = re.compile(r'^\d\.\d{4} - "(.*)"$')
PYCAFFE = Path(__file__).resolve().parents[1] / "fixtures" / "pycaffe_classifier"
DIGITS = [str(LENET_DIGITS / "images" / f"{d}" / f"000{d}.png") for d in range(5, 10)]


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    return make_sample_run(tmp_path_factory.mktemp("classify_cmd"))


def _classify(capsys, *argv):
    code = main(["classify", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_run_prints_classification_cpp_lines_as_the_net_was_trained(sample_run, capsys):
    code, out, err = _classify(capsys, "--run", sample_run, DIGITS[3])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"---------- Prediction for {DIGITS[3]} ----------" and len(lines) == 6
    assert all(LINE.match(line) for line in lines[1:])
    assert "preprocessing: classification.cpp: gray resized to 20x20, no mean, input scale 0.00390625" in err
    assert "best TEST accuracy" in err
    weights = re.search(r"(\S+\.caffemodel)", err).group(1)
    net = tunewiz.Net(str(sample_run / "deploy.prototxt"), tunewiz.TEST, weights=weights)
    image = cv2.resize(cv2.imread(DIGITS[3], cv2.IMREAD_UNCHANGED), (20, 20)).astype(np.float32)
    prob = net.forward(data=(image * np.float32(0.00390625))[None, None])["prob"][0]
    labels = (sample_run / "data" / "labels.txt").read_text().split()
    want = [f'{prob[i]:.4f} - "{labels[i]}"' for i in np.argsort(-prob, kind="stable")]
    assert lines[1:] == want


def test_list_with_labels_reports_accuracy_and_json_refuses_to_overwrite(sample_run, tmp_path, capsys):
    listing = tmp_path / "val.txt"
    listing.write_text("".join(f"{d}/000{d}.png {d - 5}\n" for d in range(5, 10)))
    out_json = tmp_path / "out.json"
    argv = ["--run", sample_run, "--list", listing, "--root", LENET_DIGITS / "images", "--top-k", "2",
            "--json", out_json]
    code, out, err = _classify(capsys, *argv)
    assert code == 0, err
    assert out.count("---------- Prediction for") == 5 and "accuracy over 5 images with a known class: top-1" in err
    doc = json.loads(out_json.read_text())
    assert doc["classified"] == 5 and doc["accuracy"]["images"] == 5 and not doc["softmax_added"]
    assert doc["results"][0]["true"] == 0 and len(doc["results"][0]["predictions"]) == 2
    before = out_json.read_text()
    code, _, err = _classify(capsys, *argv)
    assert code != 0 and "--json" in err and "already exists: give --force" in err
    assert out_json.read_text() == before
    assert _classify(capsys, *argv, "--force")[0] == 0


def test_folder_of_class_folders(sample_run, tmp_path, capsys):
    for d in (5, 7):
        (tmp_path / "photos" / str(d)).mkdir(parents=True)
        shutil.copy(DIGITS[d - 5], tmp_path / "photos" / str(d))
    code, out, err = _classify(capsys, "--run", sample_run, "--folder", tmp_path / "photos", "--top-k", "1")
    assert code == 0, err
    assert out.count("Prediction for") == 2 and "accuracy over 2 images" in err
    assert "[" not in out  # the progress bar never goes to stdout


def test_bad_images_are_named_the_others_classified(sample_run, tmp_path, capsys):
    (tmp_path / "notes.jpg").write_text("not an image")
    code, out, err = _classify(capsys, "--run", sample_run, DIGITS[0], tmp_path / "notes.jpg",
                               tmp_path / "gone.png", DIGITS[1])
    assert code != 0
    assert out.count("Prediction for") == 2
    assert f"error: Unable to decode image {tmp_path / 'notes.jpg'}" in err
    assert f"error: {tmp_path / 'gone.png'}: no such file" in err
    assert "tunewiz: error: 2 of 4 images could not be classified" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["--mean-value", "1,2"], "--mean-value 1,2: 2 values for a 1-channel net"),
    (["--mean-value", "a,b"], "--mean-value a,b: give numbers"),
    (["--oversample"], "--oversample: belong(s) to python/classify.py's preprocessing; add --convention classify.py"),
    (["--snapshot", "10"], "--snapshot picks a snapshot of a run: give --run RUN too"),
    (["--top-k", "0"], "--top-k 0: give 1 or more"),
])
def test_refusals_of_flags(tmp_path, capsys, argv, message):
    model = ["--model", LENET_DIGITS / "lenet_deploy.prototxt", "--weights", LENET_DIGITS / "lenet_digits04.caffemodel"]
    code, out, err = _classify(capsys, *model, *argv, DIGITS[0])
    assert code != 0 and message in err and not out and "Traceback" not in err


def test_refusals_of_inputs(tmp_path, capsys):
    model = ["--model", LENET_DIGITS / "lenet_deploy.prototxt", "--weights", LENET_DIGITS / "lenet_digits04.caffemodel"]
    (tmp_path / "labels.txt").write_text("a\nb\nc\n")
    code, _, err = _classify(capsys, *model, "--labels", tmp_path / "labels.txt", DIGITS[0])
    assert code != 0 and "3 labels, but the output 'prob' has 5 classes" in err
    code, _, err = _classify(capsys, *model)
    assert code != 0 and "give the images to classify" in err
    code, _, err = _classify(capsys, "--model", LENET_DIGITS / "lenet_deploy.prototxt", DIGITS[0])
    assert code != 0 and "--weights W.caffemodel, or --run RUN" in err
    (tmp_path / "list.txt").write_text("5/0005.png 0\n")
    code, _, err = _classify(capsys, *model, "--list", tmp_path / "list.txt")
    assert code != 0 and "give --root FOLDER" in err


def test_classify_py_convention_flags_reach_pycaffes_numbers(tmp_path, capsys):
    """--convention classify.py --images-dim 24,24 --oversample: real pycaffe's Classifier.predict."""
    expected = np.load(PYCAFFE / "expected.npz")
    images = [LENET_DIGITS / p for p in expected["lenet_images"]]
    out_json = tmp_path / "r.json"
    code, out, err = _classify(capsys, "--model", LENET_DIGITS / "lenet_deploy.prototxt", "--weights",
                               LENET_DIGITS / "lenet_digits04.caffemodel", "--convention", "classify.py",
                               "--images-dim", "24,24", "--oversample", "--input-scale", 1 / 256.0, "--json",
                               out_json, *images)
    assert code == 0, err
    assert "classify.py: resized to 24x24, 10 crops 20x20, raw scale 255" in err
    assert "note: no --labels: classes print as their index (from 0)" in err
    got = np.zeros((len(images), 5))
    for row, result in enumerate(json.loads(out_json.read_text())["results"]):
        for p in result["predictions"]:
            got[row, p["index"]] = p["probability"]
    np.testing.assert_allclose(got, expected["lenet24_oversample"], rtol=1e-4, atol=1e-7)
