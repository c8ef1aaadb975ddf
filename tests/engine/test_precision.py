"""The precision setting: fp32 (TF32 off, Caffe's numbers), tf32, bf16 (autocast)."""
from pathlib import Path

import numpy as np
import pytest
import torch

from tunewiz.caffe.prototxt import read_net_text
from tunewiz.engine import precision
from tunewiz.engine.net.net import Net
from tunewiz.engine.net.weights import copy_trained_layers
from tunewiz.errors import TunewizError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "engine"


def test_fp32_is_default_and_switches_tf32_off():
    torch.backends.cuda.matmul.allow_tf32 = True
    Net(read_net_text(FIX / "lenet_v1_deploy.upgraded.prototxt"), "TEST")
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    precision.apply("tf32")
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    precision.apply("fp32")
    assert not torch.backends.cuda.matmul.allow_tf32


def test_bf16_runs_close_but_not_exact():
    net = Net(read_net_text(FIX / "lenet_v1_deploy.upgraded.prototxt"), "TEST", precision="bf16")
    copy_trained_layers(net, FIX / "lenet_iter_10.caffemodel")
    with torch.no_grad():
        prob = net.forward({"data": torch.from_numpy(np.load(FIX / "input.npy"))})["prob"].float().numpy()
    precision.apply("fp32")
    np.testing.assert_allclose(prob, np.load(FIX / "blobs.npz")["prob"], atol=3e-2)


def test_unknown_precision():
    with pytest.raises(TunewizError, match="fp32, tf32, bf16"):
        precision.check("fp16")
