"""Caffe's HDF5 weights and solverstates (tunewiz.caffe.hdf5): layout, round trip, clear errors."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from tunewiz.caffe import hdf5
from tunewiz.errors import FormatError


def test_solverstate_round_trip_with_caffes_string_type(tmp_path):
    h5py = pytest.importorskip("h5py")
    history = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(2, np.float32)]
    path = tmp_path / "s_iter_3.solverstate.h5"
    hdf5.write_solverstate_hdf5(path, 3, "snap/s_iter_3.caffemodel.h5", 1, history)
    it, learned, step, back = hdf5.read_solverstate_hdf5(path)
    assert (it, learned, step) == (3, "snap/s_iter_3.caffemodel.h5", 1)
    assert all(np.array_equal(a, b) for a, b in zip(back, history))
    with h5py.File(path, "r") as f:
        kind = f["learned_net"].id.get_type()
        assert f["learned_net"].shape == () and kind.get_size() == len(learned) + 1  # H5LTmake_dataset_string
        assert kind.get_strpad() == h5py.h5t.STR_NULLTERM
        assert f["iter"].shape == (1,) and f["iter"].dtype == np.int32


def test_net_weights_round_trip_and_checks(tmp_path):
    pytest.importorskip("h5py")
    path = tmp_path / "w.caffemodel.h5"
    hdf5.write_net_hdf5(path, [("data", []), ("ip", [(0, np.ones((2, 3))), (1, np.zeros(2))])])
    stored = hdf5.read_net_hdf5(path)
    assert [name for name, _ in stored] == ["data", "ip"] and stored[1][1][0].dtype == np.float32
    with pytest.raises(FormatError, match="'a/b' has a '/'"):
        hdf5.write_net_hdf5(tmp_path / "x.h5", [("a/b", [])])
    assert not (tmp_path / "x.h5").exists()
    with pytest.raises(FormatError, match="Couldn't open"):
        hdf5.read_net_hdf5(tmp_path / "missing.h5")
    with pytest.raises(FormatError, match="not a Caffe HDF5 solverstate"):
        hdf5.read_solverstate_hdf5(path)


def test_without_h5py_one_line_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(hdf5.HDF5Missing, match=r"pip install 'tunewiz\[hdf5\]'"):
        hdf5.read_net_hdf5(tmp_path / "w.h5")
    assert hdf5.is_hdf5_name("a.caffemodel.h5") and not hdf5.is_hdf5_name("a.caffemodel")
