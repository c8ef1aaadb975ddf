"""Solverstates written by real Caffe: iter, current_step, learned_net, history; byte-identical re-writes."""
import csv
import os
from pathlib import Path

import numpy as np
import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.solverstate import make_solverstate, read_solverstate, write_solverstate
from tunewiz.errors import FormatError

FORMATS = Path(__file__).parent.parent / "fixtures" / "formats"
ROWS = {row["file"]: row for row in csv.DictReader(open(FORMATS / "solverstates.tsv"), delimiter="\t")}
LOCAL = sorted(f for f in ROWS if not f.startswith("..") and (FORMATS / f).is_file())
REFERENCE = Path(os.environ.get("CAFFE_REFERENCE", Path(__file__).parents[3] / "shared" / "caffe-reference"))


def _dims(shape) -> str:
    return "x".join(map(str, shape))


def _check(state, row):
    assert state.iter == int(row["iter"])
    assert state.current_step == int(row["current_step"])
    assert state.learned_net == row["learned_net"]
    assert len(state.history) == int(row["n_history"])
    assert ",".join(_dims(b.data.shape) for b in state.history) == row["history_shapes"]


def test_fixtures_cover_all_solver_types():
    assert len(LOCAL) == 7  # lenet + sgd, nesterov, adagrad, rmsprop, adadelta, adam


@pytest.mark.parametrize("name", LOCAL)
def test_solverstate_matches_caffe_table(name):
    _check(read_solverstate(FORMATS / name), ROWS[name])


@pytest.mark.parametrize("name", LOCAL)
def test_rewrite_is_byte_identical(name, tmp_path):
    path = FORMATS / name
    state = read_solverstate(path)
    write_solverstate(tmp_path / "x.solverstate", state)
    assert (tmp_path / "x.solverstate").read_bytes() == path.read_bytes()


@pytest.mark.parametrize("name", LOCAL)
def test_history_equals_protobuf_parse(name):
    reference = caffe_pb2.SolverState.FromString((FORMATS / name).read_bytes())
    state = read_solverstate(FORMATS / name)
    for ours, theirs in zip(state.history, reference.history):
        np.testing.assert_array_equal(ours.data.ravel(), np.array(theirs.data, np.float32))
        assert list(ours.data.shape) == list(theirs.shape.dim)


def test_new_solverstate_is_written_like_caffe(tmp_path):
    history = [np.full((4, 361), 0.5, np.float32), np.arange(4, dtype=np.float32)]
    state = make_solverstate(3, "solverstates/x_iter_3.caffemodel", history, current_step=0)
    path = tmp_path / "x_iter_3.solverstate"
    write_solverstate(path, state)
    expected = caffe_pb2.SolverState(iter=3, learned_net="solverstates/x_iter_3.caffemodel", current_step=0)
    for h in history:
        expected.history.add(shape=caffe_pb2.BlobShape(dim=h.shape), data=h.ravel())
    assert path.read_bytes() == expected.SerializeToString()  # current_step 0 written, as Caffe does
    again = read_solverstate(path)
    np.testing.assert_array_equal(again.history[0].data, history[0])


def test_caffemodel_given_as_solverstate():
    with pytest.raises(FormatError, match="expected a solverstate, but this is a caffemodel"):
        read_solverstate(FORMATS / "lenet" / "lenet_iter_10.caffemodel")


def test_truncated_solverstate(tmp_path):
    data = (FORMATS / "lenet" / "lenet_iter_10.solverstate").read_bytes()
    for cut in (3, 500, len(data) // 2, len(data) - 1):
        path = tmp_path / "cut.solverstate"
        path.write_bytes(data[:cut])
        with pytest.raises(FormatError, match="truncated solverstate"):
            read_solverstate(path)


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="needs ../shared/caffe-reference")
def test_every_reference_solverstate(tmp_path):
    rows = {(REFERENCE / "formats" / f).resolve(): r for f, r in ROWS.items()}
    paths = sorted(REFERENCE.rglob("*.solverstate"))
    assert len(paths) >= 20
    for path in paths:
        state = read_solverstate(path)
        if path.resolve() in rows:
            _check(state, rows[path.resolve()])
        write_solverstate(tmp_path / "x.solverstate", state)
        assert (tmp_path / "x.solverstate").read_bytes() == path.read_bytes(), path


def _non_utf8_state(path: Path) -> bytes:
    """A solverstate whose learned_net is not UTF-8 (Caffe writes the bytes it was given)."""
    name = b"snap\xff_iter_3.caffemodel"
    blob = caffe_pb2.BlobProto(data=[1, 2])
    blob.shape.dim.append(2)
    raw = (b"\x08\x03" + bytes([0x12, len(name)]) + name + bytes([0x1a, blob.ByteSize()])
           + blob.SerializeToString() + b"\x20\x00")
    path.write_bytes(raw)
    return raw


def test_non_utf8_learned_net_reads_as_a_path_and_rewrites_identically(tmp_path):
    raw = _non_utf8_state(tmp_path / "s.solverstate")
    state = read_solverstate(tmp_path / "s.solverstate")
    assert state.learned_net == "snap\udcff_iter_3.caffemodel"
    assert os.fsencode(state.learned_net_path()) == b"snap\xff_iter_3.caffemodel"
    write_solverstate(tmp_path / "again.solverstate", state)
    assert (tmp_path / "again.solverstate").read_bytes() == raw
