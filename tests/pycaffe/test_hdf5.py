"""``Net.save_hdf5`` / ``Net.load_hdf5``: Caffe's HDF5 weights layout, checked against a file real pycaffe
wrote (``tests/fixtures/pycaffe_hdf5``, see its ``make_fixture.py``) where h5py is installed, and
through a dict-based stand-in for h5py everywhere (h5py is an optional extra)."""
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import tunewiz
from tunewiz.pycaffe.errors import PycaffeError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "pycaffe_hdf5"
PROTO, MODEL, CAFFE_H5 = str(FIX / "tiny.prototxt"), str(FIX / "tiny.caffemodel"), str(FIX / "tiny_caffe.h5")
#: what real pycaffe's save_hdf5 wrote for the tiny net: group -> {dataset: shape}
LAYOUT = {"conv": {"0": (2, 3, 3, 3), "1": (2,)}, "conv_relu_0_split": {}, "data": {},
          "ip_a": {"0": (3, 8), "1": (3,)}, "ip_b": {}, "relu": {}, "sum": {}}


class _Group(dict):
    def create_group(self, name):
        self[name] = _Group()
        return self[name]

    def create_dataset(self, name, data):
        self[name] = _Dataset(np.array(data))


class _Dataset:
    def __init__(self, values):
        self.values, self.shape, self.dtype = values, values.shape, values.dtype

    def __getitem__(self, key):
        return self.values[key]


def _fake_h5py(files: dict):
    """A stand-in for h5py: ``File(path, mode)`` over ``files`` (path -> root group)."""
    class File(_Group):
        def __init__(self, path, mode):
            super().__init__()
            if mode == "w":
                files[path] = self
            elif path not in files:
                raise OSError(f"Unable to open file '{path}'")
            else:
                self.update(files[path])

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    return types.SimpleNamespace(File=File)


@pytest.fixture
def files(monkeypatch):
    files = {}
    monkeypatch.setitem(sys.modules, "h5py", _fake_h5py(files))
    return files


def _layout(root) -> dict:
    return {name: {k: tuple(d.shape) for k, d in group.items()} for name, group in root["data"].items()}


def _same_params(a, b) -> bool:
    return list(a.params) == list(b.params) and all(
        np.array_equal(x.data, y.data) for k in a.params for x, y in zip(a.params[k], b.params[k]))


def test_without_h5py_one_line_names_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "h5py", None)
    net = tunewiz.Net(PROTO, tunewiz.TEST)
    for call in (net.save_hdf5, net.load_hdf5):
        with pytest.raises(RuntimeError, match=r"pip install 'tunewiz\[hdf5\]'") as info:
            call(str(tmp_path / "w.h5"))
        assert isinstance(info.value, PycaffeError) and "\n" not in str(info.value)


def test_save_writes_caffes_layout_and_load_reads_it_back(files):
    net = tunewiz.Net(PROTO, MODEL, tunewiz.TEST)
    net.save_hdf5("w.h5")
    assert _layout(files["w.h5"]) == LAYOUT
    assert all(d.dtype == np.float32 for g in files["w.h5"]["data"].values() for d in g.values())
    other = tunewiz.Net(PROTO, tunewiz.TEST)
    assert not _same_params(net, other)
    other.load_hdf5("w.h5")
    assert _same_params(net, other) and other.params["ip_b"][0] is other.params["ip_a"][0]
    assert np.array_equal(other.forward(data=np.ones((2, 3, 4, 4)))["sum"],
                          net.forward(data=np.ones((2, 3, 4, 4)))["sum"])


def test_load_ignores_unknown_layers_and_checks_what_it_copies(files):
    net = tunewiz.Net(PROTO, MODEL, tunewiz.TEST)
    net.save_hdf5("w.h5")
    files["w.h5"]["data"].create_group("not_in_net").create_dataset("0", np.zeros(3))
    tunewiz.Net(PROTO, tunewiz.TEST).load_hdf5("w.h5")
    files["w.h5"]["data"]["conv"].create_dataset("1", np.zeros(5))
    with pytest.raises(PycaffeError, match="shape mismatch. Source param shape is 5 \\(5\\); target param "
                                           "shape is 2 \\(2\\)"):
        tunewiz.Net(PROTO, tunewiz.TEST).load_hdf5("w.h5")
    files["w.h5"]["data"]["conv"].create_dataset("2", np.zeros(2))
    with pytest.raises(PycaffeError, match="Incompatible number of blobs for layer 'conv'"):
        tunewiz.Net(PROTO, tunewiz.TEST).load_hdf5("w.h5")
    del files["w.h5"]["data"]["conv"]["2"], files["w.h5"]["data"]["conv"]["1"]
    with pytest.raises(PycaffeError, match="no dataset '1'"):
        tunewiz.Net(PROTO, tunewiz.TEST).load_hdf5("w.h5")


def test_load_errors_are_one_runtime_error(files):
    net = tunewiz.Net(PROTO, tunewiz.TEST)
    with pytest.raises(RuntimeError, match="Couldn't open missing.h5"):
        net.load_hdf5("missing.h5")
    files["empty.h5"] = _Group()
    with pytest.raises(PycaffeError, match="no group 'data'"):
        net.load_hdf5("empty.h5")


def test_a_layer_name_with_a_slash_cannot_be_saved(files, tmp_path):
    proto = tmp_path / "slash.prototxt"
    proto.write_text(Path(PROTO).read_text().replace('"conv"', '"conv/3x3"'))
    with pytest.raises(PycaffeError, match="layer 'conv/3x3' has a '/'"):
        tunewiz.Net(str(proto), tunewiz.TEST).save_hdf5("w.h5")
    assert files == {}


def test_real_h5py_matches_the_file_pycaffe_wrote(tmp_path):
    h5py = pytest.importorskip("h5py")
    net = tunewiz.Net(PROTO, MODEL, tunewiz.TEST)
    net.save_hdf5(tmp_path / "ours.h5")
    with h5py.File(tmp_path / "ours.h5", "r") as ours, h5py.File(CAFFE_H5, "r") as caffes:
        assert _layout(ours) == _layout(caffes) == LAYOUT
        for name, group in caffes["data"].items():
            for key, dataset in group.items():
                assert ours["data"][name][key].dtype == dataset.dtype
                assert np.array_equal(ours["data"][name][key][()], dataset[()])
    loaded = tunewiz.Net(PROTO, tunewiz.TEST)
    loaded.load_hdf5(CAFFE_H5)
    assert _same_params(net, loaded)


def test_h5py_is_the_hdf5_extra():
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["optional-dependencies"]["hdf5"] == ["h5py>=3"]
