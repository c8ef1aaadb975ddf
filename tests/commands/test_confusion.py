"""``tunewiz test --confusion``: one pass of a 23-record LMDB in batches of 10 (exactly 23 counted), checked
against a forward of the same records; label names, --json, --misclassified, and each bad input."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "infer"))
from scoring_data import NAMES, forward_all, make_set, matrix_of, net_text  # noqa: E402

from tunewiz.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_set(tmp_path_factory.mktemp("scored"), n=23, batch=10)


def _test(data, *flags):
    return main(["test", "--model", str(data["net"]), "--weights", str(data["weights"]), *flags])


def _matrix_rows(out: str) -> list[list[str]]:
    lines = out.splitlines()
    at = lines.index("Confusion matrix (rows: true class, columns: predicted class)")
    return [line.split() for line in lines[at + 1:at + 5]]


def test_confusion_counts_each_record_once_with_label_names(data, capsys):
    assert _test(data, "--confusion", "--labels", str(data["labels"])) == 0
    captured = capsys.readouterr()
    scores = forward_all(data)
    expected = matrix_of(scores, data["truth"])
    rows = _matrix_rows(captured.out)
    assert rows[0] == ["true", "\\", "pred", *NAMES]
    assert rows[1:] == [[NAMES[t], *map(str, expected[t])] for t in range(3)]
    assert sum(map(sum, expected)) == 23
    right = int((scores.argmax(axis=1) == data["truth"]).sum())
    assert f"top-1 {right / 23:.4f} ({right}/23)" in captured.out
    assert "Scored 23 of the 23 records once: 3 batches of 10" in captured.out
    # Caffe's own lines, on stderr as without --confusion: 3 batches, the last wrapping around
    assert "Running for 3 iterations." in captured.err and "Batch 2, accuracy = " in captured.err
    assert "Batch 3," not in captured.err and "] accuracy = " in captured.err
    assert all(len(line) <= 80 for line in captured.out.splitlines())


def test_without_the_flags_test_is_caffes_test(data, capsys):
    assert _test(data, "--iterations", "3") == 0
    plain = capsys.readouterr()
    assert plain.out == "" and "Running for 3 iterations." in plain.err and "Batch 2, loss = " in plain.err
    assert _test(data, "--confusion") == 0
    scored = capsys.readouterr()
    strip = lambda err: [line.split("] ", 1)[1] for line in err.splitlines() if "caffe.cpp:3" in line]  # noqa: E731
    assert strip(scored.err) == strip(plain.err)  # the same batches, the same Caffe figures
    assert _matrix_rows(scored.out)[0] == ["true", "\\", "pred", "0", "1", "2"]  # no labels: the numbers


def test_iterations_cap_the_pass(data, capsys):
    assert _test(data, "--confusion", "--iterations", "1") == 0
    out = capsys.readouterr().out
    assert "Scored 10 of the 23 records once: 1 batches of 10" in out
    expected = matrix_of(forward_all(data)[:10], data["truth"][:10])
    assert [row[1:] for row in _matrix_rows(out)[1:]] == [list(map(str, r)) for r in expected]


def test_json_and_misclassified(data, tmp_path, capsys):
    out = tmp_path / "scores.json"
    assert _test(data, "--json", str(out), "--misclassified", "4", "--labels", str(data["labels"])) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    scores = forward_all(data)
    assert report["confusion"]["matrix"] == matrix_of(scores, data["truth"])
    assert (report["records"], report["counted"], report["batches"], report["batch_size"]) == (23, 23, 3, 10)
    assert report["confusion"]["names"] == NAMES and report["classes"][1]["name"] == "six"
    assert report["caffe"]["outputs"].keys() == {"accuracy", "loss"}
    prob = np.exp(scores - scores.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    wrong = sorted((i for i in range(23) if scores[i].argmax() != data["truth"][i]), key=lambda i: (-prob[i].max(), i))
    keys = [data["keys"][i].decode() for i in wrong[:4]]
    assert [m["key"] for m in report["misclassified"]] == keys
    assert [m["file"] for m in report["misclassified"]] == [k[9:] for k in keys]
    assert report["misclassified"][0]["true_name"] == NAMES[data["truth"][wrong[0]]]
    lines = printed.splitlines()
    at = lines.index("The 4 most confident mistakes (confidence, true -> predicted, record key):")
    assert [line.split()[-1] for line in lines[at + 1:at + 5]] == keys
    assert f"wrote {out}" in printed


def test_existing_json_is_refused_before_any_work_unless_force(data, tmp_path, capsys):
    out = tmp_path / "scores.json"
    out.write_text("mine")
    assert _test(data, "--confusion", "--json", str(out)) != 0
    captured = capsys.readouterr()
    assert f"--json {out} already exists: give --force" in captured.err and "Batch" not in captured.err
    assert out.read_text() == "mine"
    assert _test(data, "--confusion", "--json", str(out), "--force") == 0
    assert json.loads(out.read_text())["counted"] == 23
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_labels_of_another_count_are_one_message(data, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("five\nsix\n")
    assert _test(data, "--confusion", "--labels", str(labels)) != 0
    err = capsys.readouterr().err
    assert f"{labels}: 2 class names, but the net scores 3 classes (blob 'ip')" in err
    assert "Traceback" not in err and "Batch" not in err


def test_a_net_without_accuracy_or_label_is_one_message(data, tmp_path, capsys):
    net = tmp_path / "no_accuracy.prototxt"
    net.write_text(net_text(10, str(data["root"] / "val_lmdb"), accuracy=False, loss=False))
    assert main(["test", "--model", str(net), "--weights", str(data["weights"]), "--confusion"]) != 0
    err = capsys.readouterr().err
    assert f"{net}: no Accuracy or SoftmaxWithLoss layer with a score and a label bottom" in err
    assert 'type: "Accuracy"' in err and "Traceback" not in err


def test_misclassified_must_not_be_negative(data, capsys):
    with pytest.raises(SystemExit):
        _test(data, "--misclassified", "-2")
    assert "give 0 or more" in capsys.readouterr().err
