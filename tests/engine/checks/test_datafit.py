"""Data that cannot fit the net: ``tunewiz train`` stops before building it with one fix-it message.

The bundled sample's LeNet (1x20x20 input, pretrained weights) on tiny LMDBs built here: records too
small, gray records with colour weights (and the reverse), a mean of other channels, a crop larger
than the records; a net whose problem is not the data keeps the layer's own message; a net that fits
is not refused.
"""
from __future__ import annotations

from pathlib import Path

import lmdb
import numpy as np
import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.caffemodel import load_weights, write_caffemodel
from tunewiz.caffe.prototxt import read_net_text, to_text
from tunewiz.cli import main
from tunewiz.engine.checks.datafit import DataFitError, check_data_fit
from tunewiz.sample_models import LENET_DIGITS

SAMPLE = LENET_DIGITS
WEIGHTS = SAMPLE / "lenet_digits04.caffemodel"
pytestmark = pytest.mark.skipif(not WEIGHTS.is_file(), reason="the sample's caffemodel is not built")


def make_db(path: Path, shape=(1, 8, 8), count: int = 6) -> str:
    """An LMDB of raw uint8 Datum records of ``shape`` (C, H, W), labels 0..4."""
    rng = np.random.default_rng(0)
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i in range(count):
            d = caffe_pb2.Datum(channels=shape[0], height=shape[1], width=shape[2], label=i % 5)
            d.data = rng.integers(0, 256, size=shape, dtype=np.uint8).tobytes()
            txn.put(f"{i:08d}".encode(), d.SerializeToString())
    env.close()
    return path.name


def sample_net(train: str, val: str, crop: int = 0, mean: str = "") -> caffe_pb2.NetParameter:
    net = read_net_text(SAMPLE / "lenet_train_val.prototxt")
    for layer in net.layer:
        if layer.type == "Data":
            layer.data_param.source = train if layer.include[0].phase == caffe_pb2.TRAIN else val
            if crop:
                layer.transform_param.crop_size = crop
            if mean:
                layer.transform_param.mean_file = mean
    return net


def workspace(root: Path, shape=(1, 8, 8), **edits) -> Path:
    """train/val LMDBs of ``shape``, the sample's net reading them and a 2-iteration solver, in ``root``."""
    make_db(root / "train_lmdb", shape)
    make_db(root / "val_lmdb", shape)
    (root / "train_val.prototxt").write_text(to_text(sample_net("train_lmdb", "val_lmdb", **edits)))
    (root / "solver.prototxt").write_text(
        'net: "train_val.prototxt"\ntest_iter: 1\ntest_interval: 1000\nbase_lr: 0.001\nlr_policy: "fixed"\n'
        'display: 1\nmax_iter: 2\nsnapshot_after_train: false\nsolver_mode: CPU\nrandom_seed: 1\n')
    return root


def colour_weights(path: Path, conv1_in: int = 3) -> str:
    """The sample's weights with conv1 made for ``conv1_in`` input channels."""
    stored = load_weights(WEIGHTS)
    net = caffe_pb2.NetParameter(name="colour")
    blobs = {}
    for layer in stored.layers:
        if layer.blobs:
            net.layer.add(name=layer.name, type=layer.type)
            arrays = [b.data for b in layer.blobs]
            if layer.name == "conv1":
                arrays[0] = np.repeat(arrays[0], conv1_in, axis=1) / conv1_in
            blobs[layer.name] = arrays
    write_caffemodel(path, net, blobs)
    return str(path)


def train(root: Path, monkeypatch, capsys, weights: str | None = str(WEIGHTS)) -> tuple[int, str]:
    monkeypatch.chdir(root)
    argv = ["train", "--solver", "solver.prototxt", "--run_dir", "run"] + (["--weights", weights] if weights else [])
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


