"""pycaffe's ``net.set_input_arrays`` on a MemoryData net: batches in turn, wrapping; pycaffe's errors;
a solver trains on arrays given to ``solver.net`` (what pycaffe users do)."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

import tunewiz as caffe

NET = textwrap.dedent("""\
    name: "mem"
    layer { name: "data" type: "MemoryData" top: "data" top: "label"
            memory_data_param { batch_size: 4 channels: 2 height: 1 width: 3 } }
    layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
            inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
    layer { name: "acc" type: "Accuracy" bottom: "ip" bottom: "label" top: "acc" }
    """)


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "mem.prototxt"
    path.write_text(NET)
    return str(path)


def _arrays(n, seed=0):
    rng = np.random.RandomState(seed)
    data = rng.randn(n, 2, 1, 3).astype(np.float32)
    labels = (data[:, 0, 0, 0] + data[:, 1, 0, 1] > 0).astype(np.float32)
    return data, labels


def test_forward_walks_the_batches_and_wraps_around(net_file):
    net = caffe.Net(net_file, caffe.TEST)
    assert net.blobs["data"].shape == (4, 2, 1, 3) and net.blobs["label"].shape == (4,)
    data, labels = _arrays(12)
    net.set_input_arrays(data, labels)
    for step in range(5):
        out = net.forward()
        start = 4 * (step % 3)
        np.testing.assert_array_equal(net.blobs["data"].data, data[start:start + 4])
        np.testing.assert_array_equal(net.blobs["label"].data.ravel(), labels[start:start + 4])
        assert net.blobs["label"].shape == (4, 1, 1, 1)  # Caffe's Forward_cpu reshapes the label top
        assert np.isfinite(out["loss"]) and 0 <= out["acc"] <= 1


def test_labels_of_shape_n_1_1_1_and_the_arrays_are_shared(net_file):
    net = caffe.Net(net_file, caffe.TEST)
    data, labels = _arrays(4)
    net.set_input_arrays(data, labels.reshape(4, 1, 1, 1).copy())
    data[...] = 7  # Caffe keeps the pointer: a later write shows in the next batch
    net.forward()
    assert np.all(net.blobs["data"].data == 7)


def test_a_forward_before_any_data_names_the_layer(net_file):
    net = caffe.Net(net_file, caffe.TEST)
    with pytest.raises(RuntimeError, match="layer 'data'.*MemoryDataLayer needs to be initialized by calling Reset"):
        net.forward()


@pytest.mark.parametrize("data, labels, message", [
    (np.zeros((4, 2, 1, 3)), np.zeros(4, np.float32), "data array must be float32"),
    (np.zeros((4, 2, 3), np.float32), np.zeros(4, np.float32), "data array must be 4-d"),
    (np.zeros((4, 3, 1, 2), np.float32).transpose(0, 3, 2, 1), np.zeros(4, np.float32),
     "data array must be C contiguous"),
    (np.zeros((4, 3, 1, 3), np.float32), np.zeros(4, np.float32), "data array has wrong number of channels"),
    (np.zeros((4, 2, 2, 3), np.float32), np.zeros(4, np.float32), "data array has wrong height"),
    (np.zeros((4, 2, 1, 2), np.float32), np.zeros(4, np.float32), "data array has wrong width"),
    (np.zeros((4, 2, 1, 3), np.float32), np.zeros(4), "labels array must be float32"),
    (np.zeros((4, 2, 1, 3), np.float32), np.zeros((4, 2), np.float32), "labels array must be 4-d"),
    (np.zeros((4, 2, 1, 3), np.float32), np.zeros(8, np.float32), "same first dimension"),
    (np.zeros((6, 2, 1, 3), np.float32), np.zeros(6, np.float32), "multiple of batch size"),
])
def test_pycaffes_checks_and_messages(net_file, data, labels, message):
    net = caffe.Net(net_file, caffe.TEST)
    with pytest.raises(RuntimeError, match=message):
        net.set_input_arrays(data, labels)


def test_only_for_a_net_whose_first_layer_is_memory_data(tmp_path):
    path = tmp_path / "in.prototxt"
    path.write_text('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 4 dim: 2 } } }')
    net = caffe.Net(str(path), caffe.TEST)
    with pytest.raises(RuntimeError, match="first layer is a MemoryDataLayer"):
        net.set_input_arrays(*_arrays(4))


def test_sgd_solver_trains_on_arrays_given_to_its_net(net_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "solver.prototxt").write_text(textwrap.dedent("""\
        train_net: "mem.prototxt"
        base_lr: 0.5
        lr_policy: "fixed"
        max_iter: 100
        display: 0
        snapshot_after_train: false
        random_seed: 3
        """))
    caffe.set_mode_cpu()
    solver = caffe.SGDSolver("solver.prototxt")
    try:
        data, labels = _arrays(64, seed=1)
        solver.net.set_input_arrays(data, labels)
        losses = []
        for _ in range(32):
            solver.step(1)
            losses.append(float(solver.net.blobs["loss"].data))
        assert solver.iter == 32
        assert np.mean(losses[-4:]) < np.mean(losses[:4]) / 2, losses
    finally:
        solver.close()


def test_batches_gradients_and_training_are_real_pycaffes(monkeypatch, capsys):
    """The fixture's script (tests/fixtures/pycaffe_memory_data), run by real pycaffe and here with
    ``import tunewiz as caffe``: the same batches in turn (wrapping), loss, InnerProduct gradient and
    losses of 5 solver steps on the arrays (numbers within 1e-5 relative)."""
    import sys
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "fixtures" / "pycaffe_memory_data"
    monkeypatch.chdir(folder)
    monkeypatch.setitem(sys.modules, "caffe", caffe)
    exec(compile((folder / "make_fixture.py").read_text(), "make_fixture.py", "exec"), {"__name__": "fixture"})
    ours = capsys.readouterr().out.split()
    theirs = (folder / "expected.txt").read_text().split()
    assert len(ours) == len(theirs) > 100
    for mine, want in zip(ours, theirs):
        try:
            assert abs(float(mine) - float(want)) <= 1e-5 * max(1.0, abs(float(want))), (mine, want)
        except ValueError:
            assert mine == want
