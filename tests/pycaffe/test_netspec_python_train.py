"""Issue 18's "done when": a net built with NetSpec, fed by a Python data layer, trains with SGDSolver.

All through pycaffe's names (``import tunewiz as caffe``): the spec is written as a prototxt, the
solver file names it, ``SGDSolver`` trains a few iterations and the loss goes down.
"""
from __future__ import annotations

import textwrap

import numpy as np

import tunewiz as caffe
from tunewiz import layers as L

DATA_LAYER = '''
import json

import numpy as np

import tunewiz as caffe


class ToyData(caffe.Layer):
    """Two separable classes: label = (x0 + x1 > 0), a fresh batch each forward."""

    def setup(self, bottom, top):
        self.batch = json.loads(self.param_str)["batch"]
        self.rng = np.random.RandomState(5)

    def reshape(self, bottom, top):
        top[0].reshape(self.batch, 4)
        top[1].reshape(self.batch)

    def forward(self, bottom, top):
        x = self.rng.randn(self.batch, 4).astype(np.float32)
        top[0].data[...] = x
        top[1].data[...] = (x[:, 0] + x[:, 1] > 0).astype(np.float32)

    def backward(self, top, propagate_down, bottom):
        pass
'''


def _spec() -> str:
    n = caffe.NetSpec()
    n.data, n.label = L.Python(module="toydata", layer="ToyData", param_str='{"batch": 16}', ntop=2)
    n.ip = L.InnerProduct(n.data, num_output=2, weight_filler=dict(type="xavier"))
    n.loss = L.SoftmaxWithLoss(n.ip, n.label)
    return str(n.to_proto())


def test_a_netspec_net_with_a_python_data_layer_trains(tmp_path, monkeypatch):
    (tmp_path / "toydata.py").write_text(DATA_LAYER)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_text(_spec())
    (tmp_path / "solver.prototxt").write_text(textwrap.dedent("""\
        net: "net.prototxt"
        base_lr: 0.5
        lr_policy: "fixed"
        max_iter: 100
        display: 0
        snapshot_after_train: false
        random_seed: 3
        """))
    caffe.set_mode_cpu()
    solver = caffe.SGDSolver("solver.prototxt")
    try:
        losses = []
        for _ in range(40):
            solver.step(1)
            losses.append(float(solver.net.blobs["loss"].data))
        assert solver.iter == 40
        first, last = np.mean(losses[:5]), np.mean(losses[-5:])
        assert last < first / 2, (first, last)
        assert solver.net.params["ip"][0].data.shape == (2, 4)
    finally:
        solver.close()
