"""Pooling against a plain-loop transcription of Caffe's PoolingLayer::Forward_cpu, including the
configurations where torch's own pooling cannot be used (pad > kernel/2, kernel < stride)."""
import math

import numpy as np
import pytest
import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text
from tunewiz.engine.layers.vision import Pooling


def caffe_pool(x, k, s, p, method, ceil=True):
    n, c, H, W = x.shape
    def out(size):
        o = (math.ceil if ceil else math.floor)((size + 2 * p - k) / s) + 1
        if p and (o - 1) * s >= size + p:
            o -= 1
        return o
    oh, ow = out(H), out(W)
    top = np.zeros((n, c, oh, ow)); mask = np.zeros_like(top)
    for ph in range(oh):
        for pw in range(ow):
            hs, ws = ph * s - p, pw * s - p
            he, we = min(hs + k, H + p), min(ws + k, W + p)
            size = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, H), min(we, W)
            win = x[:, :, hs:he, ws:we]
            if method == "MAX" and win.size == 0:
                top[:, :, ph, pw], mask[:, :, ph, pw] = -3.4028234663852886e+38, -1
            elif method == "MAX":
                flat = win.reshape(n, c, -1)
                arg = flat.argmax(-1)  # first maximum in scan order
                top[:, :, ph, pw] = flat.max(-1)
                mask[:, :, ph, pw] = (hs + arg // (we - ws)) * W + ws + arg % (we - ws)
            else:
                top[:, :, ph, pw] = win.sum((2, 3)) / size
    return top, mask


CONFIGS = [(3, 2, 0), (3, 2, 1), (3, 2, 2), (2, 2, 1), (1, 2, 0), (3, 3, 2), (4, 3, 3), (2, 3, 0), (5, 1, 4)]


@pytest.mark.parametrize("k,s,p", CONFIGS)
@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize("hw", [(7, 9), (8, 10)])
def test_pooling_matches_caffe_loops(k, s, p, method, hw):
    x = np.random.RandomState(k * 100 + s * 10 + p).randn(2, 3, *hw).astype(np.float32)
    tops = 'top: "out" top: "mask"' if method == "MAX" else 'top: "out"'
    lp = parse_text(f'name: "pool" type: "Pooling" bottom: "x" {tops} pooling_param {{ pool: {method} '
                    f'kernel_size: {k} stride: {s} pad: {p} }}', caffe_pb2.LayerParameter())
    layer = Pooling(lp, [x.shape], caffe_pb2.TEST)
    want, mask = caffe_pool(x.astype(np.float64), k, s, p, method)
    assert layer.top_shapes[0] == want.shape
    xt = torch.from_numpy(x).requires_grad_()
    outs = layer(xt)
    np.testing.assert_allclose(outs[0].detach().numpy(), want, rtol=1e-5, atol=1e-6)
    if method == "MAX":
        np.testing.assert_array_equal(outs[1].numpy(), mask)
        outs[0].sum().backward()
        grad = np.zeros(x.size)
        flat = (mask + np.arange(6).reshape(2, 3, 1, 1) * hw[0] * hw[1]).astype(int).ravel()
        np.add.at(grad, flat[mask.ravel() >= 0], 1)
        np.testing.assert_allclose(xt.grad.numpy().ravel(), grad)


def test_stochastic_test_phase_is_weighted_average():
    x = np.random.RandomState(0).rand(1, 2, 6, 6).astype(np.float32)
    lp = parse_text('name: "s" type: "Pooling" bottom: "x" top: "y" pooling_param { pool: STOCHASTIC kernel_size: 2 stride: 2 }',
                    caffe_pb2.LayerParameter())
    y = Pooling(lp, [x.shape], caffe_pb2.TEST)(torch.from_numpy(x))[0].numpy()
    win = x.reshape(1, 2, 3, 2, 3, 2)
    np.testing.assert_allclose(y, (win ** 2).sum((3, 5)) / win.sum((3, 5)), rtol=1e-5)
    train = Pooling(lp, [x.shape], caffe_pb2.TRAIN)(torch.from_numpy(x))[0].numpy()
    assert all(v in x[0, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2] for c in range(2) for i in range(3)
               for j in range(3) for v in [train[0, c, i, j]])


@pytest.mark.parametrize("k,s,p", CONFIGS)
@pytest.mark.parametrize("method", ["MAX", "AVE"])
def test_the_portable_path_gives_caffes_numbers_without_ceil_mode(k, s, p, method):
    """What ``tunewiz export`` traces: explicit padding, floor rounding, AVE as a rescaled full-window mean."""
    x = np.random.RandomState(k * 100 + s * 10 + p).randn(2, 3, 8, 10).astype(np.float32)
    tops = 'top: "out" top: "mask"' if method == "MAX" else 'top: "out"'
    lp = parse_text(f'name: "pool" type: "Pooling" bottom: "x" {tops} pooling_param {{ pool: {method} '
                    f'kernel_size: {k} stride: {s} pad: {p} }}', caffe_pb2.LayerParameter())
    layer = Pooling(lp, [x.shape], caffe_pb2.TEST)
    layer.portable = True
    want, mask = caffe_pool(x.astype(np.float64), k, s, p, method)
    outs = layer(torch.from_numpy(x))
    np.testing.assert_allclose(outs[0].numpy(), want, rtol=1e-5, atol=1e-6)
    if method == "MAX":
        np.testing.assert_array_equal(outs[1].numpy(), mask)
