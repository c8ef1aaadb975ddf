"""Flatten, Reshape and ArgMax take their top shape from the bottom they get, as Caffe's Reshape does on every
pass: a net set up for one batch size runs another (pycaffe's reshape, an exported net's dynamic batch)."""
from __future__ import annotations

import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text
from tunewiz.engine.layers.reduce import ArgMax
from tunewiz.engine.layers.shape import Flatten, Reshape


def _layer(cls, text: str, shape):
    return cls(parse_text(text, caffe_pb2.LayerParameter()), [shape], caffe_pb2.TEST)


def test_flatten_follows_the_batch():
    layer = _layer(Flatten, 'name: "f" type: "Flatten" bottom: "x" top: "y" flatten_param { axis: 1 end_axis: 2 }',
                   (1, 2, 3, 4))
    assert layer.top_shapes == [(1, 6, 4)]
    assert layer(torch.zeros(5, 2, 3, 4))[0].shape == (5, 6, 4)


def test_reshape_follows_the_batch_with_copied_and_inferred_dims():
    layer = _layer(Reshape, 'name: "r" type: "Reshape" bottom: "x" top: "y" '
                            'reshape_param { shape { dim: 0 dim: -1 dim: 2 } }', (1, 2, 3, 4))
    assert layer.top_shapes == [(1, 12, 2)]
    x = torch.arange(3 * 24, dtype=torch.float32).reshape(3, 2, 3, 4)
    assert torch.equal(layer(x)[0], x.reshape(3, 12, 2))
    fixed = _layer(Reshape, 'name: "r" type: "Reshape" bottom: "x" top: "y" '
                            'reshape_param { shape { dim: 1 dim: -1 } }', (1, 2, 3, 4))
    assert fixed(x)[0].shape == (1, 72)  # Caffe: a fixed first dim, the rest inferred from the count


def test_argmax_follows_the_batch():
    layer = _layer(ArgMax, 'name: "a" type: "ArgMax" bottom: "x" top: "y" argmax_param { top_k: 2 }', (1, 5))
    assert layer.top_shapes == [(1, 1, 2)]
    assert layer(torch.randn(4, 5))[0].shape == (4, 1, 2)
