"""ImageClassifier against a forward of the same preprocessed arrays, and against real pycaffe's Classifier.

The arrays are made here with cv2/numpy (classification.cpp's steps) and run through pycaffe's API
(``tunewiz.Net.forward_all``, one image per pass), so the batching, the output pick, the softmax and
the top-k of ``ImageClassifier`` are checked on their own.  The classify.py convention is compared with
real BVLC pycaffe's ``Classifier.predict`` (``tests/fixtures/pycaffe_classifier``) on the sample's digits.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import tunewiz
from tunewiz.caffe.binaryproto import write_blob
from tunewiz.errors import TunewizError
from tunewiz.infer.classify import Classified, ImageClassifier, Item, Unreadable
from tunewiz.infer.preprocess import PY, Settings
from tunewiz.sample_models import LENET_DIGITS

PYCAFFE = Path(__file__).resolve().parents[1] / "fixtures" / "pycaffe_classifier"
COLOR_DEPLOY, COLOR_WEIGHTS = PYCAFFE / "tiny_color_deploy.prototxt", PYCAFFE / "tiny_color.caffemodel"
LENET_DEPLOY, LENET_WEIGHTS = LENET_DIGITS / "lenet_deploy.prototxt", LENET_DIGITS / "lenet_digits04.caffemodel"
RNG = np.random.default_rng(3)


def _images(folder: Path, shapes) -> list[str]:
    paths = []
    for i, shape in enumerate(shapes):
        paths.append(str(folder / f"img{i}.png"))
        cv2.imwrite(paths[-1], RNG.integers(0, 256, size=shape, dtype=np.uint8))
    return paths


def _cpp_arrays(paths, channels, size, mean, scale):
    """classification.cpp's Preprocess written out: one C x H x W array per image."""
    out = []
    for path in paths:
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if channels == 1 and img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        if channels == 3 and img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        img = cv2.resize(img, size).astype(np.float32).reshape(size[1], size[0], channels)
        out.append(((img - np.float32(mean)) * np.float32(scale)).transpose(2, 0, 1))
    return np.stack(out)


def _forward(deploy, weights, arrays, output):
    net = tunewiz.Net(str(deploy), tunewiz.TEST, weights=str(weights))
    return net.forward_all(**{net.inputs[0]: arrays})[output]


def _vectors(results, classes):
    rows = []
    for result in results:
        assert isinstance(result, Classified)
        row = np.full(classes, np.nan)
        for p in result.predictions:
            row[p.index] = p.probability
        rows.append(row)
    return np.array(rows)


def test_gray_net_batches_give_a_forward_of_the_same_arrays(tmp_path):
    paths = _images(tmp_path, [(8, 8), (10, 7, 3), (20, 20), (31, 5, 4), (8, 9), (6, 6)])
    clf = ImageClassifier(str(LENET_DEPLOY), str(LENET_WEIGHTS), Settings(input_scale=0.00390625), batch_size=4)
    results = list(clf.classify([Item(p) for p in paths], top_k=5))
    assert [r.path for r in results] == paths and not clf.notes and not clf.softmax_added
    want = _forward(LENET_DEPLOY, LENET_WEIGHTS, _cpp_arrays(paths, 1, (20, 20), 0, 0.00390625), "prob")
    np.testing.assert_allclose(_vectors(results, 5), want, rtol=1e-5, atol=1e-7)
    top = results[0].predictions
    assert [p.probability for p in top] == sorted((p.probability for p in top), reverse=True)
    assert top[0].label is None and top[0].name == str(top[0].index)


def test_colour_net_with_a_mean_file(tmp_path):
    mean = RNG.uniform(60, 160, size=(3, 16, 16)).astype(np.float32)
    write_blob(tmp_path / "mean.binaryproto", mean)
    per_channel = mean.reshape(3, -1).astype(np.float64).mean(1).astype(np.float32)[:, None, None]
    paths = _images(tmp_path, [(12, 12, 3), (20, 15, 3), (9, 9)])
    labels = ["a", "b", "c", "d", "e"]
    settings = Settings(mean_file=str(tmp_path / "mean.binaryproto"), input_scale=0.02)
    clf = ImageClassifier(str(COLOR_DEPLOY), str(COLOR_WEIGHTS), settings, labels=labels, batch_size=2)
    results = list(clf.classify([Item(p) for p in paths], top_k=5))
    arrays = _cpp_arrays(paths, 3, (12, 12), 0, 1) - per_channel
    want = _forward(COLOR_DEPLOY, COLOR_WEIGHTS, arrays * np.float32(0.02), "prob")
    np.testing.assert_allclose(_vectors(results, 5), want, rtol=1e-5, atol=1e-7)
    assert all(p.label == labels[p.index] for r in results for p in r.predictions)


