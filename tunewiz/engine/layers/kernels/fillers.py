"""Caffe's weight fillers (``include/caffe/filler.hpp``) on torch tensors.

``fill(tensor, FillerParameter)`` fills ``tensor`` in place with the distribution Caffe
would use.  Random numbers come from torch's generator (seed it with ``torch.manual_seed``),
so values differ from Caffe's own RNG but the distributions are Caffe's:

* ``constant``: ``x = value``
* ``uniform``: ``x ~ U(min, max)``
* ``gaussian``: ``x ~ N(mean, std^2)``; with ``sparse >= 0`` each value is kept with
  probability ``sparse / num_outputs`` (``num_outputs = shape[0]``) and zeroed otherwise
* ``positive_unitball``: ``x ~ U(0, 1)``, then each of the ``shape[0]`` rows is divided by its
  sum, so every row sums to 1
* ``xavier``: ``x ~ U(-a, a)``, ``a = sqrt(3 / n)``
* ``msra``: ``x ~ N(0, 2 / n)``
  where ``fan_in = count / shape[0]``, ``fan_out = count / shape[1]`` (``count`` for 1-D blobs)
  and ``n`` is ``fan_in`` (FAN_IN, default), ``fan_out`` (FAN_OUT) or their mean (AVERAGE)
* ``bilinear`` (4-D, square kernels): ``f = ceil(K / 2)``, ``c = (K - 1) / (2 f)``,
  ``w[.., y, x] = (1 - |x / f - c|) * (1 - |y / f - c|)``
"""
from __future__ import annotations

import math

import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.errors import TunewizError

FILLER_TYPES = ("constant", "uniform", "gaussian", "positive_unitball", "xavier", "msra", "bilinear")


class FillerError(TunewizError):
    """A filler that Caffe would refuse (unknown type, sparse where unsupported, bad shape)."""


def fill(tensor: torch.Tensor, param: caffe_pb2.FillerParameter) -> torch.Tensor:
    """Fill ``tensor`` in place as Caffe's filler ``param.type`` would; return it."""
    kind = param.type or "constant"
    try:
        filler = _FILLERS[kind]
    except KeyError:
        raise FillerError(
            f"unknown filler type '{kind}'; Caffe knows: {', '.join(FILLER_TYPES)}") from None
    if kind != "gaussian" and param.sparse != -1:
        raise FillerError(f"filler '{kind}' does not support 'sparse' (only gaussian does)")
    if tensor.device.type == "meta":
        return tensor
    with torch.no_grad():
        filler(tensor, param)
    return tensor


def _constant(t: torch.Tensor, p: caffe_pb2.FillerParameter) -> None:
    t.fill_(p.value)


def _uniform(t: torch.Tensor, p: caffe_pb2.FillerParameter) -> None:
    t.uniform_(p.min, p.max)


def _gaussian(t: torch.Tensor, p: caffe_pb2.FillerParameter) -> None:
    t.normal_(p.mean, p.std)
    if p.sparse >= 0:
        if t.dim() < 1:
            raise FillerError("a sparse gaussian filler needs a blob with at least one axis")
        probability = p.sparse / t.shape[0]
        mask = torch.empty_like(t).bernoulli_(min(1.0, probability))
        t.mul_(mask)


def _positive_unitball(t: torch.Tensor, p: caffe_pb2.FillerParameter) -> None:
    t.uniform_(0.0, 1.0)
    num = t.shape[0] if t.dim() else 1
    rows = t.view(num, -1)
    rows.div_(rows.sum(dim=1, keepdim=True))


def fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """Caffe's ``fan_in = count / shape(0)`` and ``fan_out = count / shape(1)`` (or count)."""
    count = math.prod(shape)
    fan_in = count / shape[0] if shape else count
    fan_out = count / shape[1] if len(shape) > 1 else count
    return fan_in, fan_out


def _variance_n(t: torch.Tensor, p: caffe_pb2.FillerParameter) -> float:
    fan_in, fan_out = fans(tuple(t.shape))
    if p.variance_norm == caffe_pb2.FillerParameter.AVERAGE:
        return (fan_in + fan_out) / 2.0
    if p.variance_norm == caffe_pb2.FillerParameter.FAN_OUT:
        return fan_out
    return fan_in


def _xavier(t: torch.Tensor, p: caffe_pb2.FillerParameter) -> None:
    scale = math.sqrt(3.0 / _variance_n(t, p))
    t.uniform_(-scale, scale)


def _msra(t: torch.Tensor, p: caffe_pb2.FillerParameter) -> None:
    std = math.sqrt(2.0 / _variance_n(t, p))
    t.normal_(0.0, std)


def bilinear_kernel(size: int) -> torch.Tensor:
    """The (size, size) bilinear interpolation kernel of Caffe's BilinearFiller."""
    f = math.ceil(size / 2.0)
    c = (size - 1) / (2.0 * f)
    x = torch.arange(size, dtype=torch.float64)
    line = 1 - (x / f - c).abs()
    return (line[:, None] * line[None, :]).to(torch.float32)


def _bilinear(t: torch.Tensor, p: caffe_pb2.FillerParameter) -> None:
    if t.dim() != 4:
        raise FillerError(f"the bilinear filler needs a 4-D blob, got shape {tuple(t.shape)}")
    if t.shape[2] != t.shape[3]:
        raise FillerError(f"the bilinear filler needs a square kernel, got {t.shape[2]}x{t.shape[3]}")
    t.copy_(bilinear_kernel(t.shape[3]).to(t.device).expand_as(t))


_FILLERS = {
    "constant": _constant,
    "uniform": _uniform,
    "gaussian": _gaussian,
    "positive_unitball": _positive_unitball,
    "xavier": _xavier,
    "msra": _msra,
    "bilinear": _bilinear,
}
