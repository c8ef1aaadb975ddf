"""Telling Caffe's files apart, and the errors for a file of the wrong kind."""
import shutil
from pathlib import Path

import pytest

from tunewiz.caffe.binaryproto import read_blob
from tunewiz.caffe.caffemodel import load_weights
from tunewiz.caffe.detect import detect, expect
from tunewiz.caffe.solverstate import read_solverstate
from tunewiz.errors import FormatError

FORMATS = Path(__file__).parent.parent / "fixtures" / "formats"
LENET = FORMATS / "lenet"


@pytest.mark.parametrize("path, kind", [
    (LENET / "lenet_iter_10.caffemodel", "caffemodel"),
    (FORMATS / "v1" / "lenet_v1.caffemodel", "caffemodel"),
    (FORMATS / "layers" / "conv_group3.caffemodel", "caffemodel"),
    (LENET / "lenet_iter_10.solverstate", "solverstate"),
    (FORMATS / "solverstates" / "adam_iter_3.solverstate", "solverstate"),
    (FORMATS / "data" / "mean.binaryproto", "binaryproto"),
    (LENET / "train_val.prototxt", "net"),
    (FORMATS / "v1" / "lenet_v1_deploy.prototxt", "net"),
    (LENET / "solver.prototxt", "solver"),
    (LENET / "lenet_iter_10.blobs.tsv", "text"),
    (FORMATS / "data" / "mean.npy", "unknown"),
    (FORMATS, "folder"),
])
def test_detect_fixture_kinds(path, kind):
    assert detect(path).kind == kind


def test_solverstate_detail_names_learned_net():
    info = detect(LENET / "lenet_iter_10.solverstate")
    assert "iteration 10" in info.detail and "lenet/lenet_iter_10.caffemodel" in info.detail


def test_solverstate_where_caffemodel_expected():
    with pytest.raises(FormatError) as err:
        load_weights(LENET / "lenet_iter_10.solverstate")
    msg = str(err.value)
    assert "expected a caffemodel, but this is a solverstate" in msg
    assert "lenet/lenet_iter_10.caffemodel" in msg and "\n" not in msg


def test_caffemodel_where_solverstate_expected():
    with pytest.raises(FormatError, match=r"lenet_iter_10.caffemodel: expected a solverstate, but this is a caffemodel"):
        read_solverstate(LENET / "lenet_iter_10.caffemodel")


def test_text_prototxt_given_as_binary():
    with pytest.raises(FormatError, match="expected a caffemodel, but this is a net prototxt"):
        load_weights(LENET / "train_val.prototxt")
    with pytest.raises(FormatError, match="expected a binaryproto blob, but this is a solver prototxt"):
        read_blob(LENET / "solver.prototxt")


def test_binary_given_as_text():
    with pytest.raises(FormatError, match="give the text .prototxt"):
        expect(LENET / "lenet_iter_10.caffemodel", "net")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.caffemodel"
    path.write_bytes(b"")
    with pytest.raises(FormatError, match="empty.caffemodel: expected a caffemodel, but this is an empty file"):
        load_weights(path)


@pytest.mark.parametrize("fraction", [0.001, 0.2, 0.5, 0.9])
def test_truncated_caffemodel(tmp_path, fraction):
    data = (LENET / "lenet_iter_10.caffemodel").read_bytes()
    path = tmp_path / "cut.caffemodel"
    path.write_bytes(data[: int(len(data) * fraction)])
    assert detect(path).kind == "truncated"
    with pytest.raises(FormatError, match="truncated caffemodel"):
        load_weights(path)


def test_last_byte_missing(tmp_path):
    data = (LENET / "lenet_iter_10.caffemodel").read_bytes()
    path = tmp_path / "cut.caffemodel"
    path.write_bytes(data[:-1])
    with pytest.raises(FormatError, match="truncated"):
        load_weights(path)


def test_random_bytes_are_not_a_caffemodel(tmp_path):
    path = tmp_path / "noise.caffemodel"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(FormatError, match="not a file Caffe reads"):
        load_weights(path)


def test_missing_file(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        load_weights(tmp_path / "nope.caffemodel")


def test_lmdb_and_leveldb_folders(tmp_path):
    lmdb = pytest.importorskip("lmdb")
    env = lmdb.open(str(tmp_path / "db"), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v")
    env.close()
    assert detect(tmp_path / "db").kind == "lmdb"
    assert detect(tmp_path / "db" / "data.mdb").kind == "lmdb"
    level = tmp_path / "level"
    level.mkdir()
    (level / "CURRENT").write_text("MANIFEST-000002\n")
    (level / "MANIFEST-000002").write_bytes(b"\x00")
    assert detect(level).kind == "leveldb"
    with pytest.raises(FormatError, match="expected a caffemodel, but this is an LMDB database"):
        load_weights(tmp_path / "db")


def test_renamed_file_is_judged_by_content(tmp_path):
    path = tmp_path / "weights.caffemodel"
    shutil.copy(FORMATS / "data" / "mean.binaryproto", path)
    assert detect(path).kind == "binaryproto"


def test_comment_only_and_layerless_files_are_not_called_a_solver(tmp_path):
    (tmp_path / "c.prototxt").write_text("# nothing here\n")
    (tmp_path / "n.prototxt").write_text('name: "x"\n')
    (tmp_path / "one.prototxt").write_text('layer { name: "a" type: "ReLU" }\n')
    assert detect(tmp_path / "c.prototxt").kind == "text"
    assert detect(tmp_path / "n.prototxt").kind == "text"
    assert detect(tmp_path / "one.prototxt").detail == "1 layer"
