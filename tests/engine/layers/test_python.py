"""Python layers (``type: "Python"``): Caffe's own pyloss.py EuclideanLossLayer gives the built-in
EuclideanLoss's loss and gradients, a Python data layer feeds a net that ``tunewiz train`` trains,
shapes come from setup + reshape (also on the meta device), and a missing module or class, or a
setup that raises, is one RuntimeError naming the layer, the module.class and sys.path.

No Caffe-reference case (tests/fixtures/layers) covers Python layers: their numbers are the user's
code, so test_layer_fidelity's per-family check skips this family and these tests stand for it."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text
from tunewiz.engine.layers.python import NumpyBlob, PythonLayerError
from tunewiz.engine.net.net import Net
from tunewiz.engine.net.shapes import describe

PYLAYERS = Path(__file__).resolve().parent / "pylayers"
ROOT = Path(__file__).resolve().parents[3]

LINREG = """name: 'LinearRegressionExample'
layer { type: 'Input' name: 'x' top: 'x' top: 'y' input_param { shape { dim: 10 dim: 3 dim: 2 } } }
layer { type: 'InnerProduct' name: 'ipx' top: 'ipx' bottom: 'x'
        inner_product_param { num_output: 10 weight_filler { type: 'xavier' } } }
layer { type: 'InnerProduct' name: 'ipy' top: 'ipy' bottom: 'y'
        inner_product_param { num_output: 10 weight_filler { type: 'xavier' } } }
"""
PY_LOSS = """layer { type: 'Python' name: 'loss' top: 'loss' bottom: 'ipx' bottom: 'ipy'
        python_param { module: 'pyloss' layer: 'EuclideanLossLayer' } loss_weight: 1 }"""
BUILTIN_LOSS = "layer { type: 'EuclideanLoss' name: 'loss' top: 'loss' bottom: 'ipx' bottom: 'ipy' }"


@pytest.fixture(autouse=True)
def _pylayers_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(PYLAYERS))


def parse_net_text(text: str) -> caffe_pb2.NetParameter:
    return parse_text(text, caffe_pb2.NetParameter())


def _net(text: str, phase="TRAIN", **kw) -> Net:
    return Net(parse_net_text(text), phase, **kw)


def _loss_and_grads(net: Net, x, y):
    blobs = net.forward({"x": x, "y": y}, retain_grad=True)
    loss = net.loss(blobs)
    loss.backward()
    grads = {f"{n}/{i}": net.layer_by_name(n).blobs[i].grad.clone() for n in ("ipx", "ipy") for i in (0, 1)}
    return float(loss.detach()), grads


def test_pyloss_gives_the_builtin_euclidean_loss_and_gradients():
    torch.manual_seed(0)
    x, y = torch.randn(10, 3, 2), torch.randn(10, 3, 2)
    py, builtin = _net(LINREG + PY_LOSS, seed=1), _net(LINREG + BUILTIN_LOSS, seed=1)
    builtin.load_state_dict(py.state_dict())
    loss_py, grads_py = _loss_and_grads(py, x, y)
    loss_builtin, grads_builtin = _loss_and_grads(builtin, x, y)
    assert loss_py == pytest.approx(loss_builtin, rel=1e-6) and loss_py > 0
    for key, want in grads_builtin.items():
        torch.testing.assert_close(grads_py[key], want, rtol=1e-5, atol=1e-7, msg=key)


def test_shapes_come_from_setup_and_reshape_also_on_meta():
    report = describe(parse_net_text(LINREG + PY_LOSS), "TRAIN")
    loss_row = next(r for r in report.rows if r.name == "loss")
    assert loss_row.type == "Python" and loss_row.tops == [("loss", (1,))]
    net = _net(LINREG + PY_LOSS)
    assert net.blob_shapes["loss"] == (1,) and not net.layer_by_name("loss").is_data


FC = """layer { type: 'Input' name: 'x' top: 'x' top: 't' input_param { shape { dim: 4 dim: 2 dim: 3 }
                                                                    shape { dim: 4 dim: 5 } } }
layer { type: '%s' name: 'fc' bottom: 'x' top: 'fc' %s }
layer { type: 'EuclideanLoss' name: 'loss' bottom: 'fc' bottom: 't' top: 'loss' }
force_backward: true
"""


def test_learnable_blobs_are_parameters_with_gradients_and_solver_updates():
    py = _net(FC % ("Python", "python_param { module: 'pyloss' layer: 'InnerProductLayer' param_str: '5' }"))
    builtin = _net(FC % ("InnerProduct", "inner_product_param { num_output: 5 bias_term: false }"))
    weight = py.layer_by_name("fc").blobs[0]
    assert weight.shape == (5, 6) and py.learnable_params()[0].param is weight
    torch.testing.assert_close(weight.detach(), torch.from_numpy(np.random.RandomState(0).randn(5, 6)).float())
    builtin.layer_by_name("fc").blobs[0].data.copy_(weight.detach())
    torch.manual_seed(0)
    inputs = {"x": torch.randn(4, 2, 3), "t": torch.randn(4, 5)}
    results = []
    for net in (py, builtin):
        blobs = net.forward(inputs, retain_grad=True)
        net.loss(blobs).backward()
        results.append((float(blobs["loss"].detach()), net.layer_by_name("fc").blobs[0].grad, net.diff_blobs["x"].grad))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-6)
    torch.testing.assert_close(results[0][1], results[1][1])
    torch.testing.assert_close(results[0][2], results[1][2])
    with torch.no_grad():
        weight.zero_()  # what a solver's update does: the next forward sees it
    assert not py.forward(inputs)["fc"].any()


DATA = """name: 'pydata'
layer { type: 'Python' name: 'data' top: 'data' top: 'target'
        python_param { module: 'pyloss' layer: 'LinearDataLayer' param_str: '8 4 3' } }
