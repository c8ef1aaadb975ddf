"""WindowData batches: Caffe's own sampling and mirror draws (seeded as Caffe's global RNG), the
foreground/background proportions, resume, and the parameters' errors."""
import numpy as np
import pytest

from tests.data.window_helpers import FX, INDEX, caffe_arrays, window_layer, write_window_file
from tunewiz.data.feed import make_feed
from tunewiz.data.transform import mt19937
from tunewiz.data.window_feed import WindowFeedError, sample_batch

ARRAYS = caffe_arrays()
BLOCKS = [("a.png", [(1, 0.8, 0, 0, 20, 15), (0, 0.1, 5, 7, 30, 25), (2, 0.6, 30, 25, 49, 39)]),
          ("c.png", [(3, 0.95, 40, 30, 70, 60), (0, 0.2, 50, 0, 119, 40)])]


def sequence_layer(tmp_path, case):
    source = write_window_file(tmp_path / "seq.txt", [(img, [tuple(b) for b in boxes]) for img, boxes in case["windows"]])
    return window_layer(source, "mirror: true crop_size: 16 mean_value: 100",
                        'fg_fraction: 0.25 context_pad: 4 crop_mode: "warp"')


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("name", ["sequence_train", "sequence_test"])
def test_batches_equal_caffes_with_its_seed(tmp_path, name, workers):
    case = INDEX["cases"][name]
    phase = 0 if case["phase"] == "TRAIN" else 1
    feed = make_feed(sequence_layer(tmp_path, case), phase, seed=case["seed"], workers=workers)
    try:
        assert feed.top_shapes == [(8, 3, 16, 16), (8,)]
        for i in range(case["forwards"]):
            data, label = feed.next_batch()
            np.testing.assert_array_equal(label, ARRAYS[f"{name}_label{i}"])
            np.testing.assert_array_equal(data, ARRAYS[f"{name}_data{i}"])
    finally:
        feed.close()


def test_each_batch_holds_fg_fraction_foreground_items_last(tmp_path):
    source = write_window_file(tmp_path / "w.txt", BLOCKS)
    feed = make_feed(window_layer(source, "crop_size: 8", "batch_size: 10 fg_fraction: 0.3"), 0, seed=3, workers=0)
    for _ in range(5):
        data, label = feed.next_batch()
        # int(10.0f * 0.3f) = 3 foreground windows, after the 7 background ones
        assert (label[:7] == 0).all() and set(label[7:]) <= {1, 2, 3} and (label[7:] > 0).all()
        assert data.shape == (10, 3, 8, 8) and (data.reshape(10, -1).max(1) > 0).all()
    assert feed.last_keys[0].endswith(("a.png window of line 8", "c.png window of line 17"))  # the bg ones
    feed.close()


def test_the_draws_are_uniform_over_each_list_and_mirror_half_the_time():
    """200 seeded batches of 128 (fixed seed: the counts are fixed, the bounds cannot flake)."""
    fg, bg = ["f0", "f1", "f2"], ["b0", "b1"]
    rng = mt19937(1701)
    counts: dict[str, int] = {}
    mirrored = 0
    for _ in range(200):
        picks = sample_batch(rng, fg, bg, 128, 0.25, True)
        assert [w[0] for w, _ in picks] == ["b"] * 96 + ["f"] * 32
        for w, m in picks:
            counts[w] = counts.get(w, 0) + 1
            mirrored += m
    assert all(abs(counts[w] - 6400 / 3) < 0.05 * 6400 / 3 for w in fg)
    assert all(abs(counts[w] - 19200 / 2) < 0.05 * 19200 / 2 for w in bg)
    assert abs(mirrored - 12800) < 0.03 * 12800
    assert sum(m for _, m in sample_batch(mt19937(1), fg, bg, 64, 1.0, False)) == 0  # no mirror: never


def test_resume_gives_the_same_batches_and_cache_images_the_same_pixels(tmp_path):
    source = write_window_file(tmp_path / "w.txt", BLOCKS)
    layer = window_layer(source, "mirror: true crop_size: 12", "context_pad: 2")
    feed = make_feed(layer, 0, seed=11, workers=2)
    feed.next_batch()
    state = feed.state()
    ahead = [feed.next_batch() for _ in range(2)]
    feed.restore(state)
    again = [feed.next_batch() for _ in range(2)]
    feed.close()
    for (d1, l1), (d2, l2) in zip(ahead, again):
        np.testing.assert_array_equal(d1, d2)
        np.testing.assert_array_equal(l1, l2)
    cached = window_layer(source, "mirror: true crop_size: 12", "context_pad: 2 cache_images: true")
    feed = make_feed(cached, 0, seed=11, workers=0)
    feed.next_batch()
    np.testing.assert_array_equal(feed.next_batch()[0], ahead[0][0])
    feed.close()


@pytest.mark.parametrize("transform, window, message", [
    ("mirror: false", "", "transform_param.crop_size must be > 0"),
    ("mirror: false", "crop_size: 16", "window_data_param.crop_size is not read: move it there"),
    ("crop_size: 16", 'crop_mode: "crop"', "crop_mode 'crop' is not one of 'warp', 'square'"),
    ("crop_size: 16", "context_pad: 8", "2 \\* context_pad must be < crop_size"),
    ("crop_size: 16 mean_value: 1 mean_value: 2", "", "Specify either 1 mean_value or as many as channels: 3"),
    (f'crop_size: 16 mean_value: 1 mean_file: "{FX}/mean.binaryproto"', "", "Cannot specify mean_file and mean_value"),
    (f'crop_size: 24 mean_file: "{FX}/mean.binaryproto"', "", "the mean_file is 3x20x20"),
    ("crop_size: 16", "fg_threshold: 0.99", "has no foreground windows"),
    ("crop_size: 16", "bg_threshold: 0.05", "has no background windows"),
    ("crop_size: 16", "batch_size: 0", "batch_size must be > 0"),
])
def test_parameter_errors_name_the_layer(tmp_path, transform, window, message):
    source = write_window_file(tmp_path / "w.txt", BLOCKS)
    with pytest.raises(WindowFeedError, match=f"layer 'data' \\(WindowData\\): .*{message}"):
        make_feed(window_layer(source, transform, window), 0, workers=0)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(WindowFeedError, match="Failed to open window file .*nope.txt"):
        make_feed(window_layer(str(tmp_path / "nope.txt")), 0, workers=0)
    source = write_window_file(tmp_path / "w.txt", BLOCKS)
    layer = window_layer(source)
    layer.window_data_param.root_folder = str(tmp_path) + "/"
    with pytest.raises(WindowFeedError, match="Could not open or find file .*a.png"):
        make_feed(layer, 0, workers=0)
