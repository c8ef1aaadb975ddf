"""The real Model Zoo nets (copies in tests/fixtures/model_zoo, as their authors released them) build, with
the published parameter counts; their train_vals build for TRAIN with the data layers' shapes."""
from __future__ import annotations

from pathlib import Path

import pytest

from tunewiz.caffe.netio import read_net
from tunewiz.engine.net.shapes import describe

ZOO = Path(__file__).resolve().parents[2] / "fixtures" / "model_zoo"
PUBLISHED = {  # deploy, with the 1000-way classifier (tests/fixtures/model_zoo/README.md)
    "bvlc_reference_caffenet": 60_965_224, "bvlc_alexnet": 60_965_224, "bvlc_googlenet": 6_998_552,
    "squeezenet_v1.1": 1_235_496,
}


@pytest.mark.parametrize("model", sorted(PUBLISHED))
def test_deploy_has_the_published_parameter_count(model):
    report = describe(read_net(ZOO / model / "deploy.prototxt"), "TEST")
    assert report.total_params == PUBLISHED[model] and report.outputs == ["prob"]


@pytest.mark.parametrize("model, heads", [("bvlc_reference_caffenet", 1), ("bvlc_alexnet", 1),
                                          ("bvlc_googlenet", 3), ("squeezenet_v1.1", 1),
                                          ("finetune_flickr_style", 1)])
def test_train_val_builds_for_training(model, heads):
    from tunewiz.recipe.shape_net import build_meta

    net = build_meta(read_net(ZOO / model / "train_val.prototxt"), (3, 256, 256))
    losses = [layer.name for layer in net.layers if "Loss" in layer.param.type]
    assert len(losses) == heads
    learnable = sum(info.param.numel() for info in net.learnable_params())
    if model in PUBLISHED and heads == 1:  # train_val and deploy hold the same parameters
        assert learnable == PUBLISHED[model]
    loss_inputs = [net.blob_shapes[layer.param.bottom[0]] for layer in net.layers if "Loss" in layer.param.type]
    classes = 20 if model == "finetune_flickr_style" else 1000
    assert all(shape[1] == classes for shape in loss_inputs), loss_inputs
