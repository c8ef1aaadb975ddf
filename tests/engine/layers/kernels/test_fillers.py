"""Fillers: Caffe's distributions (not Caffe's RNG) — moments, supports and exact kernels."""
import math

import pytest
import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.engine.layers.kernels.fillers import FillerError, fill

F = caffe_pb2.FillerParameter


def _filled(shape, **kw):
    torch.manual_seed(0)
    return fill(torch.empty(shape), F(**kw))


def test_constant_default_is_zero_and_value():
    assert torch.all(_filled((3, 4)) == 0)
    assert torch.all(_filled((3, 4), value=2.5) == 2.5)


def test_uniform_support_and_mean():
    t = _filled((200, 500), type="uniform", min=-2, max=3)
    assert t.min() >= -2 and t.max() <= 3
    assert abs(t.mean().item() - 0.5) < 0.02


def test_gaussian_moments():
    t = _filled((200, 500), type="gaussian", mean=1.0, std=0.5)
    assert abs(t.mean().item() - 1.0) < 0.01
    assert abs(t.std().item() - 0.5) < 0.01


def test_gaussian_sparse_keeps_sparse_over_num_outputs():
    t = _filled((50, 4000), type="gaussian", std=1.0, sparse=10)
    assert abs((t != 0).float().mean().item() - 10 / 50) < 0.01


def test_positive_unitball_rows_sum_to_one():
    t = _filled((6, 3, 2, 2), type="positive_unitball")
    assert torch.all(t >= 0)
    torch.testing.assert_close(t.view(6, -1).sum(1), torch.ones(6))


@pytest.mark.parametrize("norm,n", [(F.FAN_IN, 3 * 5 * 5), (F.FAN_OUT, 40 * 5 * 5),
                                    (F.AVERAGE, (3 * 25 + 40 * 25) / 2)])
def test_xavier_bound(norm, n):
    t = _filled((40, 3, 5, 5), type="xavier", variance_norm=norm)
    a = math.sqrt(3 / n)
    assert t.abs().max() <= a
    assert t.abs().max() > 0.95 * a
    assert abs(t.std().item() - a / math.sqrt(3)) < 0.05 * a


@pytest.mark.parametrize("norm,n", [(F.FAN_IN, 16 * 9), (F.FAN_OUT, 64 * 9)])
def test_msra_std(norm, n):
    t = _filled((64, 16, 3, 3), type="msra", variance_norm=norm)
    assert abs(t.std().item() - math.sqrt(2 / n)) < 0.03 * math.sqrt(2 / n)


def test_bilinear_kernel_values():
    t = _filled((2, 1, 4, 4), type="bilinear")
    line = torch.tensor([0.25, 0.75, 0.75, 0.25])
    torch.testing.assert_close(t[1, 0], line[:, None] * line[None, :])
    t3 = _filled((1, 1, 3, 3), type="bilinear")
    line3 = torch.tensor([0.5, 1.0, 0.5])
    torch.testing.assert_close(t3[0, 0], line3[:, None] * line3[None, :])


def test_errors():
    with pytest.raises(FillerError, match="unknown filler"):
        _filled((2, 2), type="nope")
    with pytest.raises(FillerError, match="sparse"):
        _filled((2, 2), type="uniform", sparse=1)
    with pytest.raises(FillerError, match="square"):
        _filled((1, 1, 2, 3), type="bilinear")
