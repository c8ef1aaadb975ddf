"""Every file Caffe wrote is read, and written back byte for byte (or to an equal message).

Walks every file under ``formats/`` of the Caffe reference folder, and every
caffemodel / solverstate / binaryproto / prototxt anywhere in it, tells each apart by
content (:func:`tunewiz.caffe.detect.detect`) and round-trips it with our reader and
writer.  Files that are not Caffe formats (logs, tables, numpy files) must be
detected as such, never mistaken for a Caffe file.  The fixture copies
(``tests/fixtures``) run always; ../shared/caffe-reference itself when present.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from tunewiz.caffe import caffe_pb2, prototxt
from tunewiz.caffe.binaryproto import read_blob, write_blob
from tunewiz.caffe.caffemodel import load_weights, read_net_binary, write_caffemodel
from tunewiz.caffe.detect import detect
from tunewiz.caffe.solverstate import read_solverstate, write_solverstate

FIX = Path(__file__).resolve().parent.parent / "fixtures"
REFERENCE = Path(os.environ.get("CAFFE_REFERENCE", Path(__file__).parents[3] / "shared" / "caffe-reference"))
CAFFE_SUFFIXES = {".caffemodel": "caffemodel", ".solverstate": "solverstate", ".binaryproto": "binaryproto"}
NOT_CAFFE = {".log", ".tsv", ".txt", ".npz", ".npy", ".md", ".json"}


def _caffemodel(path: Path, out: Path) -> None:
    write_caffemodel(out, read_net_binary(path))
    assert out.read_bytes() == path.read_bytes(), path
    weights = load_weights(path)
    assert weights.layers and caffe_pb2.NetParameter.FromString(path.read_bytes()).name == weights.stored.net.name


def _solverstate(path: Path, out: Path) -> None:
    state = read_solverstate(path)
    write_solverstate(out, state)
    assert out.read_bytes() == path.read_bytes(), path
    assert caffe_pb2.SolverState.FromString(path.read_bytes()).iter == state.iter


def _binaryproto(path: Path, out: Path) -> None:
    write_blob(out, read_blob(path))
    assert out.read_bytes() == path.read_bytes(), path


def _text(path: Path, out: Path) -> None:
    message = caffe_pb2.NetParameter() if detect(path).kind == "net" else caffe_pb2.SolverParameter()
    first = prototxt.read_text(path, message)
    prototxt.write_text(out, first)
    assert prototxt.read_text(out, type(first)()) == first, path


ROUND_TRIP = {"caffemodel": _caffemodel, "solverstate": _solverstate, "binaryproto": _binaryproto,
              "net": _text, "solver": _text}


def check_every_file(paths: list[Path], tmp_path: Path) -> Counter:
    """Round-trip each Caffe file; return how many of each kind were seen."""
    kinds: Counter = Counter()
    for path in paths:
        kind = detect(path).kind
        kinds[kind] += 1
        if path.suffix in CAFFE_SUFFIXES:
            assert kind == CAFFE_SUFFIXES[path.suffix], (path, kind)
        if path.suffix == ".prototxt":
            assert kind in ("net", "solver"), (path, kind)
        if kind in ROUND_TRIP:
            ROUND_TRIP[kind](path, tmp_path / f"again{path.suffix}")
        else:
            assert path.suffix in NOT_CAFFE and kind in ("text", "unknown"), (path, kind)
    return kinds


def _files(root: Path) -> list[Path]:
    under_formats = [p for p in (root / "formats").rglob("*") if p.is_file()]
    caffe_files = [p for p in root.rglob("*") if p.suffix in {*CAFFE_SUFFIXES, ".prototxt"} and p.is_file()]
    return sorted(set(under_formats) | set(caffe_files))


def test_every_fixture_file(tmp_path):
    """The prototxt copies (fixtures/prototxt) have their own round-trip test in test_prototxt.py."""
    paths = sorted(p for sub in ("formats", "upgrade") for p in (FIX / sub).rglob("*") if p.is_file()
                   and p.suffix != ".md")
    kinds = check_every_file(paths, tmp_path)
    assert kinds["caffemodel"] >= 12 and kinds["solverstate"] >= 7 and kinds["binaryproto"] >= 1
    assert kinds["net"] >= 10 and kinds["solver"] >= 4


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="needs ../shared/caffe-reference")
def test_every_reference_file(tmp_path):
    kinds = check_every_file(_files(REFERENCE), tmp_path)
    assert kinds["caffemodel"] >= 140 and kinds["solverstate"] >= 20 and kinds["binaryproto"] >= 2
    assert kinds["net"] + kinds["solver"] >= 160
