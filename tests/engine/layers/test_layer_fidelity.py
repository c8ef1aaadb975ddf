"""Every layer case made by real Caffe (tests/fixtures/layers, from caffe-reference/layers, and the Parameter,
Filter, BatchReindex, Im2col and SPP cases its make_extra_cases.py makes with the oracle):
build the net, copy the caffemodel, feed in/, check top/; feed topdiff/ into the non-loss
output tops (loss tops keep diff = loss_weight), backward, check bottomdiff/ and paramdiff/
(and BatchNorm TRAIN paramafter/).  Tolerance: 1e-5 relative, 1e-6 absolute near zero.

A case whose layer type the registry does not hold fails (a family left out of
``registry.FAMILIES`` must not pass unnoticed)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tunewiz.caffe.prototxt import read_net_text
from tunewiz.engine.net.net import Net
from tunewiz.engine.layers import registry
from tunewiz.engine.net.weights import copy_trained_layers

HERE = Path(__file__).resolve().parents[2] / "fixtures" / "layers"
CASES = [c["case"] for c in json.loads((HERE / "index.json").read_text())]
# Python layers run the user's code, so there is no Caffe-reference case for them: that one family is left
# out of the per-family check (tests/engine/layers/test_python.py compares it with the built-in EuclideanLoss).
NO_CAFFE_CASE = {"tunewiz.engine.layers.python"}
# Families whose Caffe cases live in a folder of their own, checked (with this file's check_case, and for
# being left out of the registry) by their own test: recurrent -> fixtures/layers_recurrent, test_recurrent.py;
# window_data (a data layer: batches, no backward) -> fixtures/window_data, test_window_data.py.
CASES_ELSEWHERE = {"tunewiz.engine.layers.recurrent", "tunewiz.engine.layers.window_data"}
CHECKED_FAMILIES = [f for f in registry.FAMILIES if f.__name__ not in NO_CAFFE_CASE | CASES_ELSEWHERE]


def _close(name, got, want):
    got = np.asarray(got, dtype=np.float64).reshape(np.shape(want))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)


def _grad(t):
    return np.zeros(tuple(t.shape)) if t.grad is None else t.grad.detach().numpy()


def _types(case) -> set[str]:
    return {layer.type for layer in read_net_text(HERE / f"{case}.prototxt").layer}


@pytest.mark.parametrize("case", CASES)
def test_layer_matches_caffe(case):
    check_case(case)


@pytest.mark.parametrize("family", CHECKED_FAMILIES, ids=lambda m: m.__name__.rpartition(".")[2])
def test_a_family_left_out_of_the_registry_fails_its_cases(family, monkeypatch):
    """The registry built without one family: every Caffe case using that family's types fails."""
    dropped = {t for cls in registry.registered_classes(family) for t in cls.type_names}
    cases = [case for case in CASES if _types(case) & dropped]
    assert cases, f"no Caffe case covers {family.__name__}"
    table = registry.build_table(f for f in registry.FAMILIES if f is not family)
    assert not dropped & set(table)
    monkeypatch.setattr(registry, "LAYERS", table)
    for case in cases:
        with pytest.raises(AssertionError, match="not registered"):
            check_case(case)


def check_case(case):
    """Build the case's net, run forward and backward, compare with Caffe's blobs."""
    net_param = read_net_text(HERE / f"{case}.prototxt")
    missing = sorted({layer.type for layer in net_param.layer} - set(registry.LAYERS))
    assert not missing, f"{case}: layer types not registered: {', '.join(missing)}"
    ref = np.load(HERE / f"{case}.npz")
    meta = json.loads(str(ref["meta"]))
    net = Net(net_param, meta["phase"])
    copy_trained_layers(net, [HERE / f"{case}.caffemodel"])
    for key in [k for k in ref.files if k.startswith("param/")]:
        _, layer, i = key.split("/")
        _close(key, net.layer_by_name(layer).blobs[int(i)].detach().numpy(), ref[key])
    inputs = {k[3:]: torch.from_numpy(ref[k]) for k in ref.files if k.startswith("in/")}
    blobs = net.forward(inputs, retain_grad=True)
    for key in [k for k in ref.files if k.startswith("top/")]:
        _close(key, blobs[key[4:]].detach().numpy(), ref[key])
    for key in [k for k in ref.files if k.startswith("paramafter/")]:
        _, layer, i = key.split("/")
        _close(key, net.layer_by_name(layer).blobs[int(i)].detach().numpy(), ref[key])
    if not meta["backward"]:
        return
    objective = net.loss(blobs)
    for key in [k for k in ref.files if k.startswith("topdiff/")]:
        objective = objective + (blobs[key[8:]] * torch.from_numpy(ref[key])).sum()
    if objective.requires_grad:
        objective.backward()
    for key in [k for k in ref.files if k.startswith("bottomdiff/")]:
        _close(key, _grad(net.diff_blobs[key[11:]]), ref[key])
    for key in [k for k in ref.files if k.startswith("paramdiff/")]:
        _, layer, i = key.split("/")
        _close(key, _grad(net.layer_by_name(layer).blobs[int(i)]), ref[key])
