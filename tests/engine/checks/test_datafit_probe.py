"""The data-fit probes: blob shapes from caffemodel headers, first-record shapes, meta builds."""
from __future__ import annotations

from pathlib import Path

import pytest

from tunewiz.caffe.caffemodel import load_weights
from tunewiz.engine.checks.datafit_probe import weight_blobs
from tunewiz.sample_models import LENET_DIGITS

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "engine"
SAMPLE = LENET_DIGITS / "lenet_digits04.caffemodel"


@pytest.mark.parametrize("path", [FIX / "lenet_v1.caffemodel", FIX / "lenet_iter_10.caffemodel", SAMPLE],
                         ids=lambda p: p.name)
def test_header_shapes_are_the_stored_shapes(path):
    if not path.is_file():
        pytest.skip(f"{path.name} is not here")
    headers = weight_blobs([path])
    full = {layer.name: layer.blobs for layer in load_weights(path).layers if layer.blobs}
    assert set(headers) == set(full)
    for name, blobs in full.items():
        file, shapes = headers[name]
        assert file == str(path)
        assert [b.stored_shape for b in shapes] == [b.stored_shape for b in blobs]
        assert [b.legacy for b in shapes] == [b.legacy for b in blobs]  # V1 files keep their 4-D dims


def test_a_file_that_cannot_be_read_is_left_to_the_weight_copy(tmp_path):
    bad = tmp_path / "bad.caffemodel"
    bad.write_bytes(b"\xff\xff\xff")
    assert weight_blobs([bad, tmp_path / "missing.caffemodel"]) == {}
