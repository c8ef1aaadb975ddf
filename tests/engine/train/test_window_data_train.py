"""Caffe's examples/finetune_pascal_detection (R-CNN fine-tuning: WindowData into CaffeNet) trains under
``tunewiz train`` from its own prototxt and solver (copied unchanged from BVLC Caffe 9b89154 into
tests/fixtures/window_data/pascal), on tiny generated data at the example's own relative paths: only the
batch sizes (128 -> 4: one foreground window each) and the solver's iteration counts are shrunk (and no snapshot is written: 450 MB).

The example's SoftmaxWithLoss names no top: Caffe gives a loss layer an anonymous one (``AutoTopBlobs``, a
"(automatic)" blob that counts in the loss but is no net output), and so does tunewiz's Net; the same net
with ``top: "loss"`` named trains too."""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.data.window_helpers import FX
from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text, read_net_text, to_text
from tunewiz.cli import main
from tunewiz.data.mean import write_mean

EXAMPLE = "examples/finetune_pascal_detection"


def _window_file(work: Path, name: str, seed: int) -> None:
    """Three generated images; per image foreground windows of classes 1..20 and background ones."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(3):
        rows, cols = 100 + 10 * i, 140
        img = rng.integers(0, 256, (rows, cols, 3), dtype=np.uint8)
        cv2.imwrite(str(work / "images" / f"{name}{i}.png"), img)
        boxes = [(int(rng.integers(1, 21)), 0.7, 5 * i, 3, 60 + 5 * i, 80), (0, 0.1, 70, 10, 139, rows - 1),
                 (int(rng.integers(1, 21)), 0.9, 20, 20, 100, 90 + i)]
        lines += [f"# {i}", f"images/{name}{i}.png", "3", str(rows), str(cols), str(len(boxes))]
        lines += [" ".join(map(str, b)) for b in boxes]
    (work / EXAMPLE / f"window_file_2007_{name}.txt").write_text("\n".join(lines) + "\n")


def _workspace(work: Path, name_the_loss_top: bool) -> None:
    (work / EXAMPLE).mkdir(parents=True)
    (work / "images").mkdir()
    (work / "data" / "ilsvrc12").mkdir(parents=True)
    write_mean(np.random.default_rng(0).uniform(90, 130, (3, 256, 256)).astype(np.float32),
               str(work / "data" / "ilsvrc12" / "imagenet_mean.binaryproto"))
    for name, seed in (("trainval", 1), ("test", 2)):
        _window_file(work, name, seed)
    net = read_net_text(FX / "pascal" / "pascal_finetune_trainval_test.prototxt")
    for layer in net.layer:
        if layer.type == "WindowData":
            layer.window_data_param.batch_size = 4
        if layer.type == "SoftmaxWithLoss" and name_the_loss_top:
            layer.top.append("loss")
    (work / EXAMPLE / "pascal_finetune_trainval_test.prototxt").write_text(to_text(net))
    solver = parse_text((FX / "pascal" / "pascal_finetune_solver.prototxt").read_text(), caffe_pb2.SolverParameter())
    solver.test_iter[0], solver.test_interval, solver.max_iter, solver.display = 1, 2, 2, 1
    solver.snapshot_after_train = False
    (work / EXAMPLE / "pascal_finetune_solver.prototxt").write_text(to_text(solver))


@pytest.mark.parametrize("name_the_loss_top", [False, True])
def test_the_pascal_detection_example_trains(tmp_path, monkeypatch, capsys, name_the_loss_top):
    _workspace(tmp_path, name_the_loss_top)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "-solver", f"{EXAMPLE}/pascal_finetune_solver.prototxt"]) == 0
    err = capsys.readouterr().err
    losses = [float(v) for v in re.findall(r"Iteration \d+ \(.*?\), loss = ([\d.e+-]+)", err)]
    assert len(losses) == 2 and all(np.isfinite(losses)), err[-2000:]
    assert 0 < losses[0] < 20 and 0 <= losses[1] < 20, losses  # softmax over 21 classes, untrained weights
    assert re.search(r"Test net output #\d+: accuracy = ", err)
