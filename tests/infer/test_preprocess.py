"""classification.cpp's preprocessing, against the same steps written out here with cv2 and numpy.

Each case makes a small image file (gray, BGR, BGRA, 16-bit), preprocesses it for a gray (LeNet-shaped)
or a colour net, and compares with cv::imread(-1) -> cvtColor -> resize (INTER_LINEAR) -> float ->
- mean -> * scale written out step by step.  And the refusals: mean values, mean channels, odd images.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from tunewiz.caffe.binaryproto import write_blob
from tunewiz.errors import TunewizError
from tunewiz.infer.preprocess import CPP, PY, ImageError, Preprocessor, Settings

RNG = np.random.default_rng(7)


def _image(path, shape, dtype=np.uint8):
    top = 65535 if dtype == np.uint16 else 255
    cv2.imwrite(str(path), RNG.integers(0, top + 1, size=shape).astype(dtype))
    return str(path)


def _expected(path, code, size, mean=None, scale=None):
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if code is not None:
        img = cv2.cvtColor(img, code)
    if img.shape[:2] != size:
        img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    x = img.astype(np.float32)
    x = x[:, :, None] if x.ndim == 2 else x
    if mean is not None:
        x = x - np.asarray(mean, np.float32)
    x = x.transpose(2, 0, 1)
    return x * np.float32(scale) if scale is not None else x


@pytest.mark.parametrize("shape, code", [((10, 7, 3), cv2.COLOR_BGR2GRAY), ((9, 9, 4), cv2.COLOR_BGRA2GRAY),
                                         ((8, 8), None), ((20, 20), None)])
def test_gray_net_as_classification_cpp(tmp_path, shape, code):
    path = _image(tmp_path / "a.png", shape)
    prep = Preprocessor(Settings(input_scale=0.00390625), (1, 20, 20))
    got = prep(path)
    assert got.shape == (1, 1, 20, 20) and got.dtype == np.float32
    np.testing.assert_array_equal(got[0], _expected(path, code, (20, 20), scale=0.00390625))


@pytest.mark.parametrize("shape, code", [((5, 6), cv2.COLOR_GRAY2BGR), ((13, 11, 4), cv2.COLOR_BGRA2BGR),
                                         ((12, 12, 3), None), ((30, 17, 3), None)])
def test_colour_net_with_mean_values(tmp_path, shape, code):
    path = _image(tmp_path / "a.png", shape)
    prep = Preprocessor(Settings(mean_value=(104.0, 117.0, 123.0)), (3, 12, 12))
    np.testing.assert_array_equal(prep(path)[0], _expected(path, code, (12, 12), mean=(104, 117, 123)))


def test_mean_file_is_the_per_channel_mean_as_cv_mean(tmp_path):
    mean = RNG.uniform(0, 255, size=(3, 7, 9)).astype(np.float32)
    write_blob(tmp_path / "mean.binaryproto", mean)
    path = _image(tmp_path / "a.jpg", (16, 16, 3))
    prep = Preprocessor(Settings(mean_file=str(tmp_path / "mean.binaryproto"), input_scale=0.017), (3, 12, 12))
    per_channel = mean.reshape(3, -1).astype(np.float64).mean(axis=1).astype(np.float32)  # cv::mean, in double
    np.testing.assert_array_equal(prep.cpp_mean(), per_channel)
    np.testing.assert_array_equal(prep(path)[0], _expected(path, None, (12, 12), per_channel, 0.017))


def test_one_mean_value_serves_every_channel_and_16_bit_keeps_its_values(tmp_path):
    path = _image(tmp_path / "deep.png", (6, 6, 3), np.uint16)
    got = Preprocessor(Settings(mean_value=(100.0,)), (3, 6, 6))(path)[0]
    np.testing.assert_array_equal(got, _expected(path, None, (6, 6), mean=(100, 100, 100)))
    assert got.max() > 1000  # cv::imread(-1) keeps 16-bit values; so does classification.cpp


def test_refusals(tmp_path):
    with pytest.raises(TunewizError, match=r"--mean-value 1,2: 2 values for a 3-channel net; give 3 \(B,G,R\)"):
        Preprocessor(Settings(mean_value=(1.0, 2.0)), (3, 8, 8))
    write_blob(tmp_path / "m.binaryproto", np.zeros((3, 4, 4), np.float32))
    with pytest.raises(TunewizError, match="3 channels, the net's input has 1"):
        Preprocessor(Settings(mean_file=str(tmp_path / "m.binaryproto")), (1, 8, 8))
    with pytest.raises(TunewizError, match="no such file"):
        Preprocessor(Settings(mean_file=str(tmp_path / "none.binaryproto")), (1, 8, 8))
    with pytest.raises(TunewizError, match="has 2 channels; images make 1"):
        Preprocessor(Settings(), (2, 8, 8))
    with pytest.raises(TunewizError, match="--images-dim 6,6 is smaller"):
        Preprocessor(Settings(convention=PY, images_dim=(6, 6)), (3, 8, 8))
    with pytest.raises(TunewizError, match="--channel-swap 0,1: give an order"):
        Preprocessor(Settings(convention=PY, channel_swap=(0, 1)), (3, 8, 8))


@pytest.mark.parametrize("convention", [CPP, PY])
def test_unreadable_images_name_the_file(tmp_path, convention):
    prep = Preprocessor(Settings(convention=convention), (3, 8, 8))
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(ImageError, match=r"Unable to decode image .*notes\.jpg"):
        prep(str(tmp_path / "notes.jpg"))
    with pytest.raises(ImageError, match=r"gone\.png: no such file"):
        prep(str(tmp_path / "gone.png"))
    with pytest.raises(ImageError, match="is a folder"):
        prep(str(tmp_path))


def test_classify_py_convention_is_pycaffes_classifier_input(tmp_path):
    """The crops go through pycaffe's own numerics: 10 per image when oversampling, raw scale 255, BGR."""
    from tunewiz.data.pycaffe_images import classifier_inputs, classifier_transformer, load_image

    path = _image(tmp_path / "a.png", (11, 9, 3))
    settings = Settings(convention=PY, images_dim=(14, 14), oversample=True, mean_value=(1.0, 2.0, 3.0),
                        input_scale=0.5)
    got = Preprocessor(settings, (3, 12, 12))(path)
    transformer = classifier_transformer("data", (1, 3, 12, 12), np.array([1.0, 2.0, 3.0], np.float32), 0.5, 255.0,
                                         (2, 1, 0))
    want = classifier_inputs([load_image(path)], (14, 14), (12, 12), transformer, "data", True)
    assert got.shape == (10, 3, 12, 12)
    np.testing.assert_array_equal(got, want)
