"""``snapshot_format: HDF5``: snapshots as Caffe's ``.caffemodel.h5`` / ``.solverstate.h5``, and resume from them.

Caffe's layout itself is compared with real Caffe's files in ``test_caffe_examples.py`` (cifar10 full and
quick lr1 write HDF5 snapshots; cifar10 full's second command resumes from one).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from training_util import FIX, max_rel, of_kind, run_solver, workdir  # noqa: E402

h5py = pytest.importorskip("h5py")

from tunewiz.caffe import caffe_pb2  # noqa: E402
from tunewiz.caffe.hdf5 import read_net_hdf5, read_solverstate_hdf5  # noqa: E402


def _hdf5(sp, max_iter=50):
    sp.snapshot_format = caffe_pb2.SolverParameter.HDF5
    sp.max_iter = max_iter


def _arrays(path: Path) -> dict[str, np.ndarray]:
    return {f"{layer}/{j}": a for layer, blobs in read_net_hdf5(path) for j, a in blobs.items()}


def _close(final: dict, expect, tol=1e-5):
    assert sorted(final) == sorted(expect.files)
    worst = {k: max_rel(final[k], expect[k]) for k in expect.files}
    assert max(worst.values()) <= tol, worst


def test_hdf5_snapshots_hold_caffes_run_and_resume_as_caffe(tmp_path):
    """sgd_inv with HDF5 snapshots: the iter-50 weights are Caffe's; resuming the iter-25 .solverstate.h5
    without our sidecar (as a Caffe-written one) gives them again (25 x 16 records = 2 epochs)."""
    root = workdir(tmp_path, "sgd_inv", caffe_snapshots=False)
    events, lines = run_solver(root, "sgd_inv", edit=_hdf5)
    prefix = root / "sgd_inv" / "sgd_inv_iter_"
    assert [s.paths for s in of_kind(events, "snapshot")] == [
        [f"sgd_inv/sgd_inv_iter_{n}.caffemodel.h5", f"sgd_inv/sgd_inv_iter_{n}.solverstate.h5"] for n in (25, 50)]
    assert any(line.endswith("Snapshotting to HDF5 file sgd_inv/sgd_inv_iter_25.caffemodel.h5") for line in lines)
    assert not (root / "sgd_inv" / "sgd_inv_iter_25.caffemodel").exists()
    _close(_arrays(Path(f"{prefix}50.caffemodel.h5")), np.load(FIX / "sgd_inv" / "final_weights.npz"))
    it, learned, step, history = read_solverstate_hdf5(f"{prefix}25.solverstate.h5")
    assert (it, learned, step, len(history)) == (25, "sgd_inv/sgd_inv_iter_25.caffemodel.h5", 0, 8)

    Path(f"{prefix}50.caffemodel.h5").unlink()
    Path(f"{prefix}50.solverstate.h5").unlink()
    Path(f"{prefix}25.tunewiz.json").unlink()
    events, lines = run_solver(root, "sgd_inv", edit=_hdf5, snapshot="sgd_inv/sgd_inv_iter_25.solverstate.h5")
    assert of_kind(events, "iteration")[0].iter == 25
    assert any("no tunewiz sidecar" in line for line in lines)
    _close(_arrays(Path(f"{prefix}50.caffemodel.h5")), np.load(FIX / "sgd_inv" / "final_weights.npz"))


def test_weights_flag_reads_hdf5_weights(tmp_path):
    """``-weights x.caffemodel.h5``: Caffe's CopyTrainedLayersFrom picks HDF5 by the name."""
    root = workdir(tmp_path, "sgd_inv", caffe_snapshots=False)
    def init_run(sp):  # Caffe's training/init: max_iter 0 and no interval snapshot the untrained net
        _hdf5(sp, 0)
        sp.snapshot = 0
    run_solver(root, "sgd_inv", edit=init_run)
    (root / "sgd_inv" / "sgd_inv_iter_0.solverstate.h5").unlink()
    (root / "sgd_inv" / "sgd_inv_iter_0.tunewiz.json").unlink()
    (root / "sgd_inv" / "sgd_inv_iter_0.caffemodel.h5").rename(root / "init.caffemodel.h5")
    events, _ = run_solver(root, "sgd_inv", weights=("init.caffemodel.h5",), edit=lambda sp: setattr(sp, "max_iter", 5))
    exact = np.load(FIX / "sgd_inv" / "losses_exact.npy")[:5]
    ours = np.array([e.outputs["loss"] for e in of_kind(events, "iteration")])
    assert np.max(np.abs(ours - exact) / exact) <= 1e-4


SHARED = """name: "shared"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "ip_a" type: "InnerProduct" bottom: "data" top: "a"
  param { name: "w" } inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "ip_b" type: "InnerProduct" bottom: "data" top: "b"
  param { name: "w" } inner_product_param { num_output: 4 } }
"""


def _shared_net():
    from tunewiz.caffe.prototxt import parse_text
    from tunewiz.engine.net.net import Net

    return Net(parse_text(SHARED, caffe_pb2.NetParameter()), caffe_pb2.TEST, seed=7)


def test_shared_params_are_written_once_and_load_back(tmp_path):
    """Net::ToHDF5 writes a shared param under its owner only; the sharing layer's missing dataset is fine."""
    from tunewiz.engine.net.weights import WeightCopyError, copy_trained_layers, save_hdf5

    net = _shared_net()
    save_hdf5(net, tmp_path / "w.caffemodel.h5")
    stored = dict(read_net_hdf5(tmp_path / "w.caffemodel.h5"))
    assert sorted(stored["ip_a"]) == [0, 1] and sorted(stored["ip_b"]) == [1] and stored["data"] == {}
    other = _shared_net()
    with torch.no_grad():
        other.layers[1].blobs[0].zero_()
    report = copy_trained_layers(other, [str(tmp_path / "w.caffemodel.h5")])
    assert [name for name, _ in report.copied] == ["ip_a", "ip_b"]
    assert np.array_equal(other.layers[2].blobs[0].detach().numpy(), net.layers[1].blobs[0].detach().numpy())
    with h5py.File(tmp_path / "w.caffemodel.h5", "a") as f:
        del f["data/ip_a/1"]
        f["data/ip_a"].create_dataset("1", data=np.zeros(5, np.float32))
    with pytest.raises(WeightCopyError, match="shape mismatch. Source shape is 5 \\(5\\); target shape is 4 \\(4\\)"):
        copy_trained_layers(_shared_net(), [str(tmp_path / "w.caffemodel.h5")])


def test_without_h5py_snapshots_are_binary_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    root = workdir(tmp_path, "sgd_inv", caffe_snapshots=False)
    events, lines = run_solver(root, "sgd_inv", edit=lambda sp: _hdf5(sp, 2))
    assert of_kind(events, "snapshot")[-1].paths[0] == "sgd_inv/sgd_inv_iter_2.caffemodel"
    assert any("pip install 'tunewiz[hdf5]'" in line and "BINARYPROTO" in line for line in lines)
