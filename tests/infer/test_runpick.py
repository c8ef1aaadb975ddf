"""The run folder shortcut: a real quick fine-tune of the bundled sample, and hand-written event files.

The real run (``sample_run.make_sample_run``: tests and snapshots every 10 iterations) gives the deploy,
the snapshot of the best logged TEST accuracy, the sample's ``scale: 1/256`` and ``data/labels.txt``.
Hand-written events check the choice itself: a later event wins, a tie goes to the later snapshot, tests
without a snapshot do not count, no test at all means the last snapshot; and the refusals.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.infer.sample_run import EVERY, ITERATIONS, make_sample_run
from tunewiz.errors import TunewizError
from tunewiz.infer.runpick import accuracy_key, pick_run, run_snapshots
from tunewiz.runs import layout
from tunewiz.runs import events as ev
from tunewiz.sample_models import LENET_DIGITS


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    return make_sample_run(tmp_path_factory.mktemp("classify_run"))


def test_the_real_run_gives_its_best_snapshot_scale_and_labels(sample_run):
    snapshots, tests = run_snapshots(sample_run)
    assert list(snapshots) == list(range(EVERY, ITERATIONS + 1, EVERY))
    best = max((tests[i]["accuracy"], i) for i in snapshots)[1]
    pick = pick_run(sample_run)
    assert pick.deploy == sample_run / layout.DEPLOY
    assert pick.weights == snapshots[best] and pick.iteration == best
    assert pick.why.startswith(f"best TEST accuracy {tests[best]['accuracy']:.4f}")
    assert pick.scale == 0.00390625 and pick.mean_file is None and pick.mean_value == ()  # as the net trained
    assert pick.labels == sample_run / "data" / layout.LABELS and not pick.notes


def test_snapshot_picks_another(sample_run):
    assert pick_run(sample_run, "10").weights.name == "digits_iter_10.caffemodel"
    assert pick_run(sample_run, "digits_iter_20.caffemodel").iteration == 20
    path = str(sample_run / "digits_iter_30.caffemodel")
    assert pick_run(sample_run, path).weights == Path(path)
    with pytest.raises(TunewizError, match=r"no snapshot of iteration 15 \(it has: 10, 20, 30\)"):
        pick_run(sample_run, "15")
    with pytest.raises(TunewizError, match="--snapshot nope.caffemodel: no such file"):
        pick_run(sample_run, "nope.caffemodel")


def test_a_moved_run_with_a_worse_last_test_picks_the_best(sample_run, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(sample_run, moved)  # the events still name the old folder: found by file name
    writer = ev.EventWriter(moved / layout.EVENTS)
    writer.write(ev.TestDone(iter=30, net=0, outputs={"accuracy": 0.05, "loss": 9.0}))  # a later event wins
    writer.close()
    tests = run_snapshots(moved)[1]
    best = max((tests[i]["accuracy"], i) for i in (10, 20))[1]
    pick = pick_run(moved)
    assert pick.weights == moved / f"digits_iter_{best}.caffemodel"


def _run(tmp_path, events=(), files=(), deploy=True, train_val: str | None = None) -> Path:
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    if deploy:
        shutil.copy(LENET_DIGITS / "lenet_deploy.prototxt", run / layout.DEPLOY)
    if train_val is not None:
        (run / layout.TRAIN_VAL).write_text(train_val)
    for name in files:
        (run / name).write_bytes(b"")
    writer = ev.EventWriter(run / layout.EVENTS)
    for event in events:
        writer.write(event)
    writer.close()
    return run


def _snap(run_name, i):
    return ev.SnapshotSaved(iter=i, paths=[f"/gone/{run_name}_iter_{i}.caffemodel", f"/gone/{run_name}_iter_{i}.solverstate"])


def test_ties_go_to_the_later_snapshot_and_tests_without_one_do_not_count(tmp_path):
    events = [ev.TestDone(0, 0, {"accuracy": 0.99}), _snap("r", 5), ev.TestDone(5, 0, {"accuracy": 0.8}),
              _snap("r", 10), ev.TestDone(10, 0, {"accuracy": 0.8}), ev.TestDone(12, 0, {"accuracy": 0.95})]
    run = _run(tmp_path, events, files=["r_iter_5.caffemodel", "r_iter_10.caffemodel"])
    pick = pick_run(run)
    assert pick.iteration == 10 and pick.weights == run / "r_iter_10.caffemodel"
    assert pick.scale is None and any(layout.TRAIN_VAL in n for n in pick.notes)
    assert pick.labels is None


def test_without_tests_the_last_snapshot_even_one_no_event_names(tmp_path):
    run = _run(tmp_path, [_snap("r", 5)], files=["r_iter_5.caffemodel", "caffe_iter_40.caffemodel"])
    pick = pick_run(run)
    assert pick.iteration == 40 and pick.why.startswith("the last snapshot")


def test_accuracy_is_the_last_top1_accuracy_layer():
    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.prototxt import parse_text

    net = parse_text("""
        layer { name: "a1" type: "Accuracy" bottom: "x" bottom: "l" top: "loss1/top-1" include { phase: TEST } }
        layer { name: "a3" type: "Accuracy" bottom: "y" bottom: "l" top: "loss3/top-1" include { phase: TEST } }
        layer { name: "a5" type: "Accuracy" bottom: "y" bottom: "l" top: "loss3/top-5" include { phase: TEST }
                accuracy_param { top_k: 5 } }""", caffe_pb2.NetParameter())
    tests = {10: {"loss1/top-1": 0.5, "loss3/top-1": 0.6, "loss3/top-5": 0.9}}
    assert accuracy_key(net, tests) == "loss3/top-1"
    assert accuracy_key(None, {10: {"accuracy": 0.5}}) == "accuracy" and accuracy_key(None, {}) is None


def _train_val_with(transform: str) -> str:
    text = (LENET_DIGITS / "lenet_train_val.prototxt").read_text()
    test_layer = text.index("include { phase: TEST }")
    at = text.index("transform_param { scale: 0.00390625 }", test_layer)
    return text[:at] + transform + text[at + len("transform_param { scale: 0.00390625 }"):]


def test_the_test_layers_mean_file_is_found_from_the_folders_above(tmp_path, monkeypatch):
    import numpy as np

    from tunewiz.caffe.binaryproto import write_blob

    monkeypatch.chdir(tmp_path.parent)  # not the folder the wizard ran in
    tv = _train_val_with('transform_param { mean_file: "runs/r/data/mean.binaryproto" mean_value: 3 }')
    run = _run(tmp_path, files=["r_iter_1.caffemodel"], train_val=tv)
    (run / "data").mkdir()
    write_blob(run / "data" / layout.MEAN, np.zeros((1, 20, 20), np.float32))
    pick = pick_run(run)
    assert Path(pick.mean_file) == (tmp_path / "runs/r/data/mean.binaryproto").resolve()
    assert pick.mean_value == (3.0,) and pick.scale is None
    (run / "data" / layout.MEAN).unlink()
    with pytest.raises(TunewizError, match="mean_file 'runs/r/data/mean.binaryproto'.*pass --mean MEAN"):
        pick_run(run)


def test_refusals(tmp_path):
    with pytest.raises(TunewizError, match="not a folder"):
        pick_run(tmp_path / "none")
    with pytest.raises(TunewizError, match="no deploy.prototxt in it; pass --model"):
        pick_run(_run(tmp_path, deploy=False))
    with pytest.raises(TunewizError, match="no snapshot .* --weights W.caffemodel"):
        pick_run(_run(tmp_path / "b"))
