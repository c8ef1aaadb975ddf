"""What the Caffe cases cannot show: random Dropout, default fillers, Embed's backward (its
cases ran without force_backward), forward-only layers inside a backward pass, InfogainLoss
from a binaryproto, and the errors that name the layer."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text
from tunewiz.engine.layers.base import NetError
from tunewiz.engine.layers.registry import layer_class

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "layers"


def make(text: str, shapes, phase=caffe_pb2.TEST, device="cpu"):
    lp = parse_text(text, caffe_pb2.LayerParameter())
    return layer_class(lp.type, lp.name)(lp, shapes, phase=phase, device=device)


def test_default_fillers_and_blob_shapes():
    prelu = make('name: "p" type: "PReLU"', [(2, 3, 4, 4)])
    assert torch.equal(prelu.blobs[0].detach(), torch.full((3,), 0.25))
    shared = make('name: "p" type: "PReLU" prelu_param { channel_shared: true }', [(2, 3, 4, 4)])
    assert shared.blobs[0].shape == () and float(shared.blobs[0].detach()) == 0.25
    scale = make('name: "s" type: "Scale" scale_param { bias_term: true }', [(2, 3, 4, 4)])
    assert torch.equal(scale.blobs[0].detach(), torch.ones(3)) and torch.equal(scale.blobs[1].detach(), torch.zeros(3))
    bn = make('name: "bn" type: "BatchNorm"', [(2, 3, 4, 4)])
    assert [tuple(b.shape) for b in bn.blobs] == [(3,), (3,), (1,)]
    assert all(not b.detach().any() for b in bn.blobs)
    assert type(bn).fixed_lr_mult == 0.0


def test_batchnorm_phase_default_and_no_param_gradient():
    train = make('name: "bn" type: "BatchNorm"', [(4, 3, 2, 2)], phase=caffe_pb2.TRAIN)
    test = make('name: "bn" type: "BatchNorm"', [(4, 3, 2, 2)], phase=caffe_pb2.TEST)
    assert not train.use_global_stats and test.use_global_stats
    x = torch.randn(4, 3, 2, 2, requires_grad=True)
    (y,) = train(x)
    y.pow(2).sum().backward()
    assert all(b.grad is None for b in train.blobs) and x.grad is not None
    assert float(train.blobs[2].detach()) == 1.0  # factor = 0.999 * 0 + 1


def test_dropout_train_is_inverted_bernoulli_and_test_is_identity():
    torch.manual_seed(0)
    x = torch.rand(200, 50) + 0.5
    x.requires_grad_()
    drop = make('name: "d" type: "Dropout" dropout_param { dropout_ratio: 0.3 }', [tuple(x.shape)], caffe_pb2.TRAIN)
    (y,) = drop(x)
    kept = y.detach() != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.02
    assert torch.allclose(y.detach()[kept], x.detach()[kept] / 0.7)
    y.sum().backward()
    assert torch.allclose(x.grad, kept.float() / 0.7)
    (same,) = make('name: "d" type: "Dropout"', [tuple(x.shape)], caffe_pb2.TEST)(x)
    assert torch.equal(same, x)


def test_embed_backward_adds_rows_and_gives_no_index_gradient():
    z = np.load(FIX / "embed_bias.npz")
    layer = make('name: "embed" type: "Embed" embed_param { input_dim: 5 num_output: 4 }', [(2, 3)])
    with torch.no_grad():
        layer.blobs[0].copy_(torch.from_numpy(z["param/embed/0"]))
        layer.blobs[1].copy_(torch.from_numpy(z["param/embed/1"]))
    idx = torch.from_numpy(z["in/idx"]).requires_grad_()
    (y,) = layer(idx)
    np.testing.assert_allclose(y.detach().numpy(), z["top/out"], rtol=1e-6)
    dy = z["topdiff/out"]
    (y * torch.from_numpy(dy)).sum().backward()
    want = np.zeros((5, 4), np.float32)
    np.add.at(want, z["in/idx"].astype(int).ravel(), dy.reshape(-1, 4))
    np.testing.assert_allclose(layer.blobs[0].grad.numpy(), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(layer.blobs[1].grad.numpy(), dy.reshape(-1, 4).sum(0), rtol=1e-5)
    assert idx.grad is None


def test_forward_only_layers_do_not_break_backward():
    x = torch.randn(4, 5, requires_grad=True)
    label = torch.tensor([0.0, 1.0, 2.0, 3.0])
    (t,) = make('name: "t" type: "Threshold"', [(4, 5)])(x)
    (a,) = make('name: "a" type: "ArgMax"', [(4, 5)])(x)
    (acc,) = make('name: "acc" type: "Accuracy"', [(4, 5), (4,)])(x, label)
    (loss,) = make('name: "l" type: "SoftmaxWithLoss"', [(4, 5), (4,)])(x, label)
    (loss + t.sum() + a.sum() + acc).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_accuracy_with_every_label_ignored_is_zero():
    layer = make('name: "a" type: "Accuracy" top: "acc" top: "pc" accuracy_param { ignore_label: 7 }', [(3, 4), (3,)])
    acc, per_class = layer(torch.randn(3, 4), torch.full((3,), 7.0))
    assert float(acc) == 0.0 and not per_class.any()


def test_argmax_ties_go_to_the_larger_index_as_caffes_pair_sort():
    (y,) = make('name: "a" type: "ArgMax" argmax_param { top_k: 2 }', [(1, 4)])(torch.tensor([[1.0, 3.0, 0.0, 3.0]]))
    assert y.flatten().tolist() == [3.0, 1.0]


def test_softmax_with_loss_second_top_is_the_probabilities():
    layer = make('name: "l" type: "SoftmaxWithLoss" top: "loss" top: "prob"', [(2, 5, 3), (2, 3)])
    x = torch.randn(2, 5, 3)
    loss, prob = layer(x, torch.zeros(2, 3))
    assert layer.top_shapes == [(), (2, 5, 3)]
    assert torch.allclose(prob, torch.softmax(x, 1))


def test_infogain_from_binaryproto_equals_the_third_bottom(tmp_path):
    z = np.load(FIX / "infogain.npz")
    H = z["in/H"]
    blob = caffe_pb2.BlobProto(num=1, channels=1, height=5, width=5)
    blob.data.extend(H.ravel().tolist())
    (tmp_path / "H.binaryproto").write_bytes(blob.SerializeToString())
    text = f'name: "loss" type: "InfogainLoss" infogain_loss_param {{ source: "{tmp_path / "H.binaryproto"}" }}'
    layer = make(text, [(4, 5), (4,)])
    x = torch.from_numpy(z["top/data"]).requires_grad_()
    (loss,) = layer(x, torch.from_numpy(z["in/label"]))
    np.testing.assert_allclose(loss.item(), z["top/loss"], rtol=1e-5)
    loss.backward()
    scale = z["param/identity/0"]  # the Scale in front is constant 1, so its input's diff is ours
    np.testing.assert_allclose(x.grad.numpy() * scale, z["bottomdiff/data"], rtol=1e-5, atol=1e-6)


def test_power_zero_is_a_constant_with_zero_gradient():
    x = torch.randn(3, requires_grad=True)
    (y,) = make('name: "p" type: "Power" power_param { power: 0 shift: 3 }', [(3,)])(x)
    assert torch.equal(y, torch.ones(3))
    (y2,) = make('name: "p" type: "Power" power_param { power: 2 scale: 0 shift: 3 }', [(3,)])(x)
    assert torch.equal(y2, torch.full((3,), 9.0))


def test_meta_device_gives_shapes_without_memory():
    layer = make('name: "e" type: "Embed" embed_param { input_dim: 1000 num_output: 64 }', [(8, 20)], device="meta")
    assert layer.top_shapes == [(8, 20, 64)] and layer.blobs[0].device.type == "meta"
    red = make('name: "r" type: "Reduction" reduction_param { operation: MEAN }', [(2, 3)], device="meta")
    assert red.top_shapes == [()]


@pytest.mark.parametrize("text, shapes, words", [
    ('name: "sl" type: "Slice" top: "a" top: "b" slice_param { slice_point: 1 slice_point: 2 }',
     [(2, 6)], "slice_point"),
    ('name: "sl" type: "Slice" top: "a" top: "b" top: "c" slice_param { axis: 1 }', [(2, 5)], "equal"),
    ('name: "r" type: "Reshape" reshape_param { shape { dim: -1 dim: -1 } }', [(2, 6)], "-1"),
    ('name: "r" type: "Reshape" reshape_param { shape { dim: 5 dim: -1 } }', [(2, 6)], "infer"),
    ('name: "e" type: "Eltwise"', [(2, 3), (2, 4)], "same shape"),
    ('name: "e" type: "Eltwise" eltwise_param { coeff: 1 }', [(2, 3), (2, 3)], "coeff"),
    ('name: "c" type: "Concat"', [(2, 3, 4), (2, 3, 5)], "match"),
    ('name: "c" type: "Crop" crop_param { axis: 2 offset: 3 }', [(2, 3, 5, 5), (2, 3, 4, 4)], "offset"),
    ('name: "f" type: "Flatten" flatten_param { axis: 4 }', [(2, 3)], "out of range"),
    ('name: "l" type: "LRN" lrn_param { local_size: 4 }', [(2, 3, 4, 4)], "odd"),
    ('name: "s" type: "Scale" scale_param { axis: 1 num_axes: 3 }', [(2, 3, 4)], "past"),
    ('name: "s" type: "Scale"', [(2, 3, 4), (4,)], "does not match"),
    ('name: "i" type: "InfogainLoss"', [(4, 5), (4,)], "source"),
    ('name: "l" type: "SoftmaxWithLoss"', [(4, 5), (3,)], "label count"),
    ('name: "a" type: "ArgMax" argmax_param { top_k: 9 axis: 1 }', [(2, 5)], "top_k"),
])
def test_bad_layers_name_the_layer(text, shapes, words):
    with pytest.raises(NetError) as err:
        make(text, shapes)
    name = parse_text(text, caffe_pb2.LayerParameter()).name
    assert f"layer '{name}'" in str(err.value) and words in str(err.value)


def test_out_of_range_labels_are_refused():
    layer = make('name: "l" type: "SoftmaxWithLoss"', [(2, 3), (2,)])
    with pytest.raises(NetError, match="labels must be in"):
        layer(torch.randn(2, 3), torch.tensor([0.0, 3.0]))


def test_lrn_across_channels_backward_is_the_true_gradient():
    layer = make('name: "n" type: "LRN" lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 }', [(2, 5, 3, 3)])
    x = torch.randn(2, 5, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: layer(t)[0], (x,))
