"""What the recipe knows of a layer without building it: the learnable blobs Caffe creates."""
from pathlib import Path

import numpy as np
import pytest

from tunewiz.caffe.prototxt import read_net_text
from tunewiz.engine.net.net import Net
from tunewiz.recipe.freeze import freeze_through
from tunewiz.recipe.layers import layers_of

RECURRENT = Path(__file__).resolve().parents[1] / "fixtures" / "layers_recurrent"
CASES = sorted(p.stem for p in RECURRENT.glob("*.prototxt") if not p.stem.startswith("train_"))


@pytest.mark.parametrize("case", CASES)
def test_recurrent_layers_count_the_blobs_caffe_made(case):
    """RNN and LSTM: as many blobs as Caffe saved, with or without the static input and expose_hidden."""
    ref = np.load(RECURRENT / f"{case}.npz")
    for layer in layers_of(read_net_text(RECURRENT / f"{case}.prototxt")):
        caffes = len([k for k in ref.files if k.startswith(f"param/{layer.name}/")])
        assert layer.n_param_blobs() == caffes, layer.name


def test_freezing_through_an_lstm_stops_all_its_blobs():
    net = read_net_text(RECURRENT / "train_net.prototxt")
    plan = freeze_through(net, "lstm")
    assert plan.frozen == ["lstm"] and plan.trainable == ["ip"]
    engine = Net(net, "TRAIN", device="meta")
    assert [(p.layer_name, p.lr_mult) for p in engine.learnable_params()] == \
           [("lstm", 0.0)] * 3 + [("ip", 1.0)] * 2
