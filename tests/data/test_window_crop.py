"""One window cut, warped and written exactly as real Caffe 1.0's WindowDataLayer writes it
(tests/fixtures/window_data: one window per batch, no mirror, so Caffe's batch is deterministic)."""
import cv2
import numpy as np
import pytest

from tests.data.window_helpers import FX, INDEX, caffe_arrays
from tunewiz.caffe.binaryproto import read_mean
from tunewiz.data.window_crop import (Geometry, WindowCropError, caffe_round, cut_window, place_window,
                                      window_geometry)

CASES = {k: v for k, v in INDEX["cases"].items() if not k.startswith("sequence")}
ARRAYS = caffe_arrays()


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_window_equals_caffes_crop(name):
    case = CASES[name]
    img = cv2.imread(str(FX / "images" / case["image"]), cv2.IMREAD_COLOR)
    cs = case["crop_size"]
    warped, pad_h, pad_w = cut_window(img, case["box"], cs, case["context_pad"], case["crop_mode"] == "square")
    out = np.zeros((3, cs, cs), np.float32)
    mean = read_mean(str(FX / "mean.binaryproto")).astype(np.float32) if case.get("mean_file") else None
    values = np.resize(np.asarray(case["mean_value"], np.float32), 3) if "mean_value" in case else None
    place_window(out, warped, pad_h, pad_w, case.get("scale", 1.0), mean, values)
    np.testing.assert_array_equal(out, ARRAYS[name])


def test_the_cases_cover_modes_pads_borders_and_means():
    assert {c["crop_mode"] for c in CASES.values()} == {"warp", "square"}
    assert {0, 4, 16} <= {c["context_pad"] for c in CASES.values()}
    assert any(c.get("mean_file") for c in CASES.values()) and any("mean_value" in c for c in CASES.values())
    # boxes touching the left/top and the right/bottom borders
    assert any(c["box"][:2] == [0, 0] for c in CASES.values())
    assert any(c["box"][2] == INDEX["images"][c["image"]][1] - 1 for c in CASES.values())


def test_rounding_is_half_away_from_zero():
    assert [caffe_round(v) for v in (0.5, 1.5, 2.5, -0.5, -1.5, 2.4999)] == [1, 2, 3, -1, -2, 2]


def test_mirror_moves_the_padding_to_the_other_side():
    plain = window_geometry((0, 0, 20, 15), 40, 50, 16, context_pad=4)
    mirrored = window_geometry((0, 0, 20, 15), 40, 50, 16, context_pad=4, mirror=True)
    assert plain.pad_w > 0 and mirrored.pad_w == 0 and plain.pad_h == mirrored.pad_h > 0
    # a plain warp reads the box as given and fills the crop
    assert window_geometry((3, 4, 9, 8), 40, 50, 16) == Geometry(3, 4, 9, 8, 16, 16, 0, 0)


def test_mirror_flips_the_warped_window():
    img = cv2.imread(str(FX / "images" / "c.png"), cv2.IMREAD_COLOR)
    plain, _, _ = cut_window(img, (40, 30, 70, 60), 16, 4)
    mirrored, _, _ = cut_window(img, (40, 30, 70, 60), 16, 4, mirror=True)
    np.testing.assert_array_equal(mirrored, plain[:, ::-1])


@pytest.mark.parametrize("box", [(0, 0, 50, 10), (-1, 0, 10, 10), (10, 10, 5, 20)])
def test_a_box_outside_the_image_is_one_clear_error(box):
    img = np.zeros((40, 50, 3), np.uint8)
    with pytest.raises(WindowCropError, match=r"line 7.*not inside the 50x40 \(width x height\) image"):
        cut_window(img, box, 16, what="line 7")
