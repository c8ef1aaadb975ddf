"""An Evaluation as text that fits a terminal's width, and as JSON for scripts.

The matrix is printed whole when it fits ``width`` columns (up to about 10 classes at 80 columns): column
headers are the class names when each fits its column, else the label numbers (the rows then say
``number name``).  A matrix too wide is replaced by the most confused pairs (true -> predicted, with their
share of the true class's records) and the per-class table by the classes of lowest recall; the JSON always
holds the whole matrix and every class.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

from tunewiz.infer.confusion import Scores

LIMIT = 10  # pairs and weakest classes shown when the matrix does not fit
CORNER = "true \\ pred"


def numbered(label: int, name: str) -> str:
    """``3 cat``; a class without a name is its number alone."""
    return name if name == str(label) else f"{label} {name}"


@dataclass(frozen=True)
class MatrixLayout:
    """The matrix as cells: ``labels[t]`` heads row t, ``headers[p]`` column p, every cell ``cell`` wide."""

    label_width: int
    cell: int
    headers: tuple
    labels: tuple
    counts: tuple  # the matrix

    def line(self, label: str, cells) -> str:
        return label.ljust(self.label_width) + "".join(c.rjust(self.cell) for c in cells)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 1, 0)] + "…"


def matrix_layout(scores: Scores, names: list[str], width: int = 80) -> MatrixLayout | None:
    """The layout of the whole matrix in ``width`` columns, None when it cannot fit."""
    c = scores.classes
    biggest = max((n for row in scores.matrix for n in row), default=0)
    cell = max(len(str(biggest)), len(str(c - 1)), 4) + 2
    by_name = all(len(n) <= cell - 1 for n in names)
    labels = names if by_name else [numbered(i, n) for i, n in enumerate(names)]
    room = width - c * cell
    if room < 8:
        return None
    label_width = min(max(max(len(label) for label in labels) + 1, len(CORNER) + 1), room)
    headers = names if by_name else [str(i) for i in range(c)]
    return MatrixLayout(label_width, cell, tuple(headers), tuple(_cut(label, label_width - 1) for label in labels),
                        scores.matrix)


def matrix_lines(layout: MatrixLayout) -> list[str]:
    lines = [layout.line(CORNER[:layout.label_width - 1], layout.headers)]
    lines += [layout.line(label, [str(n) for n in row]) for label, row in zip(layout.labels, layout.counts)]
    return lines


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def class_lines(scores: Scores, names: list[str], only=None) -> list[str]:
    """records, predicted, recall (= the class's accuracy) and precision per class (``only``: those labels)."""
    wanted = range(scores.classes) if only is None else only
    labels = {c: numbered(c, names[c]) for c in wanted}
    w = min(max([len(label) for label in labels.values()] + [5]) + 1, 36)
    lines = ["class".ljust(w) + "records  predicted  recall  precision"]
    for c, label in labels.items():
        lines.append(f"{_cut(label, w - 1).ljust(w)}{scores.row_total(c):>7}  {scores.column_total(c):>9}  "
                     f"{_num(scores.recall(c)):>6}  {_num(scores.precision(c)):>9}")
    return lines


def pair_lines(scores: Scores, names: list[str], limit: int = LIMIT) -> list[str]:
    """The most confused pairs: count, share of the true class's records, true -> predicted."""
    lines = []
    for t, p, n in scores.confused_pairs(limit):
        lines.append(f"  {n:>6}  {n / scores.row_total(t):.3f}  {_cut(names[t], 32)} -> {_cut(names[p], 32)}")
    return lines or ["  (none: every record was predicted right)"]


def mistake_lines(scores: Scores, names: list[str], limit: int | None = None) -> list[str]:
    """The most confident mistakes: confidence, true -> predicted, the record's key."""
    lines = []
    for m in scores.mistakes[:limit]:
        lines.append(f"  {m.confidence:.4f}  {_cut(names[m.true], 20)} -> {_cut(names[m.predicted], 20)}  {m.key}")
    return lines or ["  (none: every record was predicted right)"]


def summary_lines(ev) -> list[str]:
    """What was counted, and top-k."""
    sc = ev.scores
    lines = [f"Scored {ev.counted} of the {ev.records} records once: {ev.batches} batches of {ev.batch_size}, "
             f"score blob '{ev.target.score}', labels '{ev.target.label}' (layer '{ev.target.layer}')."]
    spare = ev.batches * ev.batch_size - ev.counted
    if spare and ev.complete:
        lines.append(f"The last batch's {spare} places past record {ev.records} wrap around to the first records: "
                     "they are in Caffe's outputs, not here.")
    if sc.ignored:
        lines.append(f"{sc.ignored} items have the ignore_label {ev.target.ignore_label}: not counted.")
    hits = dict(sc.top_k_hits)
    lines.append("  ".join(f"top-{k} {v:.4f} ({hits[k]}/{sc.count})" for k, v in sc.top_k))
    return lines


def report_lines(ev, names: list[str], width: int = 80, misclassified: int | None = None) -> list[str]:
    """The whole report (summary, matrix or pairs, classes, mistakes when ``misclassified``)."""
    sc = ev.scores
    lines = [part for line in summary_lines(ev) for part in textwrap.wrap(line, width)] + [""]
    layout = matrix_layout(sc, names, width)
    if layout is not None:
        lines += ["Confusion matrix (rows: true class, columns: predicted class)", *matrix_lines(layout), ""]
        lines += class_lines(sc, names)
    else:
        lines += [f"{sc.classes} classes: too many for a matrix in {width} columns (--json FILE holds it whole).",
                  "Most confused pairs (records, share of the true class, true -> predicted):",
                  *pair_lines(sc, names), "", f"The {LIMIT} classes of lowest recall:"]
        weakest = sorted(range(sc.classes), key=lambda c: (sc.recall(c) is None, sc.recall(c) or 0.0, c))[:LIMIT]
        lines += class_lines(sc, names, weakest)
    if misclassified:
        lines += ["", f"The {misclassified} most confident mistakes (confidence, true -> predicted, record key):",
                  *mistake_lines(sc, names, misclassified)]
    return lines


def to_json(ev, names: list[str], **about) -> dict:
    """Everything, for scripts: ``about`` (model, weights, ...) first."""
    sc = ev.scores
    t = ev.target
    return {
        **about,
        "layer": t.layer, "score_blob": t.score, "label_blob": t.label, "data_layer": t.data_layer,
        "records": ev.records, "counted": ev.counted, "batch_size": ev.batch_size, "batches": ev.batches,
        "ignored": sc.ignored,
        "caffe": ev.caffe,
        "top_k": {str(k): v for k, v in sc.top_k},
        "classes": [{"label": c, "name": names[c], "records": sc.row_total(c), "predicted": sc.column_total(c),
                     "recall": sc.recall(c), "precision": sc.precision(c)} for c in range(sc.classes)],
        "confusion": {"rows": "true", "columns": "predicted", "names": list(names),
                      "matrix": [list(row) for row in sc.matrix]},
        "misclassified": [{"key": m.key, "file": m.file, "true": m.true, "true_name": names[m.true],
                           "predicted": m.predicted, "predicted_name": names[m.predicted],
                           "confidence": m.confidence} for m in sc.mistakes],
    }
