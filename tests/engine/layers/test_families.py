"""Every non-vision, non-data layer case recorded from real Caffe 1.0, layer by layer.

Each case's layers are built straight from its prototxt (Input layers skipped, blobs wired by
name here, without the Net), params loaded from ``param/<layer>/<i>``; the tops, the bottom
and param diffs after one backward (``topdiff/`` into non-loss outputs, loss tops weighted by
``loss_weight``) and BatchNorm TRAIN's updated blobs must match Caffe within 1e-5 relative
or 1e-6 absolute.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import read_net_text
from tunewiz.engine.layers.registry import layer_class

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "layers"
OTHERS = ("conv_", "deconv_", "pool_", "ip_")  # the vision family, tested with its own layers
DEVICE = os.environ.get("TUNEWIZ_TEST_DEVICE", "cpu")  # "cuda" to run the same checks on a GPU
CASES = [c["case"] for c in json.loads((FIX / "index.json").read_text()) if not c["case"].startswith(OTHERS)]


def close(got, want, what):
    got = got.detach().cpu().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, Caffe {want.shape}"
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=what)


def build(lp, shapes, phase, z):
    """The layer on 'meta' (shapes only) and on the CPU with Caffe's params loaded."""
    cls = layer_class(lp.type, lp.name)
    meta = cls(lp, shapes, phase=phase, device="meta")
    layer = cls(lp, shapes, phase=phase, device=DEVICE)
    assert meta.top_shapes == layer.top_shapes
    for i, blob in enumerate(layer.blobs):
        want = z[f"param/{lp.name}/{i}"]
        assert tuple(blob.shape) == want.shape, f"{lp.name} blob {i}: {tuple(blob.shape)} vs Caffe {want.shape}"
        with torch.no_grad():
            blob.copy_(torch.from_numpy(want).to(DEVICE))
    return layer


def run_case(case: str):
    net = read_net_text(FIX / f"{case}.prototxt")
    z = np.load(FIX / f"{case}.npz")
    meta = json.loads(str(z["meta"]))
    phase = caffe_pb2.TRAIN if meta["phase"] == "TRAIN" else caffe_pb2.TEST
    blobs = {k[3:]: torch.from_numpy(z[k]).to(DEVICE).requires_grad_() for k in z.files if k.startswith("in/")}
    layers, loss = [], torch.zeros((), device=DEVICE)
    for lp in net.layer:
        if lp.type == "Input":
            continue
        layer = build(lp, [tuple(blobs[b].shape) for b in lp.bottom], phase, z)
        tops = layer(*[blobs[b] for b in lp.bottom])
        assert len(tops) == len(lp.top) == len(layer.top_shapes)
        for name, t, shape in zip(lp.top, tops, layer.top_shapes):
            got, shape = tuple(t.shape), tuple(shape)
            # Filter: set up with every item (Caffe's first Reshape), each forward keeps some of them
            fits = got == shape or layer.items_from_values and got[1:] == shape[1:] and got[0] <= shape[0]
            assert fits, f"{lp.name}: top {name} {got} vs setup {shape}"
            if t.requires_grad:
                t.retain_grad()
            blobs[name] = t
        for i, name in enumerate(lp.top):
            weight = lp.loss_weight[i] if lp.loss_weight else (1.0 if layer.is_loss and i == 0 else 0.0)
            if weight and tops[i].requires_grad:
                loss = loss + weight * tops[i].sum()
        layers.append(layer)
    return net, z, meta, blobs, layers, loss


def grad_of(t: torch.Tensor) -> torch.Tensor:
    return t.grad if t.grad is not None else torch.zeros_like(t)


@pytest.mark.parametrize("case", CASES)
def test_case_matches_caffe(case):
    net, z, meta, blobs, layers, loss = run_case(case)
    for key in z.files:
        if key.startswith("top/"):
            close(blobs[key[4:]], z[key], key)
        if key.startswith("paramafter/"):
            _, lname, i = key.split("/")
            close(next(l for l in layers if l.name == lname).blobs[int(i)], z[key], key)
    if not meta["backward"]:
        return
    for layer in layers:
        for blob in layer.blobs:
            blob.grad = None
    for key in z.files:  # without force_backward Caffe skips layers that feed no loss
        if key.startswith("topdiff/") and meta["force_backward"]:
            loss = loss + (blobs[key[8:]] * torch.from_numpy(z[key]).to(DEVICE)).sum()
    if loss.requires_grad:
        loss.backward()
    for key in z.files:
        if key.startswith("bottomdiff/"):
            close(grad_of(blobs[key[11:]]), z[key], key)
        if key.startswith("paramdiff/"):
            _, lname, i = key.split("/")
            close(grad_of(next(l for l in layers if l.name == lname).blobs[int(i)]), z[key], key)


def test_every_family_case_is_listed():
    assert len(CASES) >= 90
    for case in CASES:
        assert (FIX / f"{case}.prototxt").exists() and (FIX / f"{case}.npz").exists()
