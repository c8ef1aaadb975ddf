"""Caffe's ``examples/hdf5_classification`` (logistic regression from ``train_val.prototxt``, and the
nonlinear net from ``nonlinear_auto_train/test.prototxt``), their own prototxts unchanged, on tiny data
with the notebook's solver shrunk to 30 iterations: ``tunewiz train`` from a Caffe root gives real
Caffe's training losses and test outputs (``tests/fixtures/hdf5_classification``, see its
``make_fixture.py``)."""
import json
import re
import shutil
from pathlib import Path

import pytest

from tunewiz.cli import main

pytest.importorskip("h5py")
FIX = Path(__file__).resolve().parents[2] / "fixtures" / "hdf5_classification"
CAFFE = json.loads((FIX / "caffe_runs.json").read_text())


def parse_log(text: str) -> dict:
    """The same reading of the log as the fixture's: training losses, test outputs by iteration."""
    tests = {}
    for match in re.finditer(r"Iteration (\d+), Testing net \(#0\)(.*?)(?=Iteration \d+|\Z)", text, re.S):
        outs = re.findall(r"Test net output #\d+: (\S+) = (\S+)", match.group(2))
        tests[match.group(1)] = {k: float(v) for k, v in outs}
    return {"train": [float(v) for v in re.findall(r"Iteration \d+ \(.*\), loss = (\S+)", text)], "test": tests}


@pytest.mark.parametrize("example", sorted(CAFFE))
def test_example_trains_as_caffe(example, tmp_path, monkeypatch):
    shutil.copytree(FIX / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    caffe = CAFFE[example]
    assert main(caffe["command"].split()) == 0
    ours = parse_log((tmp_path / "train.log").read_text())
    assert len(ours["train"]) == len(caffe["train"]) == 30
    assert ours["train"] == pytest.approx(caffe["train"], abs=1e-4)
    assert sorted(ours["test"]) == sorted(caffe["test"]) == ["0", "10", "20", "30"]
    for it, outputs in caffe["test"].items():
        assert ours["test"][it] == pytest.approx(outputs, abs=1e-4), it
    assert (tmp_path / "examples/hdf5_classification/data/train_iter_30.caffemodel").is_file()
