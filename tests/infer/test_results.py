"""classification.cpp's lines, the accuracy tally and the JSON record of one image."""
from __future__ import annotations

from tunewiz.infer.classify import Classified, Prediction, Unreadable
from tunewiz.infer.results import Tally, prediction_lines, result_record


def test_lines_as_classification_cpp_prints_them():
    result = Classified("cat.jpg", (Prediction(3, "n02123045 tabby, tabby cat", 0.31216), Prediction(0, None, 5e-5)))
    assert prediction_lines(result) == ["---------- Prediction for cat.jpg ----------",
                                        '0.3122 - "n02123045 tabby, tabby cat"', '0.0001 - "0"']


def test_tally_counts_top1_and_topk_over_known_classes():
    tally = Tally()
    top = (Prediction(1, None, 0.6), Prediction(2, None, 0.3))
    for result in (Classified("a", top, 1), Classified("b", top, 2), Classified("c", top, 0), Classified("d", top),
                   Unreadable("e", "Unable to decode image e", 1)):
        tally.add(result)
    assert (tally.classified, tally.unreadable, tally.with_truth) == (4, 1, 3)
    assert tally.accuracy(2) == {"images": 3, "top1": 1 / 3, "top2": 2 / 3}
    assert tally.accuracy_line(2) == ("accuracy over 3 images with a known class: top-1 0.3333 (1), "
                                      "top-2 0.6667 (2)")
    assert Tally().accuracy_line(5) is None


def test_json_records():
    assert result_record(Unreadable("x.png", "x.png: no such file")) == {"file": "x.png", "error": "x.png: no such file"}
    record = result_record(Classified("y.png", (Prediction(4, "four", 0.5),), 4))
    assert record == {"file": "y.png", "predictions": [{"index": 4, "label": "four", "probability": 0.5}], "true": 4}
