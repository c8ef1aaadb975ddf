"""The real Model Zoo train_vals fine-tuned to 3 classes end to end: plan, write, two training iterations and a
test, on tiny 3-class inputs (their fillers start every layer: a weights file with no layer in common)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.recipe.helpers import make_caffemodel, make_db
from tunewiz.cli import main

ZOO = Path(__file__).resolve().parents[1] / "fixtures" / "model_zoo"


@pytest.mark.parametrize("model, side", [("bvlc_reference_caffenet", 227), ("bvlc_alexnet", 227),
                                         ("bvlc_googlenet", 224), ("squeezenet_v1.1", 227)])
def test_zoo_train_val_fine_tunes_for_two_iterations(model, side, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_db(tmp_path / "t", [0, 1, 2] * 2, shape=(3, side, side))
    make_db(tmp_path / "v", [0, 1, 2], shape=(3, side, side), seed=1)
    make_caffemodel(tmp_path / "none.caffemodel", shapes={"unrelated": [(2, 2)]})
    argv = ["finetune", "--net", str(ZOO / model / "train_val.prototxt"), "--solver", str(ZOO / model / "solver.prototxt"),
            "--weights", "none.caffemodel", "--train-db", "t", "--val-db", "v", "--out", "run", "--mode", "cpu",
            "--mean-value", "104,117,123", "--batch-size", "2", "--iter-size", "1", "--max-iter", "2",
            "--test-interval", "2", "--numerics", "torch", "--train"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    tests = [line for line in err.splitlines() if "Test net output" in line]
    assert len(tests) >= 2 * (3 if model == "bvlc_googlenet" else 1)  # iteration 0 and 2; every head's loss
    assert "nan" not in " ".join(tests)
    assert (tmp_path / "run" / "run_iter_2.caffemodel").is_file()
    record = json.loads((tmp_path / "run" / "finetune.json").read_text())
    assert record["options"]["numerics"] == "torch"
