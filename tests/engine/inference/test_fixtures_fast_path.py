"""Every layer case made by real Caffe (tests/fixtures/layers) through the prepared inference path: the tops of
a forward-only pass on torch's kernels, fused where the plan fuses, within the fixtures' tolerance (1e-5
relative, 1e-6 absolute near zero), and what the plan made of the convolution cases."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tunewiz.caffe.prototxt import read_net_text
from tunewiz.engine.inference import infer, prepared
from tunewiz.engine.net.net import Net
from tunewiz.engine.net.weights import copy_trained_layers

HERE = Path(__file__).resolve().parents[2] / "fixtures" / "layers"
CASES = [c["case"] for c in json.loads((HERE / "index.json").read_text())]


def _net(case: str):
    ref = np.load(HERE / f"{case}.npz")
    meta = json.loads(str(ref["meta"]))
    net = Net(read_net_text(HERE / f"{case}.prototxt"), meta["phase"], numerics="torch")
    copy_trained_layers(net, [HERE / f"{case}.caffemodel"])
    return net, ref


@pytest.mark.parametrize("case", CASES)
def test_fast_path_gives_caffes_tops(case):
    net, ref = _net(case)
    tops = [k[4:] for k in ref.files if k.startswith("top/")]
    inputs = {k[3:]: torch.from_numpy(ref[k]) for k in ref.files if k.startswith("in/")}
    blobs = infer(net, inputs, keep=tops)
    for name in tops:
        got = np.asarray(blobs[name].detach().numpy(), dtype=np.float64).reshape(np.shape(ref[f"top/{name}"]))
        np.testing.assert_allclose(got, ref[f"top/{name}"], rtol=1e-5, atol=1e-6, err_msg=f"{case}: {name}")


def test_the_convolution_cases_run_the_fused_kernel():
    """The cases above do test the prepared kernels: a conv case's step is "conv", not the layer's own forward."""
    for case in [c for c in CASES if c.startswith("conv_")]:
        net, _ = _net(case)
        kinds = [step.kind for step in prepared(net).steps]
        assert "conv" in kinds, case