def fitting_sizes() -> tuple[int, list[int]]:
    """Worked out apart from the check: the smallest side the deploy net builds at, and the sides at
    which its ip1 has the pretrained ip1's shape."""
    from tunewiz.engine.net.shapes import describe
    from tunewiz.errors import TunewizError

    deploy = read_net_text(SAMPLE / "lenet_deploy.prototxt")
    data = next(layer for layer in deploy.layer if layer.type == "Input")
    ip1 = tuple(load_weights(WEIGHTS)["ip1"][0].shape)
    builds, fits = [], []
    for side in range(1, 41):
        data.input_param.shape[0].dim[2:] = [side, side]
        try:
            rows = {row.name: row for row in describe(deploy).rows}
        except TunewizError:
            continue
        builds.append(side)
        if rows["ip1"].param_shapes[0] == ip1:
            fits.append(side)
    return builds[0], fits


def test_records_too_small_for_lenet_get_the_size_and_the_resize_command(tmp_path, monkeypatch, capsys):
    smallest, fits = fitting_sizes()
    side = max(fits)
    code, text = train(workspace(tmp_path), monkeypatch, capsys)
    assert code != 0 and "Traceback" not in text
    line = next(l for l in text.splitlines() if "does not fit the net" in l)
    assert line.startswith("E") and "caffe.cpp:250]" in line  # one glog line, as train prints errors
    assert "layer 'mnist' (TRAIN)" in line and "'train_lmdb'" in line and "1x8x8" in line
    assert f"net expects 1x{side}x{side}" in line and "layer 'conv2'" in line
    assert f"positive from {smallest}x{smallest} up" in line and f"{min(fits)}x{min(fits)} to {side}x{side}" in line
    assert f"tunewiz convert-imageset --gray --resize_height {side} --resize_width {side} ROOT/ LIST train_lmdb" in line
    assert "Solving" not in text  # stopped before the net was built


@pytest.mark.parametrize("records, weights_in, says, flags", [
    ((1, 20, 20), 3, ("take 3 channels (colour)", "records have 1 channel (gray)", "without --gray"),
     "tunewiz convert-imageset --resize_height 20"),
    ((3, 20, 20), 1, ("take 1 channel (gray)", "records have 3 channels (colour)", "with --gray"),
     "tunewiz convert-imageset --gray --resize_height 20"),
])
def test_channels_that_differ_from_the_weights_get_the_gray_fix(tmp_path, monkeypatch, capsys, records, weights_in,
                                                               says, flags):
    weights = colour_weights(tmp_path / "w.caffemodel", weights_in) if weights_in == 3 else str(WEIGHTS)
    code, text = train(workspace(tmp_path, records), monkeypatch, capsys, weights)
    assert code != 0 and "Traceback" not in text
    line = next(l for l in text.splitlines() if "does not fit the net" in l)
    c = records[0]
    assert f"{c}x20x20" in line and f"net expects {weights_in}x20x20" in line and "layer 'conv1'" in line
    for words in says:
        assert words in line, words
    assert flags in line


def test_a_mean_of_other_channels_names_both_fixes(tmp_path, monkeypatch, capsys):
    from tunewiz.data.mean import write_mean

    root = workspace(tmp_path, (1, 20, 20), mean="mean.binaryproto")
    write_mean(np.zeros((3, 20, 20), np.float32), str(root / "mean.binaryproto"))
    code, text = train(root, monkeypatch, capsys, weights=None)
    assert code != 0 and "Traceback" not in text
    line = next(l for l in text.splitlines() if "does not fit the net" in l)
    assert "mean_file 'mean.binaryproto' is 3x20x20" in line and "records have 1 channel" in line
    assert "without --gray" in line and "tunewiz compute-image-mean train_lmdb mean.binaryproto" in line


@pytest.mark.parametrize("weights, fix", [
    (str(WEIGHTS), "Fix: set crop_size: 20 in layer 'mnist'"),  # at 24x24 the pretrained ip1 would not fit
    (None, "Fix: lower crop_size to 20 in layer 'mnist'"),
])
def test_a_crop_larger_than_the_records_is_named(tmp_path, monkeypatch, capsys, weights, fix):
    code, text = train(workspace(tmp_path, (1, 20, 20), crop=24), monkeypatch, capsys, weights)
    assert code != 0 and "Traceback" not in text
    line = next(l for l in text.splitlines() if "does not fit the net" in l)
    assert "crop_size 24 is larger than the 20x20 images" in line and "crop_size must be <= the image size" in line
    assert fix in line
    if weights is None:
        assert "--resize_height 24 --resize_width 24" in line  # or make the images as large as the crop


