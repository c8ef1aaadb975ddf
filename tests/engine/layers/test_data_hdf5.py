"""HDF5Data and HDF5Output in a net: the tops real Caffe 1.0 gave, shapes on the meta device without
reading data, and HDF5Output's file as Caffe wrote it (``tests/fixtures/hdf5``, see its ``make_fixture.py``)."""
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text
from tunewiz.engine.layers.base import NetError
from tunewiz.engine.net.net import Net
from tunewiz.errors import TunewizError

h5py = pytest.importorskip("h5py")
FIX = Path(__file__).resolve().parents[2] / "fixtures" / "hdf5"
TOPS = np.load(FIX / "tops.npz")


def net_of(path_or_text, phase="TEST", **kw):
    text = path_or_text.read_text() if isinstance(path_or_text, Path) else path_or_text
    return Net(parse_text(text, caffe_pb2.NetParameter()), phase, **kw)


@pytest.mark.parametrize("case", ["walk", "shuffle", "big_batch"])
def test_net_tops_are_caffes(case):
    net = net_of(FIX / f"case_{case}.prototxt", root=FIX)
    tops = list(net.net_param.layer[0].top)
    for i in range(7):
        blobs = net.forward()
        for top in tops:
            assert torch.equal(blobs[top], torch.from_numpy(TOPS[f"{case}/{top}/{i}"])), (case, top, i)
    net.close()


def test_meta_shapes_come_from_the_first_files_metadata(monkeypatch):
    import tunewiz.data.hdf5_source as source

    def no_reading(*args):
        raise AssertionError("the meta net read data")

    monkeypatch.setattr(source, "load_file", no_reading)
    net = net_of(FIX / "case_walk.prototxt", root=FIX, device="meta")
    assert net.blob_shapes == {"data": (4, 2, 3, 2), "label": (4,), "extra": (4, 3)}


def test_no_h5py_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(TunewizError) as err:
        net_of(FIX / "case_walk.prototxt", root=FIX)
    message = str(err.value)
    assert "\n" not in message and "layer 'h5' (HDF5Data)" in message and "pip install 'tunewiz[hdf5]'" in message


OUTPUT = (FIX / "output.prototxt").read_text()


def _output_net(tmp_path, text=OUTPUT, **kw):
    return net_of(text.replace("output_caffe.h5", "out.h5"), root=tmp_path, **kw)


def _feed(net):
    given = np.load(FIX / "output_in.npz")
    return net.forward({"data": torch.from_numpy(given["data"]), "label": torch.from_numpy(given["label"])})


def test_output_file_is_caffes(tmp_path):
    net = _output_net(tmp_path)
    assert not (tmp_path / "out.h5").exists()  # written by the forward, not at setup
    _feed(net)
    with h5py.File(tmp_path / "out.h5", "r") as ours, h5py.File(FIX / "output_caffe.h5", "r") as caffes:
        assert sorted(ours) == sorted(caffes) == ["data", "label"]
        for name in ("data", "label"):
            assert ours[name].dtype == caffes[name].dtype == np.float32
            assert ours[name].shape == caffes[name].shape  # Caffe's 4 legacy axes: (2, 3, 2, 1), (2, 1, 1, 1)
            assert np.array_equal(ours[name][()], caffes[name][()])
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]  # no temporary left behind


def test_second_forward_stops_as_caffes(tmp_path):
    net = _output_net(tmp_path)
    _feed(net)
    with pytest.raises(NetError, match="layer 'out' \\(HDF5Output\\): Failed to make float dataset data.*one "
                                       "batch per net"):
        _feed(net)


def test_an_existing_file_is_named_and_kept_until_the_forward(tmp_path):
    (tmp_path / "out.h5").write_text("the user's")
    _output_net(tmp_path, device="meta")  # shape inference touches nothing, says nothing
    with pytest.warns(UserWarning, match="out.h5 exists; this net's forward replaces it"):
        net = _output_net(tmp_path)
    assert (tmp_path / "out.h5").read_text() == "the user's"
    _feed(net)
    with h5py.File(tmp_path / "out.h5", "r") as ours:
        assert ours["data"].shape == (2, 3, 2, 1)


def test_output_refusals(tmp_path):
    with pytest.raises(NetError, match="exactly 2 bottoms"):
        _output_net(tmp_path, OUTPUT.replace(' bottom: "label"', ""))
    five = OUTPUT.replace("shape { dim: 2 dim: 3 dim: 2 }", "shape { dim: 2 dim: 1 dim: 1 dim: 1 dim: 2 }")
    with pytest.raises(NetError, match="at most 4 axes"):
        _output_net(tmp_path, five)
    with pytest.raises(NetError, match="no folder"):
        _output_net(tmp_path, OUTPUT.replace("output_caffe.h5", "nowhere/x.h5"))
    uneven = OUTPUT.replace("shape { dim: 2 } }", "shape { dim: 3 } }")
    net = _output_net(tmp_path, uneven)
    with pytest.raises(NetError, match="same batch size \\(2 and 3\\)"):
        net.forward({"data": torch.zeros(2, 3, 2), "label": torch.zeros(3)})


def test_hdf5_layers_are_registered():
    import tunewiz

    assert {"HDF5Data", "HDF5Output"} <= set(tunewiz.layer_type_list())


def test_runs_from_a_copy(tmp_path, monkeypatch):
    """Relative names are from the folder the net runs in, as in Caffe (no root given)."""
    for name in ("a.h5", "b.h5", "c.h5", "list.txt", "case_walk.prototxt"):
        shutil.copy(FIX / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    blobs = net_of(Path("case_walk.prototxt")).forward()
    assert torch.equal(blobs["data"], torch.from_numpy(TOPS["walk/data/0"]))
