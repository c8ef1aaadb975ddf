"""The confusion matrix of a scored set, and what it gives: per-class recall and precision, top-k, mistakes.

* The matrix: ``matrix[t][p]`` counts the items of true class ``t`` predicted as ``p`` (rows true, columns
  predicted); the prediction is the class with the highest score (the first of equal scores, numpy's argmax).
* Per class: recall (= that class's accuracy) ``matrix[c][c] / sum(row c)``, precision
  ``matrix[c][c] / sum(column c)``; None for a class with no items (recall) or never predicted (precision).
* Top-k is Caffe's Accuracy rule (``accuracy_layer.cpp``): an item is right at k when fewer than k classes
  score ``>=`` its true class, so a tie counts against it; top-1 can thus be slightly below the matrix's
  diagonal share when scores tie exactly.
* An item whose label is the Accuracy layer's ``ignore_label`` is not counted anywhere (as in Caffe).
* Confidence of a prediction: the softmax of the item's scores at the predicted class, or the score itself
  when the scores already are probabilities (a Softmax top: non-negative, each row summing to 1).  The
  mistakes kept are the ``keep`` most confident ones, most confident first, the earlier item first on a tie.
"""
from __future__ import annotations

import heapq
import re
from dataclasses import dataclass

import numpy as np

_CONVERT_KEY = re.compile(r"^\d{8}_(.+)$", re.S)  # convert_imageset's "%08d_<path>"


def file_of(key: str) -> str:
    """The image path a record key names: ``00000012_six/003.png`` -> ``six/003.png`` (other keys as they are)."""
    match = _CONVERT_KEY.match(key)
    return match.group(1) if match else key


@dataclass(frozen=True)
class Mistake:
    """A wrongly predicted item: its record key, true and predicted class, confidence, place in the pass."""

    key: str
    true: int
    predicted: int
    confidence: float
    index: int

    @property
    def file(self) -> str:
        return file_of(self.key)


@dataclass(frozen=True)
class Scores:
    """What a pass gives (immutable: posted across threads as it is)."""

    matrix: tuple  # tuple of row tuples, rows true, columns predicted
    top_k: tuple  # ((k, accuracy), ...) by k
    top_k_hits: tuple  # ((k, items right at k), ...)
    mistakes: tuple  # Mistake, most confident first
    count: int  # items counted
    ignored: int  # items with the ignore_label

    @property
    def classes(self) -> int:
        return len(self.matrix)

    def row_total(self, c: int) -> int:
        return sum(self.matrix[c])

    def column_total(self, c: int) -> int:
        return sum(row[c] for row in self.matrix)

    def recall(self, c: int) -> float | None:
        total = self.row_total(c)
        return self.matrix[c][c] / total if total else None

    def precision(self, c: int) -> float | None:
        total = self.column_total(c)
        return self.matrix[c][c] / total if total else None

    def top1(self) -> float | None:
        return dict(self.top_k).get(1)

    def confused_pairs(self, limit: int = 10) -> list[tuple[int, int, int]]:
        """The ``limit`` largest off-diagonal cells as (true, predicted, count), largest first."""
        cells = [(-n, t, p) for t, row in enumerate(self.matrix) for p, n in enumerate(row) if t != p and n]
        return [(t, p, -n) for n, t, p in sorted(cells)[:limit]]


def confidences(scores: np.ndarray) -> np.ndarray:
    """Each row's probability of its highest-scoring class (see the module docstring)."""
    scores = scores.astype(np.float64)
    rows = scores.sum(axis=1)
    if scores.size and (scores >= 0).all() and np.allclose(rows, 1.0, atol=1e-3):
        return scores.max(axis=1)
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return 1.0 / shifted.sum(axis=1)  # exp(max - max) / sum


class Tally:
    """Adds items up batch by batch: ``add(scores (n, C), labels (n,), keys)``, then ``result()``."""

    def __init__(self, classes: int, ks=(1,), keep: int = 10, ignore_label: int | None = None) -> None:
        self.classes, self.keep, self.ignore_label = classes, max(0, int(keep)), ignore_label
        self.ks = tuple(sorted({int(k) for k in ks if 0 < int(k) <= classes} | {1}))
        self.matrix = np.zeros((classes, classes), np.int64)
        self.hits = dict.fromkeys(self.ks, 0)
        self.count = self.ignored = self.seen = 0
        self._heap: list = []  # (confidence, -index, Mistake): the keep most confident, least on top

    def add(self, scores: np.ndarray, labels: np.ndarray, keys) -> None:
        scores = np.asarray(scores, np.float32).reshape(len(labels), self.classes)
        labels = np.asarray(labels).reshape(-1).astype(np.int64)
        index = self.seen + np.arange(len(labels))
        self.seen += len(labels)
        valid = labels != self.ignore_label if self.ignore_label is not None else np.ones(len(labels), bool)
        self.ignored += int((~valid).sum())
        scores, labels, index = scores[valid], labels[valid], index[valid]
        keys = [k for k, ok in zip(keys, valid) if ok]
        predicted = scores.argmax(axis=1)
        np.add.at(self.matrix, (labels, predicted), 1)
        true_score = scores[np.arange(len(labels)), labels][:, None]
        better = (scores >= true_score).sum(axis=1) - 1  # Caffe's Accuracy: ties count against the item
        for k in self.ks:
            self.hits[k] += int((better < k).sum())
        self.count += len(labels)
        wrong = np.nonzero(predicted != labels)[0]
        if self.keep and len(wrong):
            self._keep_mistakes(wrong, keys, labels, predicted, confidences(scores[wrong]), index)

    def _keep_mistakes(self, wrong, keys, labels, predicted, conf, index) -> None:
        for j, p in zip(wrong, conf):
            entry = (float(p), -int(index[j]))
            if len(self._heap) == self.keep and entry <= self._heap[0][:2]:
                continue
            mistake = Mistake(_text(keys[j]), int(labels[j]), int(predicted[j]), float(p), int(index[j]))
            item = (*entry, mistake)
            (heapq.heapreplace if len(self._heap) == self.keep else heapq.heappush)(self._heap, item)

    def result(self) -> Scores:
        n = self.count
        mistakes = tuple(m for *_, m in sorted(self._heap, key=lambda e: (-e[0], -e[1])))
        return Scores(matrix=tuple(tuple(int(v) for v in row) for row in self.matrix),
                      top_k=tuple((k, self.hits[k] / n if n else 0.0) for k in self.ks),
                      top_k_hits=tuple((k, self.hits[k]) for k in self.ks),
                      mistakes=mistakes, count=n, ignored=self.ignored)


def _text(key) -> str:
    return key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
