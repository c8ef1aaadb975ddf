"""Caffe's own examples trained end to end, from Caffe's prototxts, against real Caffe's runs.

Each example's working folder (``examples_workspace.build``: Caffe's files with only batch sizes and
iteration counts shrunk, tiny seeded databases where Caffe's prototxts look for them, seeded initial
weights) is trained with the readme's command, ``tunewiz train -solver … -weights …``, and compared
with real Caffe's run of the same files (``tests/fixtures/caffe_examples/make_fixture.py``).  None of
these examples draws random numbers while training (Data layers do not shuffle; no mirror, crop or
dropout), so every number must be Caffe's:

- every train output of every iteration and every test output: relative 1e-4 (with 1e-6 absolute for
  outputs near 0) of the value Caffe logged (6 significant digits);
- the L2 norm of every blob of the final snapshot: relative 1e-5;
- tunewiz's ``train.log`` has Caffe's lines: the same iterations, tests and output names.

Flickr style (``finetune_flickr_style``) does draw (ImageData ``shuffle``, random crop and mirror,
Dropout): its run is ``test_flickr_finetune.py`` (the iteration-0 test equals Caffe's; it trains).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import examples_workspace as ws  # noqa: E402

from tunewiz.cli import main  # noqa: E402
from tunewiz.runs import events as ev  # noqa: E402


def close(ours: float, caffe: float) -> bool:
    return ours == pytest.approx(caffe, rel=1e-4, abs=1e-6)


def _expected(name: str) -> dict:
    return json.loads((ws.FIX / f"{name}.json").read_text())


def _train(tmp_path: Path, monkeypatch, name: str):
    """Build the example and run the readme's command: (working folder, events)."""
    if ws.EXAMPLES[name].data == "siamese":
        pytest.importorskip("plyvel", reason="Caffe's siamese example reads LevelDB (tunewiz[leveldb])")
    work = ws.build(tmp_path / name, name)
    monkeypatch.chdir(work)
    return work, _run(work, ws.EXAMPLES[name].command("tunewiz"))


def _run(work: Path, command: list[str]):
    """``tunewiz train …`` in ``work`` (the current folder): the events of this run."""
    code = main(command[1:])
    log = (work / "train.log").read_text()
    assert code == 0, log[-3000:]
    events = _events_of(work)
    last_start = max(i for i, e in enumerate(events) if e.kind == "started")
    return events[last_start:]


def _check_train(events, expect) -> None:
    ours = {e.iter: e.outputs for e in events if e.kind == "iteration"}
    assert sorted(ours) == [row["iter"] for row in expect["train"]]
    for row in expect["train"]:
        assert set(ours[row["iter"]]) == set(row["outputs"])
        for key, value in row["outputs"].items():
            assert close(ours[row["iter"]][key], value), (row["iter"], key, ours[row["iter"]][key], value)


def _check_tests(events, expect) -> None:
    ours = [e for e in events if e.kind == "test"]
    assert [(t.iter, t.net) for t in ours] == [(row["iter"], row["net"]) for row in expect["tests"]]
    for test, row in zip(ours, expect["tests"]):
        assert set(test.outputs) == set(row["outputs"])
        for key, value in row["outputs"].items():
            assert close(test.outputs[key], value), (test.iter, test.net, key, test.outputs[key], value)


def _check_final_weights(work: Path, name: str, expect, events) -> None:
    """The last snapshot: its blobs' norms as Caffe's; HDF5 files laid out as Caffe's."""
    from tunewiz.caffe.caffemodel import load_weights
    from tunewiz.caffe.hdf5 import read_net_hdf5

    model, state = [e for e in events if e.kind == "snapshot"][-1].paths
    hdf5 = expect.get("hdf5_snapshot")
    assert model.endswith(".h5") == bool(hdf5) and state.endswith(".h5") == bool(hdf5)
    if hdf5:
        arrays = {layer: [blobs[j] for j in sorted(blobs)] for layer, blobs in read_net_hdf5(work / model)}
        assert ws.hdf5_listing(work / model) == hdf5[".caffemodel.h5"]
        assert ws.hdf5_listing(work / state) == hdf5[".solverstate.h5"]
    else:
        arrays = load_weights(work / model).arrays()
    norms = {f"{k}/{i}": float(np.linalg.norm(a.astype(np.float64))) for k, v in arrays.items()
             for i, a in enumerate(v)}
    assert sorted(norms) == sorted(expect["final_norms"])
    for key, value in expect["final_norms"].items():
        assert norms[key] == pytest.approx(value, rel=1e-5, abs=1e-7), (name, key)


def _events_of(work: Path):
    return [ev.parse_line(line).event for line in (work / "events.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", list(ws.EXAMPLES))
def test_example_trains_as_caffe(tmp_path, monkeypatch, name):
    expect = _expected(name)
    work, events = _train(tmp_path, monkeypatch, name)
    _check_train(events, expect)
    _check_tests(events, expect)
    _check_final_weights(work, name, expect, events)
    _check_log(work, expect)


def _check_log(work: Path, expect) -> None:
    """The Caffe-format log of the last run has Caffe's iterations, tests, outputs and final loss."""
    text = (work / "train.log").read_text()
    logged = ws.parse_log(text[text.rfind("Initializing solver from parameters"):])
    assert [r["iter"] for r in logged["train"]] == [r["iter"] for r in expect["train"]]
    assert [(t["iter"], t["net"], sorted(t["outputs"])) for t in logged["tests"]] == [
        (t["iter"], t["net"], sorted(t["outputs"])) for t in expect["tests"]]
    assert close(logged["final"]["loss"], expect["final"]["loss"])


@pytest.mark.parametrize("name", [n for n, e in ws.EXAMPLES.items() if e.resume])
def test_second_command_resumes_as_caffe(tmp_path, monkeypatch, name):
    """``train_quick.sh`` / ``train_full.sh``: the lr1 solver resumes the first run's solverstate
    (``-snapshot``; cifar10_full's is HDF5) and trains on (lr1 snapshots as HDF5).

    Whole epochs of train and test data pass before the snapshot, so tunewiz's resume (its own
    snapshot's sidecar carries the data cursors) and Caffe's (cursors back at the first record) read the
    same records."""
    expect = _expected(name)["resume"]
    work, _ = _train(tmp_path, monkeypatch, name)
    events = _run(work, ws.EXAMPLES[name].resume_command("tunewiz"))
    assert events[0].iter == 10
    _check_train(events, expect)
    _check_tests(events, expect)
    _check_final_weights(work, name, expect, events)
    _check_log(work, expect)
