"""DataTransformer: our numpy version against a line-by-line transcription of Caffe's loop."""
import numpy as np
import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.data.sources import caffe_shuffle, uniform_int
from tunewiz.data.transform import Transformer, mt19937
from tunewiz.errors import TunewizError


def caffe_transform(img, param, phase, rand, mean=None):
    """data_transformer.cpp Transform(const Datum&, Dtype*), with Rand(n) = rand() % n."""
    c_, h_, w_ = img.shape
    cs = param.crop_size
    scale = np.float32(param.scale)
    do_mirror = param.mirror and rand() % 2
    mv = list(param.mean_value)
    if len(mv) == 1:
        mv = mv * c_
    height, width, h_off, w_off = h_, w_, 0, 0
    if cs:
        height = width = cs
        if phase == 0:
            h_off = rand() % (h_ - cs + 1)
            w_off = rand() % (w_ - cs + 1)
        else:
            h_off, w_off = (h_ - cs) // 2, (w_ - cs) // 2
    out = np.zeros((c_, height, width), np.float32)
    flat = img.ravel()
    for c in range(c_):
        for h in range(height):
            for w in range(width):
                data_index = (c * h_ + h_off + h) * w_ + w_off + w
                top_w = width - 1 - w if do_mirror else w
                x = np.float32(flat[data_index])
                if mean is not None:
                    out[c, h, top_w] = (x - mean.ravel()[data_index]) * scale
                elif mv:
                    out[c, h, top_w] = (x - np.float32(mv[c])) * scale
                else:
                    out[c, h, top_w] = x * scale
    return out


def test_mt19937_is_std_mt19937():
    """C++ [rand.predef]: the 10000th output of a default-constructed mt19937 (seed 5489) is 4123659995."""
    assert int(mt19937(5489).random_raw(10000)[-1]) == 4123659995


def test_boost_uniform_int_and_shuffle_are_permutations():
    g = mt19937(1)
    assert all(0 <= uniform_int(g, 0, i) <= i for i in range(1, 200))
    items = list(range(50))
    caffe_shuffle(items, mt19937(7))
    again = list(range(50))
    caffe_shuffle(again, mt19937(7))
    assert items == again and sorted(items) == list(range(50)) and items != list(range(50))


CASES = [
    dict(scale=0.00390625),
    dict(mirror=True),
    dict(crop_size=5, mirror=True, mean_value=[10.5, 20.25, 30]),
    dict(crop_size=5, mean_value=[100]),
    dict(crop_size=6, mirror=True, scale=0.017, mean_file=True),
    dict(mean_file=True, scale=2.5),
]


@pytest.mark.parametrize("phase", [0, 1])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_transform_matches_caffe_loop(tmp_path, phase, case):
    from tunewiz.data.mean import write_mean

    kwargs = dict(CASES[case])
    rng = np.random.default_rng(case)
    img = rng.integers(0, 256, (3, 9, 11), dtype=np.uint8)
    mean = None
    if kwargs.pop("mean_file", False):
        mean = rng.uniform(0, 255, img.shape).astype(np.float32)
        write_mean(mean, str(tmp_path / "m.binaryproto"))
        kwargs["mean_file"] = "m.binaryproto"
    param = caffe_pb2.TransformationParameter(**kwargs)
    ours = Transformer(param, phase, seed=42, root=str(tmp_path))
    theirs = mt19937(42)
    shape = ours.output_shape(img.shape)
    for _ in range(6):  # several images: the random stream advances like Caffe's
        out = np.empty(shape, np.float32)
        ours.apply(img, ours.draws(), out)
        expected = caffe_transform(img, param, phase, lambda: int(theirs.random_raw()), mean)
        assert out.tobytes() == expected.tobytes()


def test_float_data_and_gray():
    param = caffe_pb2.TransformationParameter(scale=0.5, mean_value=[1.0])
    t = Transformer(param, 1, seed=0)
    img = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    out = np.empty((1, 3, 4), np.float32)
    t.apply(img, t.draws(), out)
    assert np.array_equal(out, (img - 1) * np.float32(0.5))


def test_bad_transform_params(tmp_path):
    with pytest.raises(TunewizError, match="both mean_file and mean_value"):
        Transformer(caffe_pb2.TransformationParameter(mean_file="m", mean_value=[1]), 0, where="layer 'data'")
    with pytest.raises(TunewizError, match="mean_file 'nope.binaryproto' not found"):
        Transformer(caffe_pb2.TransformationParameter(mean_file="nope.binaryproto"), 0, root=str(tmp_path))
    t = Transformer(caffe_pb2.TransformationParameter(mean_value=[1, 2]), 0)
    with pytest.raises(TunewizError, match="Specify either 1 mean_value or as many as channels: 3"):
        t.check((3, 4, 4), (3, 4, 4), "'k'")
    t = Transformer(caffe_pb2.TransformationParameter(crop_size=8), 0)
    with pytest.raises(TunewizError, match="crop_size 8 is larger"):
        t.output_shape((3, 4, 4))
