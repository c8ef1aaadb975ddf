"""``tunewiz.Classifier`` against real BVLC pycaffe's ``caffe.Classifier`` (``tests/fixtures/pycaffe_classifier``).

The fixture holds pycaffe's ``predict`` results for the sample LeNet (grayscale digits, at the net's
input size and scaled to 24x24 first, with and without oversample) and for a CaffeNet-style colour
net (mean, channel swap, raw and input scale, a batch that ``forward_all`` pads); ours agree within
1e-4 relative.
"""
from pathlib import Path

import numpy as np
import pytest

import tunewiz
from tunewiz.sample_models import LENET_DIGITS

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "pycaffe_classifier"


@pytest.fixture(scope="module")
def expected():
    return dict(np.load(FIXTURE / "expected.npz"))


@pytest.fixture(scope="module")
def digits(expected):
    return [tunewiz.io.load_image(str(Path(LENET_DIGITS) / p), color=False) for p in expected["lenet_images"]]


def _close(ours, theirs):
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("dims, tag", [(None, "lenet"), ((24, 24), "lenet24")])
def test_lenet_predictions_are_pycaffes(expected, digits, dims, tag):
    clf = tunewiz.Classifier(str(Path(LENET_DIGITS) / "lenet_deploy.prototxt"),
                             str(Path(LENET_DIGITS) / "lenet_digits04.caffemodel"),
                             image_dims=dims, raw_scale=255, input_scale=1 / 256.0)
    _close(clf.predict(digits), expected[f"{tag}_oversample"])
    _close(clf.predict(digits, oversample=False), expected[f"{tag}_center"])


def test_colour_net_with_mean_and_channel_swap_is_pycaffes(expected):
    clf = tunewiz.Classifier(str(FIXTURE / "tiny_color_deploy.prototxt"), str(FIXTURE / "tiny_color.caffemodel"),
                             image_dims=(14, 14), mean=np.array([0.4, 0.5, 0.6]) * 255,
                             channel_swap=(2, 1, 0), raw_scale=255, input_scale=0.02)
    images = list(expected["color_images"])
    _close(clf.predict(images), expected["color_oversample"])
    _close(clf.predict(images, oversample=False), expected["color_center"])


def test_classifier_is_a_test_phase_net_with_pycaffes_attributes():
    clf = tunewiz.Classifier(str(Path(LENET_DIGITS) / "lenet_deploy.prototxt"),
                             str(Path(LENET_DIGITS) / "lenet_digits04.caffemodel"))
    assert isinstance(clf, tunewiz.Net) and clf.phase == tunewiz.TEST
    assert list(clf.crop_dims) == [20, 20] and list(clf.image_dims) == [20, 20]
    assert clf.transformer.transpose["data"] == (2, 0, 1)
