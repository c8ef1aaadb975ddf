"""Bad nets through the CLI (``tunewiz forward`` and ``tunewiz train``): one line naming the layer,
exit status != 0, no traceback — an unsupported type (a fork's), a Python layer whose module is missing,
a bottom nobody produces, a kernel larger than the padded input, an InnerProduct whose input size changed."""
from __future__ import annotations

import re

import numpy as np
import pytest

from tunewiz.cli import main

INPUT = ('name: "n" layer { name: "data" type: "Input" top: "data" '
         'input_param { shape { dim: 2 dim: 1 dim: 8 dim: 8 } } }\n')
BAD = {
    "python": ('layer { name: "py" type: "Python" bottom: "data" top: "y" python_param { module: "m" layer: "L" } }',
               ["'py'", "m.L", "cannot import module 'm'", "sys.path searched"]),
    "fork": ('layer { name: "roi" type: "ROIPooling" bottom: "data" top: "y" }',
             ["'roi'", "'ROIPooling'", "Supported types:", "SoftmaxWithLoss"]),
    "bottom": ('layer { name: "c" type: "Convolution" bottom: "nothere" top: "y" '
               'convolution_param { num_output: 2 kernel_size: 3 } }', ["'c'", "'nothere'"]),
    "kernel": ('layer { name: "bigk" type: "Convolution" bottom: "data" top: "y" '
               'convolution_param { num_output: 2 kernel_size: 11 pad: 1 } }', ["'bigk'", "kernel", "padded input"]),
    "pool": ('layer { name: "bigp" type: "Pooling" bottom: "data" top: "y" '
             'pooling_param { pool: MAX kernel_size: 11 } }',
             ["'bigp'", "kernel", "padded input"]),
}
PREFIXED = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ \S+\] ")


def _one_error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error" in line.lower() or line.startswith("E")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("case", sorted(BAD))
def test_forward_names_the_layer(tmp_path, capsys, case):
    layer, words = BAD[case]
    (tmp_path / "net.prototxt").write_text(INPUT + layer)
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), np.float32))
    rc = main(["forward", "--model", str(tmp_path / "net.prototxt"), "--input", f"data={tmp_path / 'x.npy'}",
               "--output", str(tmp_path / "o.npz")])
    err = capsys.readouterr().err
    assert rc != 0 and err.count("\n") == 1, err
    line = _one_error_line(err)
    assert all(word in line for word in words), line
    assert not (tmp_path / "o.npz").exists()


def test_forward_inner_product_input_size_changed(tmp_path, capsys):
    from tunewiz.caffe.netio import read_net
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import save_caffemodel

    ip = 'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "y" inner_product_param { num_output: 3 } }'
    (tmp_path / "net.prototxt").write_text(INPUT + ip)
    save_caffemodel(Net(read_net(tmp_path / "net.prototxt"), "TEST"), tmp_path / "w.caffemodel")
    np.save(tmp_path / "x6.npy", np.zeros((2, 1, 6, 6), np.float32))
    rc = main(["forward", "--model", str(tmp_path / "net.prototxt"), "--weights", str(tmp_path / "w.caffemodel"),
               "--input", f"data={tmp_path / 'x6.npy'}", "--output", str(tmp_path / "o.npz")])
    line = _one_error_line(capsys.readouterr().err)
    assert rc != 0 and "'ip'" in line and "InnerProduct" in line and "64" in line and "36" in line
    (tmp_path / "net6.prototxt").write_text(INPUT.replace("dim: 8 dim: 8", "dim: 6 dim: 6") + ip)
    rc = main(["forward", "--model", str(tmp_path / "net6.prototxt"), "--weights", str(tmp_path / "w.caffemodel"),
               "--input", f"data={tmp_path / 'x6.npy'}", "--output", str(tmp_path / "o.npz")])
    line = _one_error_line(capsys.readouterr().err)
    assert rc != 0 and "'ip'" in line and "shape mismatch" in line and "3 64 (192)" in line and "3 36 (108)" in line


@pytest.mark.parametrize("case", ["python", "bottom", "kernel"])
def test_train_names_the_layer(tmp_path, monkeypatch, capsys, case):
    layer, words = BAD[case]
    monkeypatch.chdir(tmp_path)
    net = (INPUT + layer + '\nlayer { name: "loss" type: "EuclideanLoss" bottom: "y" bottom: "y" top: "loss" }')
    (tmp_path / "net.prototxt").write_text(net)
    (tmp_path / "solver.prototxt").write_text('net: "net.prototxt" base_lr: 0.01 max_iter: 2 lr_policy: "fixed"')
    rc = main(["train", "--solver", "solver.prototxt", "--run_dir", "run"])
    err = capsys.readouterr().err
    assert rc != 0 and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("E")]
    assert len(errors) == 1 and all(word in errors[0] for word in words), err
    assert all(PREFIXED.match(line) for line in err.splitlines())
    assert errors[0] in (tmp_path / "run" / "train.log").read_text()


@pytest.mark.parametrize("numerics", ["caffe", "torch"])
def test_forward_convolution_input_changed_names_the_layer(tmp_path, capsys, numerics):
    """An input of other channels, or too small for the kernel, than the net was set up for: Caffe's
    Reshape check, in both numerics (the exact path checks as the torch layer does)."""
    conv = ('layer { name: "c1" type: "Convolution" bottom: "data" top: "y" '
            'convolution_param { num_output: 2 kernel_size: 3 } }')
    (tmp_path / "net.prototxt").write_text(INPUT + conv)
    for shape, words in (((2, 3, 8, 8), ["'c1'", "1 channels", "(2, 3, 8, 8)"]),
                         ((2, 1, 2, 2), ["'c1'", "larger than the padded input"])):
        np.save(tmp_path / "x.npy", np.zeros(shape, np.float32))
        rc = main(["forward", "--model", str(tmp_path / "net.prototxt"), "--input", f"data={tmp_path / 'x.npy'}",
                   "--output", str(tmp_path / "o.npz"), "--numerics", numerics])
        line = _one_error_line(capsys.readouterr().err)
        assert rc != 0 and all(word in line for word in words), line
