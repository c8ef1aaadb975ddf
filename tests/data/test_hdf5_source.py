"""HDF5Data's feed (``tunewiz.data.hdf5_source``, ``hdf5_files``): the batches real Caffe 1.0 gave
(``tests/fixtures/hdf5``, see its ``make_fixture.py``), one pass's length, resume, keys, and one clear
message for each bad source."""
import sys
from pathlib import Path

import numpy as np
import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text
from tunewiz.data.feed import make_feed
from tunewiz.caffe.hdf5 import h5py_module
from tunewiz.errors import TunewizError

h5py = pytest.importorskip("h5py")
FIX = Path(__file__).resolve().parents[1] / "fixtures" / "hdf5"
TOPS = np.load(FIX / "tops.npz")
CASES = ("walk", "walk_order", "big_batch", "shuffle", "shuffle_one")


def layer_of(text: str) -> caffe_pb2.LayerParameter:
    return parse_text(text, caffe_pb2.NetParameter()).layer[0]


def case_layer(case: str) -> caffe_pb2.LayerParameter:
    return layer_of((FIX / f"case_{case}.prototxt").read_text())


def feed_of(text: str, root) -> object:
    return make_feed(layer_of(text), 0, root=str(root))


def hdf5_layer(source="list.txt", batch=2, tops=("data", "label"), extra=""):
    top_lines = " ".join(f'top: "{t}"' for t in tops)
    return (f'layer {{ name: "h5" type: "HDF5Data" {top_lines} '
            f'hdf5_data_param {{ source: "{source}" batch_size: {batch} }} {extra} }}')


def write_h5(path: Path, **datasets) -> None:
    with h5py.File(path, "w") as handle:
        for name, values in datasets.items():
            handle[name] = values


@pytest.mark.parametrize("case", CASES)
def test_batches_are_caffes(case):
    feed = make_feed(case_layer(case), 1, root=str(FIX))
    layer = case_layer(case)
    for i in range(7):
        batch = feed.next_batch()
        for top, values in zip(layer.top, batch):
            expected = TOPS[f"{case}/{top}/{i}"]
            assert values.dtype == np.float32 and values.shape == expected.shape
            assert np.array_equal(values, expected), (case, top, i)


def test_one_pass_length_keys_and_shapes():
    feed = make_feed(case_layer("walk"), 1, root=str(FIX))
    assert len(feed.source) == 12 and feed.batch_size == 4
    assert feed.top_shapes == [(4, 2, 3, 2), (4,), (4, 3)]
    feed.next_batch()
    feed.next_batch()
    assert feed.last_keys == ["a.h5:4", "b.h5:0", "b.h5:1", "b.h5:2"]


def test_shuffle_reads_each_row_once_per_pass_of_a_file():
    feed = make_feed(case_layer("shuffle_one"), 1, root=str(FIX))
    seen = [key for _ in range(3) for key in (feed.next_batch(), feed.last_keys)[1]]
    assert sorted(seen[:3]) == ["b.h5:0", "b.h5:1", "b.h5:2"] and sorted(seen[3:6]) == sorted(seen[:3])


@pytest.mark.parametrize("case", ["walk", "shuffle"])
def test_state_and_restore_continue_exactly(case):
    feed = make_feed(case_layer(case), 0, root=str(FIX))
    for _ in range(3):
        feed.next_batch()
    state = feed.state()
    ahead = [feed.next_batch() for _ in range(5)]
    again = make_feed(case_layer(case), 0, root=str(FIX))
    again.restore(state)
    for expected in ahead:
        assert all(np.array_equal(a, b) for a, b in zip(again.next_batch(), expected))


def test_missing_h5py_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(TunewizError) as err:
        make_feed(case_layer("walk"), 0, root=str(FIX))
    assert "pip install 'tunewiz[hdf5]'" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(TunewizError, match=r"^HDF5 weights need h5py: pip install 'tunewiz\[hdf5\]'"):
        h5py_module("HDF5 weights")


def test_bad_sources_each_say_which_file(tmp_path):
    rows3 = np.zeros((3, 2))
    write_h5(tmp_path / "good.h5", data=rows3, label=np.zeros(3))
    write_h5(tmp_path / "short.h5", data=rows3, label=np.zeros(2))
    write_h5(tmp_path / "nolabel.h5", data=rows3)
    write_h5(tmp_path / "empty.h5", data=np.zeros((0, 2)), label=np.zeros(0))
    write_h5(tmp_path / "text.h5", data=np.array([b"a", b"b"]), label=np.zeros(2))
    write_h5(tmp_path / "scalar.h5", data=np.float64(1.0), label=np.zeros(1))
    write_h5(tmp_path / "wide.h5", data=np.zeros((3, 5)), label=np.zeros(3))
    cases = {
        "missing.txt": "cannot read the list of HDF5 files .*missing.txt",
        "blank.txt": "names no HDF5 file",
        "gone.txt": "the HDF5 file '.*gone.h5' listed in hdf5_data_param.source does not exist",
        "nolabel.txt": "Failed to find HDF5 dataset 'label' in '.*nolabel.h5' \\(it has: data\\)",
        "short.txt": "in '.*short.h5' dataset 'label' has 2 rows and 'data' has 3",
        "empty.txt": "the datasets in '.*empty.h5' have no rows",
        "text.txt": "dataset 'data' in '.*text.h5' has type .*float or integer",
        "scalar.txt": "dataset 'data' in '.*scalar.h5' is a scalar",
    }
    lists = {"blank.txt": "\n \n", "gone.txt": "gone.h5\n", "nolabel.txt": "nolabel.h5", "short.txt": "short.h5",
             "empty.txt": "empty.h5", "text.txt": "text.h5", "scalar.txt": "scalar.h5"}
    for name, text in lists.items():
        (tmp_path / name).write_text(text)
    for source, message in cases.items():
        with pytest.raises(TunewizError, match=f"layer 'h5' \\(HDF5Data\\): .*{message}"):
            feed_of(hdf5_layer(source), tmp_path)
    (tmp_path / "later.txt").write_text("good.h5 wide.h5")
    feed = feed_of(hdf5_layer("later.txt", batch=2), tmp_path)
    feed.next_batch()
    with pytest.raises(TunewizError, match="'data' in '.*wide.h5' has rows of shape \\(5,\\)"):
        feed.next_batch()  # the second batch's last row crosses into wide.h5


def test_layer_params_caffe_refuses(tmp_path):
    write_h5(tmp_path / "good.h5", data=np.zeros((3, 2)), label=np.zeros(3))
    (tmp_path / "list.txt").write_text("good.h5")
    with pytest.raises(TunewizError, match="HDF5Data does not transform data"):
        feed_of(hdf5_layer(extra="transform_param { scale: 2 }"), tmp_path)
    with pytest.raises(TunewizError, match="batch_size must be > 0"):
        feed_of(hdf5_layer(batch=0), tmp_path)


def test_integer_and_double_data_become_float32(tmp_path):
    write_h5(tmp_path / "n.h5", data=np.array([[1, 2], [3, 4]], np.uint8), label=np.array([0.1, 0.2]))
    (tmp_path / "list.txt").write_text(str(tmp_path / "n.h5"))  # an absolute name is used as it is
    data, label = feed_of(hdf5_layer(batch=3), tmp_path).next_batch()
    assert data.dtype == label.dtype == np.float32
    assert data.tolist() == [[1, 2], [3, 4], [1, 2]] and label[2] == np.float32(0.1)
