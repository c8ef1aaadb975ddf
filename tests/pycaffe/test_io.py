"""``tunewiz.pycaffe.io`` against real pycaffe's ``caffe.io``, through the committed fixture.

``tests/fixtures/pycaffe_io/make_fixture.py`` ran BVLC pycaffe (scikit-image 0.26, SciPy 1.17) on the
fixture's images and seeded arrays; nothing here runs Caffe.  Everything is compared exactly except
``resize_image`` and what goes through it, which may differ from scikit-image/SciPy in the order of
float additions: allowed 2e-6 of the image's range (on these inputs they agree bit for bit; over
1500 random sizes, channel counts and orders 0/1 the worst was 7.3e-7); and
JPEG decoding, where OpenCV's and Pillow's libjpeg builds may round a pixel differently: allowed
1/255 on a few pixels.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.pycaffe import io as cio

HERE = Path(__file__).resolve().parents[1] / "fixtures" / "pycaffe_io"
REF = dict(np.load(HERE / "pycaffe_io.npz"))
RESIZE_RTOL = 2e-6


def _same(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def _close(got, want, spread):
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=RESIZE_RTOL * max(float(spread), 1.0))


@pytest.mark.parametrize("name", ["rgb.png", "gray.png", "rgba.png"])
@pytest.mark.parametrize("color", [True, False])
def test_load_image_as_pycaffe(name, color):
    _same(cio.load_image(str(HERE / name), color), REF[f"load/{name}/{int(color)}"])


@pytest.mark.parametrize("color", [True, False])
def test_load_jpeg_as_pycaffe_within_a_decoder_step(color):
    got, want = cio.load_image(HERE / "rgb.jpg", color), REF[f"load/rgb.jpg/{int(color)}"]
    assert got.dtype == want.dtype and got.shape == want.shape
    diff = np.abs(got - want)
    assert diff.max() <= 1 / 255 + 1e-6 and (diff > 1e-6).mean() < 0.05


def test_load_image_missing_and_unreadable(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        cio.load_image(str(tmp_path / "nope.png"))
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(Exception, match="bad.png: not an image"):
        cio.load_image(str(tmp_path / "bad.png"))


@pytest.mark.parametrize("i", range(13))
def test_resize_image_as_pycaffe(i):
    im, dims, order = REF[f"resize/{i}/in"], tuple(REF[f"resize/{i}/dims"]), int(REF[f"resize/{i}/order"])
    _close(cio.resize_image(im, dims, order), REF[f"resize/{i}/out"], np.ptp(im))


def test_resize_image_other_orders_are_one_message():
    with pytest.raises(ValueError, match="interp_order 3 is not supported"):
        cio.resize_image(np.zeros((4, 4, 3), np.float32), (2, 2), 3)


def _transformer(inputs=None):
    t = cio.Transformer(inputs or {"data": (2, 3, 8, 8)})
    t.set_transpose("data", (2, 0, 1))
    t.set_channel_swap("data", (2, 1, 0))
    t.set_raw_scale("data", 255.0)
    t.set_mean("data", np.array([104.0, 117.0, 123.0]))
    t.set_input_scale("data", 0.017)
    return t


@pytest.mark.parametrize("name", ["same", "resized"])
def test_preprocess_and_deprocess_as_pycaffe(name):
    t, im = _transformer(), REF[f"pre/{name}/in"]
    out = t.preprocess("data", im)
    _close(out, REF[f"pre/{name}/out"], 255 * 0.017)
    _close(t.deprocess("data", REF[f"pre/{name}/out"]), REF[f"pre/{name}/back"], 1)
    np.testing.assert_array_equal(im, REF[f"pre/{name}/in"])  # the caller's array is left alone


def test_a_list_shape_works_as_a_tuple():
    out = _transformer({"data": [2, 3, 8, 8]}).preprocess("data", REF["pre/same/in"])
    _same(out, REF["pre/same/out"])


def test_set_mean_full_and_flat_as_pycaffe():
    t = _transformer()
    t.set_mean("data", REF["mean/full/in"])
    _close(t.mean["data"], REF["mean/full/out"], 200)
    g = cio.Transformer({"g": (1, 1, 6, 6)})
    g.set_mean("g", REF["mean/flat/in"])
    _same(g.mean["g"], REF["mean/flat/out"])


def test_a_flat_mean_of_another_size_is_resized():
    g = cio.Transformer({"g": (1, 1, 6, 6)})
    g.set_mean("g", np.arange(16.0).reshape(4, 4))
    assert g.mean["g"].shape == (1, 6, 6)


@pytest.mark.parametrize("call, message", [
    (lambda t: t.set_transpose("label", (2, 0, 1)), "label is not one of the net inputs"),
    (lambda t: t.set_transpose("data", (1, 0)), "Transpose order needs to have the same number of dimensions"),
    (lambda t: t.set_channel_swap("data", (1, 0)), "Channel swap needs to have the same number of dimensions"),
    (lambda t: t.set_mean("data", np.zeros(2)), "Mean channels incompatible with input."),
    (lambda t: t.set_mean("data", np.zeros((1, 1, 3, 8, 8))), "Mean shape invalid"),
    (lambda t: t.preprocess("label", np.zeros((8, 8, 3))), "label is not one of the net inputs"),
])
def test_transformer_checks_with_pycaffes_messages(call, message):
    with pytest.raises(ValueError, match=message):
        call(_transformer())


def test_oversample_as_pycaffe():
    images = list(REF["over/in"])
    _same(cio.oversample(images, (4, 5)), REF["over/out"])
    _same(cio.oversample(REF["over/in"], np.array([4, 5])), REF["over/out"])


def test_array_to_blobproto_as_pycaffe():
    blob = cio.array_to_blobproto(REF["blob/in"], REF["blob/diff"])
    assert blob.SerializeToString() == REF["blob/bytes"].tobytes()
    assert cio.array_to_blobproto(REF["blob/in"]).SerializeToString() == \
        caffe_pb2.BlobProto(shape=blob.shape, data=blob.data).SerializeToString()


def test_blobproto_to_array_as_pycaffe():
    legacy = caffe_pb2.BlobProto.FromString(REF["blob/legacy"].tobytes())
    _same(cio.blobproto_to_array(legacy), REF["blob/legacy/data"])
    _same(cio.blobproto_to_array(legacy, return_diff=True), REF["blob/legacy/diff"])
    shaped = caffe_pb2.BlobProto.FromString(REF["blob/bytes"].tobytes())
    _same(cio.blobproto_to_array(shaped), REF["blob/in"].astype(np.float32).astype(np.float64))


def test_blobprotovector_strings_as_pycaffe():
    arrays = [REF["blob/in"], REF["blob/diff"][0]]
    data = cio.arraylist_to_blobprotovector_str(arrays)
    assert data == REF["vec/bytes"].tobytes()
    back = cio.blobprotovector_str_to_arraylist(data)
    for got, arr in zip(back, arrays):
        _same(got, arr.astype(np.float32).astype(np.float64))


@pytest.mark.parametrize("name, label", [("u8", 7), ("float", None)])
def test_datum_as_pycaffe(name, label):
    datum = cio.array_to_datum(REF[f"datum/{name}/in"], label)
    assert datum.SerializeToString() == REF[f"datum/{name}/bytes"].tobytes()
    parsed = caffe_pb2.Datum.FromString(REF[f"datum/{name}/bytes"].tobytes())
    _same(cio.datum_to_array(parsed), REF[f"datum/{name}/out"])


def test_array_to_datum_wants_three_axes():
    with pytest.raises(ValueError, match="Incorrect array shape."):
        cio.array_to_datum(np.zeros((4, 4), np.uint8))


def test_caffe_pb2_is_reachable_as_in_pycaffe():
    assert cio.caffe_pb2 is caffe_pb2


def test_the_package_gives_caffe_io_on_first_use():
    """``import tunewiz as caffe; caffe.io.Transformer`` as pycaffe scripts write it; loaded only when asked."""
    import subprocess
    import sys

    code = ("import sys, tunewiz; assert 'tunewiz.pycaffe.io' not in sys.modules; "
            "import tunewiz.pycaffe.io as m; assert tunewiz.io is m and 'io' in dir(tunewiz); "
            "print(tunewiz.io.Transformer.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "Transformer"