layer { type: 'InnerProduct' name: 'fc' bottom: 'data' top: 'fc'
        inner_product_param { num_output: 1 weight_filler { type: 'gaussian' std: 0.1 } } }
layer { type: 'EuclideanLoss' name: 'loss' bottom: 'fc' bottom: 'target' top: 'loss' }
"""


def test_a_python_data_layer_feeds_a_new_batch_each_forward_and_sees_its_phase():
    for phase, value in (("TRAIN", 0), ("TEST", 1)):
        net = _net(DATA, phase)
        layer = net.layer_by_name("data")
        assert layer.is_data and layer.user.seen_phase == value and layer.user.param_str == "8 4 3"
        assert net.blob_shapes["data"] == (8, 4) and net.blob_shapes["target"] == (8, 1)
    first, second = net.forward(), net.forward()
    assert first["data"].shape == (8, 4) and not torch.equal(first["data"], second["data"])
    w = torch.linspace(-1, 1, 4)
    torch.testing.assert_close(first["target"][:, 0], first["data"] @ w + 1.0)


def test_tunewiz_train_trains_a_net_fed_by_a_python_data_layer(tmp_path):
    (tmp_path / "net.prototxt").write_text(DATA)
    (tmp_path / "solver.prototxt").write_text(
        'net: "net.prototxt" base_lr: 0.05 lr_policy: "fixed" momentum: 0.9 max_iter: 40 display: 10 '
        'snapshot: 0 snapshot_after_train: false solver_mode: CPU random_seed: 5\n')
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(PYLAYERS), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "tunewiz", "train", "--solver", "solver.prototxt",
                           "--run_dir", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    losses = [float(v) for v in re.findall(r"Iteration \d+.*, loss = ([\d.eE+-]+)", done.stderr)]
    assert len(losses) >= 4, done.stderr[-3000:]
    assert losses[-1] < 0.5 * losses[0], losses


BAD = {
    "module": ("python_param { module: 'no_such_pymodule' layer: 'X' }",
               ["'bad'", "no_such_pymodule.X", "cannot import module 'no_such_pymodule'", "sys.path searched",
                str(PYLAYERS)]),
    "class": ("python_param { module: 'pyloss' layer: 'NoSuchLayer' }",
              ["'bad'", "pyloss.NoSuchLayer", "has no class 'NoSuchLayer'", "sys.path searched"]),
    "not_a_layer": ("python_param { module: 'pyloss' layer: 'NotALayer' }",
                    ["'bad'", "pyloss.NotALayer", "subclasses caffe.Layer"]),
    "setup": ("python_param { module: 'pyloss' layer: 'BrokenSetupLayer' }",
              ["'bad'", "pyloss.BrokenSetupLayer", "setup raised ValueError: param_str must be a number",
               "pyloss.py:"]),
    "forward": ("python_param { module: 'pyloss' layer: 'BrokenForwardLayer' }",
                ["'bad'", "pyloss.BrokenForwardLayer", "forward raised ValueError", "pylayers/pyloss.py:"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_python_layer_is_one_runtime_error_naming_it(case):
    param, words = BAD[case]
    text = "layer { type: 'Input' name: 'x' top: 'x' input_param { shape { dim: 2 } } }\n" \
           f"layer {{ type: 'Python' name: 'bad' bottom: 'x' top: 'y' {param} }}"
    with pytest.raises(PythonLayerError) as info:
        _net(text).forward({"x": torch.ones(2)})
    assert isinstance(info.value, RuntimeError) and "\n" not in str(info.value)
    assert all(word in str(info.value) for word in words), str(info.value)


def test_numpy_blob_is_pycaffe_shaped():
    blob = NumpyBlob((2, 3))
    assert blob.shape == (2, 3) and blob.count == 6 and blob.data.dtype == np.float32
    assert (blob.num, blob.channels, blob.height, blob.width) == (2, 3, 1, 1)
    blob.data[...] = np.arange(6).reshape(2, 3)
    blob.reshape(3, 2)
    assert blob.data.shape == (3, 2) and blob.data[2, 1] == 5
    blob.reshape(4)
    assert blob.count == 4 and not blob.data.any() and blob.diff.shape == (4,)
    with pytest.raises(AttributeError):
        blob.data = np.zeros(4)


def test_training_with_python_layers_gives_real_caffes_losses_and_weights(monkeypatch):
    """tests/fixtures/python_layer: a Python data layer and Caffe's pyloss.py, trained by real Caffe's
    SGDSolver (make_fixture.py); the same net, weights and solver here give its losses within 1e-4."""
    import json

    from tunewiz.engine.train.solver import Solver

    fixture = ROOT / "tests" / "fixtures" / "python_layer"
    monkeypatch.syspath_prepend(str(fixture))
    want = json.loads((fixture / "caffe_run.json").read_text())
    with Solver(fixture / "solver.prototxt", root=fixture, weights=[str(fixture / "init.caffemodel")]) as solver:
        losses = [e.loss for e in solver.step_events(solver.sp.max_iter) if e.kind == "iteration"]
        np.testing.assert_allclose(losses, want["losses"], rtol=1e-4)
        for key, values in want["params"].items():
            name, i = key.split("/")
            got = solver.net.layer_by_name(name).blobs[int(i)].detach().numpy().ravel()
            np.testing.assert_allclose(got, values, rtol=1e-4, atol=1e-6, err_msg=key)


def test_pycaffes_layer_is_the_engines_base_class():
    """``class L(caffe.Layer)`` with ``import tunewiz as caffe`` is a class the engine runs."""
    import tunewiz as caffe
    from tunewiz.engine.layers.python import PythonLayer

    assert caffe.Layer is PythonLayer
