"""The report fits 80 columns: the whole matrix up to about 10 classes, the most confused pairs beyond."""
from __future__ import annotations

import numpy as np

from tunewiz.infer.confusion import Tally
from tunewiz.infer.report import matrix_layout, matrix_lines, report_lines, to_json


def _scores(classes: int, n: int = 400):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, classes, n)
    scores = rng.normal(size=(n, classes)).astype(np.float32)
    scores[np.arange(n), labels] += 1.5
    tally = Tally(classes, keep=5)
    tally.add(scores, labels, [f"{i:08d}_c{labels[i]}/{i}.png" for i in range(n)])
    return tally.result()


class _Ev:  # what report_lines reads of an Evaluation
    def __init__(self, scores):
        from tunewiz.infer.targets import Target

        self.scores, self.records, self.counted, self.batch_size, self.batches = scores, 400, 400, 64, 7
        self.target = Target("accuracy", "Accuracy", "fc8", "label", 1, None, (1,), "data")
        self.caffe, self.complete = {"loss": 1.0, "outputs": {}}, True


def test_ten_classes_fit_80_columns_with_their_names():
    sc = _scores(10)
    names = [f"class_{i}" for i in range(10)]
    layout = matrix_layout(sc, names, 80)
    lines = matrix_lines(layout)
    assert len(lines) == 11 and all(len(line) <= 80 for line in lines)
    assert lines[1].startswith("0 class_0") and lines[0].split()[-1] == "9"  # names too long for a column
    text = report_lines(_Ev(sc), names, misclassified=5)
    assert all(len(line) <= 80 for line in text), [line for line in text if len(line) > 80]
    assert "Confusion matrix (rows: true class, columns: predicted class)" in text


def test_short_names_head_the_columns():
    sc = _scores(3)
    lines = matrix_lines(matrix_layout(sc, ["cat", "dog", "owl"], 80))
    assert lines[0].split()[-3:] == ["cat", "dog", "owl"] and lines[1].startswith("cat ")


def test_more_classes_print_the_most_confused_pairs():
    sc = _scores(30, 2000)
    names = [f"n{i:02d}" for i in range(30)]
    assert matrix_layout(sc, names, 80) is None
    text = report_lines(_Ev(sc), names)
    assert "30 classes: too many for a matrix in 80 columns (--json FILE holds it whole)." in text
    at = text.index("Most confused pairs (records, share of the true class, true -> predicted):")
    pairs = sc.confused_pairs(10)
    assert text[at + 1].split() == [str(pairs[0][2]), f"{pairs[0][2] / sc.row_total(pairs[0][0]):.3f}",
                                    names[pairs[0][0]], "->", names[pairs[0][1]]]
    assert all(len(line) <= 80 for line in text)
    data = to_json(_Ev(sc), names)
    assert np.array(data["confusion"]["matrix"]).shape == (30, 30) and len(data["classes"]) == 30
