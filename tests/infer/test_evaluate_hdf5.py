"""One pass of an HDF5Data net with ``tunewiz test --confusion``: the pass is the rows of every listed
file (``len(feed.source)``), and a mistake is named by its file and row."""
import re
import shutil
from pathlib import Path

import pytest

from tunewiz.cli import main

pytest.importorskip("h5py")
FIX = Path(__file__).resolve().parents[1] / "fixtures" / "hdf5" / "train"


def test_confusion_scores_every_row_once(tmp_path, monkeypatch, capsys):
    work = tmp_path / "w"
    shutil.copytree(FIX, work)
    monkeypatch.chdir(work)
    net = (work / "net.prototxt").read_text().replace("phase: TRAIN", "phase: TEST").replace("batch_size: 4",
                                                                                             "batch_size: 5")
    (work / "test.prototxt").write_text(net + 'layer { name: "acc" type: "Accuracy" bottom: "ip" bottom: "label" '
                                              'top: "accuracy" }\n')
    assert main(["test", "-model", "test.prototxt", "-weights", "init.caffemodel", "--confusion",
                 "--misclassified", "3"]) == 0
    out = capsys.readouterr().out
    assert "Scored 12 of the 12 records once: 3 batches of 5" in out
    keys = re.findall(r"(train_[ab]\.h5):(\d+)", out)
    assert len(keys) == 3 and all(int(row) < (7 if name == "train_a.h5" else 5) for name, row in keys)