def test_an_output_without_softmax_gets_one_and_a_note(tmp_path):
    deploy = tmp_path / "logits.prototxt"
    deploy.write_text(COLOR_DEPLOY.read_text().split('layer { name: "prob"')[0])
    paths = _images(tmp_path, [(12, 12, 3), (7, 12, 3)])
    clf = ImageClassifier(str(deploy), str(COLOR_WEIGHTS), Settings(mean_value=(104.0, 117.0, 123.0)))
    assert clf.softmax_added and clf.output_name == "fc"
    assert any("comes from the InnerProduct layer 'fc', not a Softmax" in n for n in clf.notes)
    results = list(clf.classify([Item(p) for p in paths], top_k=3))
    fc = _forward(deploy, COLOR_WEIGHTS, _cpp_arrays(paths, 3, (12, 12), (104, 117, 123), 1), "fc")
    want = np.exp(fc - fc.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    for result, row in zip(results, want):
        assert [p.index for p in result.predictions] == list(np.argsort(-row)[:3])
        np.testing.assert_allclose([p.probability for p in result.predictions], np.sort(row)[::-1][:3], rtol=1e-5)


def test_unreadable_images_keep_their_place(tmp_path):
    paths = _images(tmp_path, [(8, 8)] * 3)
    (tmp_path / "text.png").write_text("hello")
    items = [Item(paths[0]), Item(str(tmp_path / "text.png"), 2), Item(paths[1]), Item("missing.png"), Item(paths[2])]
    clf = ImageClassifier(str(LENET_DEPLOY), str(LENET_WEIGHTS), Settings(input_scale=0.00390625), batch_size=2)
    results = list(clf.classify(items, top_k=1))
    assert [type(r) for r in results] == [Classified, Unreadable, Classified, Unreadable, Classified]
    assert "Unable to decode image" in results[1].message and results[1].truth == 2
    assert len(results[0].predictions) == 1


def test_layers_the_weights_miss_are_said(tmp_path):
    deploy = tmp_path / "renamed.prototxt"
    deploy.write_text(LENET_DEPLOY.read_text().replace('name: "ip2"', 'name: "ip2_new"'))
    clf = ImageClassifier(str(deploy), str(LENET_WEIGHTS), Settings())
    assert any("has no weights for layer(s) ip2_new: they keep their fillers" in n for n in clf.notes)


def test_refusals(tmp_path):
    with pytest.raises(TunewizError, match="5 classes.*Number of labels is different"):
        ImageClassifier(str(LENET_DEPLOY), str(LENET_WEIGHTS), Settings(), labels=["a", "b"])
    with pytest.raises(TunewizError, match="--weights .*nope.caffemodel: no such file"):
        ImageClassifier(str(LENET_DEPLOY), str(tmp_path / "nope.caffemodel"), Settings())
    two = tmp_path / "two.prototxt"
    two.write_text('layer { name: "a" type: "Input" top: "a" top: "b" input_param { shape { dim: 1 dim: 1 dim: 4 '
                   'dim: 4 } } }\nlayer { name: "s" type: "Eltwise" bottom: "a" bottom: "b" top: "s" }\n')
    with pytest.raises(TunewizError, match="exactly one Input"):
        ImageClassifier(str(two), str(LENET_WEIGHTS), Settings())


@pytest.fixture(scope="module")
def pycaffe_expected():
    return dict(np.load(PYCAFFE / "expected.npz"))


@pytest.mark.parametrize("dims, tag", [(None, "lenet"), ((24, 24), "lenet24")])
@pytest.mark.parametrize("oversample", [True, False])
def test_classify_py_convention_is_real_pycaffes(pycaffe_expected, dims, tag, oversample):
    """python/classify.py's preprocessing: the probabilities real pycaffe's Classifier.predict gave."""
    paths = [str(LENET_DIGITS / p) for p in pycaffe_expected["lenet_images"]]
    settings = Settings(convention=PY, input_scale=1 / 256.0, images_dim=dims, oversample=oversample)
    clf = ImageClassifier(str(LENET_DEPLOY), str(LENET_WEIGHTS), settings, batch_size=3)
    got = _vectors(clf.classify([Item(p) for p in paths], top_k=5), 5)
    want = pycaffe_expected[f"{tag}_{'oversample' if oversample else 'center'}"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("oversample", [True, False])
def test_classify_py_convention_on_a_colour_net_is_pycaffes_classifier(tmp_path, oversample):
    paths = _images(tmp_path, [(10, 9, 3), (16, 12, 3), (7, 7)])
    mean = RNG.uniform(0, 255, size=(3, 14, 14)).astype(np.float32)
    write_blob(tmp_path / "mean.binaryproto", mean)
    settings = Settings(convention=PY, mean_file=str(tmp_path / "mean.binaryproto"), input_scale=0.02,
                        images_dim=(14, 14), oversample=oversample)
    clf = ImageClassifier(str(COLOR_DEPLOY), str(COLOR_WEIGHTS), settings, batch_size=2)
    got = _vectors(clf.classify([Item(p) for p in paths], top_k=5), 5)
    ref = tunewiz.Classifier(str(COLOR_DEPLOY), str(COLOR_WEIGHTS), image_dims=(14, 14), mean=mean,
                             input_scale=0.02, raw_scale=255, channel_swap=(2, 1, 0))
    want = ref.predict([tunewiz.io.load_image(p) for p in paths], oversample=oversample)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
