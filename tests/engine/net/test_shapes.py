"""Shapes without data: describe() on the meta device, and its table."""
from pathlib import Path

from tunewiz.caffe.prototxt import read_net_text
from tunewiz.engine.net.shapes import describe, format_rows

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "engine"


def test_lenet_shapes_and_params():
    report = describe(read_net_text(FIX / "lenet_v1_deploy.upgraded.prototxt"), "TEST")
    tops = {name: shape for row in report.rows for name, shape in row.tops}
    assert tops["conv1"] == (1, 20, 15, 15)
    assert tops["pool1"] == (1, 20, 8, 8)  # Caffe's ceil rounding: 7 with floor
    assert tops["pool2"] == (1, 50, 2, 2)
    assert tops["prob"] == (1, 4)
    assert report.total_params == 20 * 25 + 20 + 50 * 20 * 25 + 50 + 100 * 200 + 100 + 4 * 100 + 4
    text = format_rows(report)
    assert "conv2" in text and "50x20x5x5 + 50" in text and f"{report.total_params:,} parameters" in text
    assert str(report) == text
    assert report.as_dict()["layers"][1]["tops"][0]["shape"] == [1, 20, 15, 15]


def test_caffenet_on_meta_device():
    report = describe(read_net_text(FIX / "caffenet_b8.prototxt"), "TRAIN")
    assert report.total_params == 60_965_224  # CaffeNet with 1000 classes
    tops = {name: shape for row in report.rows for name, shape in row.tops}
    assert tops["pool5"] == (8, 256, 6, 6) and tops["conv2"] == (8, 256, 27, 27)