def test_a_net_whose_problem_is_not_the_data_keeps_the_layers_message(tmp_path, monkeypatch, capsys):
    (tmp_path / "net.prototxt").write_text(
        'layer { name: "data" type: "DummyData" top: "data" top: "label"\n'
        '  dummy_data_param { shape { dim: 2 dim: 1 dim: 4 dim: 4 } shape { dim: 2 } } }\n'
        'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"\n'
        '  convolution_param { num_output: 2 kernel_size: 5 } }\n'
        'layer { name: "ip" type: "InnerProduct" bottom: "conv1" top: "ip" inner_product_param { num_output: 2 } }\n'
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }\n')
    (tmp_path / "solver.prototxt").write_text('net: "net.prototxt"\nbase_lr: 0.1\nlr_policy: "fixed"\nmax_iter: 1\n')
    code, text = train(tmp_path, monkeypatch, capsys, weights=None)
    assert code != 0 and "Traceback" not in text
    assert "layer 'conv1' (Convolution): output size [0, 0] is not positive" in text
    assert "does not fit the net" not in text


def test_data_that_fits_trains(tmp_path, monkeypatch, capsys):
    code, text = train(workspace(tmp_path, (1, 20, 20)), monkeypatch, capsys)
    assert code == 0, text
    assert "does not fit" not in text and "Iteration 1" in text


def test_no_false_positive_for_either_phase_or_weights_that_differ_for_another_reason(tmp_path):
    make_db(tmp_path / "t", (1, 20, 20))
    net = sample_net(str(tmp_path / "t"), str(tmp_path / "t"))
    other = colour_weights(tmp_path / "w.caffemodel", 1)  # then ip2 with another class count: not a size matter
    stored = load_weights(other)
    arrays = {l.name: [b.data for b in l.blobs] for l in stored.layers if l.blobs}
    arrays["ip2"] = [np.zeros((7, 100), np.float32), np.zeros(7, np.float32)]
    write_caffemodel(other, stored.net, arrays)
    for phase in (caffe_pb2.TRAIN, caffe_pb2.TEST):
        net.state.phase = phase
        check_data_fit(net, weights=[str(WEIGHTS)])
        check_data_fit(net, weights=[other])  # the weight copy reports ip2 (rename the layer), not this check
        check_data_fit(net)


def test_image_data_gets_its_own_fields(tmp_path):
    import cv2

    (tmp_path / "img").mkdir()
    for i in range(2):
        cv2.imwrite(str(tmp_path / "img" / f"{i}.png"), np.full((8, 8), 40 * i, np.uint8))
    (tmp_path / "list.txt").write_text("0.png 0\n1.png 1\n")
    net = sample_net("x", "x")
    for layer in net.layer:
        if layer.type == "Data":
            layer.type = "ImageData"
            layer.ClearField("data_param")
            layer.image_data_param.source = str(tmp_path / "list.txt")
            layer.image_data_param.root_folder = str(tmp_path / "img") + "/"
            layer.image_data_param.batch_size = 2
    net.state.phase = caffe_pb2.TRAIN
    with pytest.raises(DataFitError) as info:
        check_data_fit(net, weights=[str(WEIGHTS)])
    text = str(info.value)
    side = max(fitting_sizes()[1])
    assert info.value.records == (1, side, side)  # what a front end that converts by itself needs
    assert "the image list" in text and "3x8x8" in text and "take 1 channel (gray)" in text  # is_color: the default
    assert f"set new_height: {side} new_width: {side} is_color: false in image_data_param of layer 'mnist'" in text
    assert f"--gray --resize_height {side} --resize_width {side} {tmp_path / 'img'}/ {tmp_path / 'list.txt'}" in text


@pytest.mark.parametrize("command", ["test", "time"])
def test_test_and_time_say_the_same_before_building(tmp_path, monkeypatch, capsys, command):
    workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    code = main([command, "-model", "train_val.prototxt", "-weights", str(WEIGHTS), "-iterations", "1"])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert "does not fit the net" in err and "1x8x8" in err and "--resize_height" in err
