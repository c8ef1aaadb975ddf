"""Caffe's BatchNorm and Scale order (``kernels.caffe_bn``, ``caffe_scale``): real Caffe's numbers.

The fixture (``tests/fixtures/caffe_bn``, made by real Caffe) has BatchNorm with batch statistics on a
4-D and a 2-D bottom and one with stored statistics.  Bit for bit when numpy's OpenBLAS runs the core
Caffe ran on, within float32 rounding elsewhere; torch's kernels within rounding too.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tunewiz.caffe.netio import read_net
from tunewiz.engine import cblas
from tunewiz.engine.net.net import Net

FIX = Path(__file__).resolve().parents[3] / "fixtures" / "caffe_bn"
PARAMS = ("conv", "bn", "sc", "ip1", "sc2", "bn2", "bng", "ip")



def _run(numerics):
    ref = np.load(FIX / "caffe.npz")
    net = Net(read_net(FIX / "net.prototxt"), "TRAIN", numerics=numerics)
    for name in PARAMS:
        for i, blob in enumerate(net.layer_by_name(name).blobs):
            blob.data.copy_(torch.from_numpy(ref[f"w_{name}_{i}"]))
    blobs = net.forward({"data": torch.from_numpy(ref["in_data"]), "label": torch.from_numpy(ref["in_label"])})
    net.loss(blobs).backward()
    ours = {}
    for name in PARAMS:
        for i, blob in enumerate(net.layer_by_name(name).blobs):
            ours[f"a_{name}_{i}"] = blob.detach().numpy().copy()
            if blob.grad is not None:
                ours[f"g_{name}_{i}"] = blob.grad.numpy().copy()
    ours.update({f"b_{k}": blobs[k].detach().numpy().copy() for k in ("conv", "ip1", "ip1s", "bn2", "bng", "ip", "loss")})
    return ref, net, ours


@pytest.mark.parametrize("numerics", ["caffe", "torch"])
def test_batch_norm_is_real_caffes(numerics):
    ref, net, ours = _run(numerics)
    assert all(net.layer_by_name(n).engine == numerics for n in ("bn", "bn2", "bng", "sc", "sc2"))
    learned = [("conv", 0), ("conv", 1), ("sc", 0), ("sc", 1), ("ip1", 0), ("ip1", 1), ("sc2", 0), ("ip", 0), ("ip", 1)]
    assert {k for k in ours if k.startswith("g_")} == {f"g_{n}_{i}" for n, i in learned}
    exact = numerics == "caffe" and cblas.core() == str(ref["core"]) and cblas.available()
    for key, value in ours.items():
        if exact:
            assert value.tobytes() == ref[key].tobytes(), key
        else:
            _close(value, ref[key], key)


def _close(value, expect, key):
    """Within float32 rounding; conv's bias gradient is 0 up to rounding noise (BatchNorm removes the
    mean), so an absolute floor of 1e-6."""
    np.testing.assert_allclose(value, expect, rtol=2e-5, atol=max(2e-6 * np.abs(expect).max(), 1e-6), err_msg=key)


def test_without_numpys_openblas_the_sums_stay_within_rounding(monkeypatch):
    monkeypatch.setattr(cblas, "available", lambda: False)
    ref, _, ours = _run("caffe")
    for key, value in ours.items():
        _close(value, ref[key], key)
