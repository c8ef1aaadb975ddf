"""The Solver as a script uses it (pycaffe's ``solver.step(n)``, ``test()``, ``snapshot()``, ``restore()``,
``solve()``), on the sample's LeNet with tiny LMDBs built here: the same code ``tunewiz train`` runs."""
from __future__ import annotations

import re
from pathlib import Path

import lmdb
import numpy as np
import pytest
import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.sample_models import LENET_DIGITS
from tunewiz.caffe.prototxt import read_net_text, to_text
from tunewiz.engine.numbers import fmt
from tunewiz.engine.train.caffelog import CaffeLog
from tunewiz.engine.train.solver import Solver

SAMPLE = LENET_DIGITS
WEIGHTS = SAMPLE / "lenet_digits04.caffemodel"
pytestmark = pytest.mark.skipif(not WEIGHTS.is_file(), reason="the sample's caffemodel is not built")

SOLVER = """net: "lenet_train_val.prototxt"
test_iter: 2
test_interval: 3
base_lr: 0.01
momentum: 0.9
weight_decay: 0.0005
lr_policy: "inv"
gamma: 0.0001
power: 0.75
display: 1
average_loss: 3
max_iter: 6
snapshot_prefix: "snap/lenet"
random_seed: 1701
"""


def _db(path: Path, count: int, seed: int) -> None:
    """An LMDB of 1x20x20 uint8 Datum records, labels 0..4 (the sample's input)."""
    rng = np.random.default_rng(seed)
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i in range(count):
            d = caffe_pb2.Datum(channels=1, height=20, width=20, label=i % 5)
            d.data = rng.integers(0, 256, size=(1, 20, 20), dtype=np.uint8).tobytes()
            txn.put(f"{i:08d}".encode(), d.SerializeToString())
    env.close()


@pytest.fixture
def root(tmp_path) -> Path:
    """A folder with the sample's LeNet (batches of 8 and 6), 20 train and 12 val records, the solver."""
    _db(tmp_path / "train_lmdb", 20, 0)
    _db(tmp_path / "val_lmdb", 12, 1)
    net = read_net_text(SAMPLE / "lenet_train_val.prototxt")
    for layer in net.layer:
        if layer.type == "Data":
            train = layer.include[0].phase == caffe_pb2.TRAIN
            layer.data_param.source = "train_lmdb" if train else "val_lmdb"
            layer.data_param.batch_size = 8 if train else 6
    (tmp_path / "lenet_train_val.prototxt").write_text(to_text(net))
    (tmp_path / "lenet_solver.prototxt").write_text(SOLVER)
    (tmp_path / "snap").mkdir()
    torch.set_num_threads(1)
    return tmp_path


def _solver(root: Path, weights=(str(WEIGHTS),)) -> Solver:
    log = CaffeLog(None, None)
    log.keep = True
    return Solver(root / "lenet_solver.prototxt", root=root, weights=list(weights), log=log)


def _said(solver: Solver, *texts: str) -> list[str]:
    """The log's messages (prefix cut) that contain one of ``texts``."""
    return [line.split("] ", 1)[1] for line in solver.log.lines if any(t in line for t in texts)]


def _smoothed(solver: Solver) -> list[tuple[int, str]]:
    found = (re.search(r"Iteration (\d+) \(.*\), loss = (\S+)", line) for line in solver.log.lines)
    return [(int(m.group(1)), m.group(2)) for m in found if m]


def _weights(solver: Solver) -> list[torch.Tensor]:
    return [info.param.detach().clone() for info in solver.net.learnable_params()]


PER_ITERATION = ("Train net output", "Test net output", ", lr = ", "Testing net")


def test_step_twice_is_one_longer_step(root):
    with _solver(root) as twice, _solver(root) as once:
        twice.step(3)
        twice.step(3)
        once.step(6)
        assert twice.iter == once.iter == 6
        assert _said(twice, *PER_ITERATION) == _said(once, *PER_ITERATION)
        assert len(_said(once, "Testing net")) == 2  # at 0 and at 3: inside the steps, as Caffe's Step tests
        assert all(torch.equal(a, b) for a, b in zip(_weights(twice), _weights(once)))


def test_snapshot_and_restore_continue_exactly(root):
    with _solver(root) as straight:
        straight.step(6)
    with _solver(root) as first:
        first.step(3)
        files = first.snapshot()
    assert files == ["snap/lenet_iter_3.caffemodel", "snap/lenet_iter_3.solverstate"]
    assert (root / "snap" / "lenet_iter_3.tunewiz.json").is_file()
    with _solver(root, weights=()) as second:
        second.restore("snap/lenet_iter_3.solverstate")
        assert second.iter == 3
        second.step(3)
        assert second.iter == 6
        assert _said(second, *PER_ITERATION) == _said(straight, *PER_ITERATION)[-len(_said(second, *PER_ITERATION)):]
        assert _smoothed(second) == _smoothed(straight)[3:]  # the smoothed-loss window continues too
        assert all(torch.equal(a, b) for a, b in zip(_weights(second), _weights(straight)))


def test_test_returns_the_mean_outputs(root):
    with _solver(root) as solver, _solver(root) as by_hand:
        outputs = solver.test()
        assert len(outputs) == 1 and set(outputs[0]) == {"accuracy", "loss"}
        net = by_hand.test_nets[0]
        with torch.no_grad():
            batches = [net.forward() for _ in range(2)]
        for name in ("accuracy", "loss"):
            mean = np.float32(sum(np.float32(b[name].item()) for b in batches) / np.float32(2))
            assert outputs[0][name] == pytest.approx(float(mean), rel=1e-6)
        assert 0.0 <= outputs[0]["accuracy"] <= 1.0
        assert any(f"Test net output #0: accuracy = {fmt(outputs[0]['accuracy'])}" in line
                   for line in solver.log.lines)
        assert solver.iter == 0  # testing trains nothing


def test_solve_trains_to_max_iter_and_snapshots(root):
    with _solver(root) as solver:
        solver.solve()
        assert solver.iter == 6
        assert _said(solver, "Optimization Done.") and len(_said(solver, "Testing net")) == 3  # 0, 3 and 6
    assert (root / "snap" / "lenet_iter_6.solverstate").is_file()
