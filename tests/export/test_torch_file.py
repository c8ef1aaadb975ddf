"""The PyTorch files: the pt2 loads with torch.export.load and runs where tunewiz cannot be imported (its
blob names inside); the state dict holds every layer's blobs as ``layer/i`` in Caffe's order and shapes."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.export import nets
from tunewiz.export.run import Targets, export_files

torch = pytest.importorskip("torch")

_RUN_WITHOUT_TUNEWIZ = """
import sys
sys.modules["tunewiz"] = None  # any import of tunewiz now fails
import json, numpy as np, torch
files = {"blobs.json": ""}
with open(sys.argv[1], "rb") as handle:
    program = torch.export.load(handle, extra_files=files)
x = torch.from_numpy(np.load(sys.argv[2]))
with torch.no_grad():
    out = program.module()(x)
np.save(sys.argv[3], out[0].numpy())
print(files["blobs.json"])
print("tunewiz" in sys.modules and sys.modules["tunewiz"] is not None)
"""


def test_the_pt2_runs_without_tunewiz(tmp_path):
    model, weights = nets.write_net(tmp_path, "c", nets.caffenet_small())
    export_files(str(model), str(weights), Targets(torch=str(tmp_path / "c.pt2")))
    x = np.random.default_rng(5).standard_normal((3, 3, 35, 35)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "run.py").write_text(_RUN_WITHOUT_TUNEWIZ)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "run.py", str(tmp_path / "c.pt2"), str(tmp_path / "x.npy"),
                           str(tmp_path / "y.npy")], cwd=elsewhere, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    names, imported = done.stdout.strip().splitlines()[-2:]
    assert json.loads(names) == {"inputs": ["data"], "outputs": ["prob"]} and imported == "False"
    ref = nets.forward(model, weights, {"data": x})["prob"]
    assert nets.max_rel(np.load(tmp_path / "y.npy"), ref) <= 1e-4


def test_the_state_dict_holds_caffes_blobs_by_layer(tmp_path):
    from tunewiz.caffe.caffemodel import load_weights

    model, weights = nets.write_net(tmp_path, "r", nets.resnet_block())
    export_files(str(model), str(weights), Targets(state_dict=str(tmp_path / "r.pt")))
    tensors = torch.load(str(tmp_path / "r.pt"), weights_only=True)
    expected = {f"{layer.name}/{i}": array for layer in load_weights(str(weights)).layers
                for i, array in enumerate(layer.arrays)}
    assert list(tensors) == list(expected)
    assert list(tensors)[:5] == ["conv1/0", "bn_conv1/0", "bn_conv1/1", "bn_conv1/2", "scale_conv1/0"]
    assert tuple(tensors["conv1/0"].shape) == (4, 3, 3, 3) and tuple(tensors["bn_conv1/2"].shape) == (1,)
    assert float(tensors["bn_conv1/2"]) == 2.5  # the scale factor as Caffe stores it, not folded
    for name, value in expected.items():
        assert np.array_equal(tensors[name].numpy(), value.reshape(tensors[name].shape)), name
