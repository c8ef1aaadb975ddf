"""The confusion matrix's counts, Caffe's top-k rule, ignore_label, and the most confident mistakes."""
from __future__ import annotations

import numpy as np
import pytest

from tunewiz.infer.confusion import Tally, confidences, file_of


def test_rows_true_columns_predicted_recall_precision():
    tally = Tally(3)
    scores = np.array([[3, 1, 0], [0, 2, 1], [0, 2, 1], [1, 0, 5]], np.float32)
    tally.add(scores, np.array([0, 1, 2, 2]), ["a", "b", "c", "d"])
    sc = tally.result()
    assert sc.matrix == ((1, 0, 0), (0, 1, 0), (0, 1, 1))
    assert (sc.recall(2), sc.precision(1), sc.count) == (0.5, 0.5, 4)
    assert sc.confused_pairs() == [(2, 1, 1)]
    assert sc.top_k == ((1, 0.75),)


def test_a_tie_counts_against_the_item_as_in_caffes_accuracy():
    tally = Tally(3, ks=(1, 2))
    tally.add(np.array([[1, 1, 0]], np.float32), np.array([0]), ["tie"])
    sc = tally.result()
    assert sc.matrix[0][0] == 1  # argmax: the first of equal scores
    assert dict(sc.top_k_hits) == {1: 0, 2: 1}


def test_ignore_label_is_not_counted():
    tally = Tally(2, ignore_label=1)
    tally.add(np.array([[0, 1], [0, 1], [1, 0]], np.float32), np.array([1, 0, 0]), ["x", "y", "z"])
    sc = tally.result()
    assert (sc.count, sc.ignored, sc.matrix) == (2, 1, ((1, 1), (0, 0)))
    assert [m.key for m in sc.mistakes] == ["y"] and sc.recall(1) is None


def test_the_most_confident_mistakes_across_batches_earlier_first_on_a_tie():
    tally = Tally(2, keep=3)
    tally.add(np.array([[0, 1], [0, 3], [2, 0]], np.float32), np.array([0, 0, 1]), [b"k0", b"k1", b"k2"])
    tally.add(np.array([[0, 3], [0, 9], [5, 0]], np.float32), np.array([0, 0, 0]), [b"k3", b"k4", b"k5"])
    keys = [m.key for m in tally.result().mistakes]
    assert keys == ["k4", "k1", "k3"]  # k1 and k3 score alike: k1 came first; k0 and k2 are less sure


def test_confidence_is_the_softmax_or_the_probability_itself():
    assert confidences(np.array([[0.0, np.log(3.0)]])) == pytest.approx([0.75])
    assert confidences(np.array([[0.2, 0.8]])) == pytest.approx([0.8])  # a Softmax top already


def test_file_of_a_convert_imageset_key():
    assert file_of("00000012_six/003.png") == "six/003.png"
    assert file_of("photo.jpg") == "photo.jpg"
