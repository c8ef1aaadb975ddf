"""Element-wise (neuron) layers: ReLU, PReLU, ELU, Sigmoid, TanH, AbsVal, BNLL, Power, Exp,
Log, Threshold, Clip, Swish, Dropout.

Every top has the bottom's shape.  The gradients autograd derives from these forward
formulas are Caffe's Backward ones (checked against real Caffe in
``tests/engine/layers/test_families.py``); Threshold is forward only, as in Caffe.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from tunewiz.caffe import caffe_pb2
from tunewiz.engine.layers.base import Layer, register


class _Neuron(Layer):
    """One bottom, one top of the same shape."""

    def setup(self, bottom_shapes):
        if len(bottom_shapes) != 1:
            raise self.fail(f"takes exactly 1 bottom, got {len(bottom_shapes)}")
        self.configure(bottom_shapes[0])
        return [bottom_shapes[0]]

    def configure(self, shape) -> None:
        """Read the layer's parameters (override)."""

    def forward(self, x):
        return (self.compute(x),)

    def compute(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


@register("ReLU")
class ReLU(_Neuron):
    """``y = x > 0 ? x : negative_slope * x``; Backward ``dy * (x > 0 ? 1 : negative_slope)``."""

    def configure(self, shape):
        self.negative_slope = float(self.param.relu_param.negative_slope)

    def compute(self, x):
        if self.negative_slope == 0:
            return torch.relu(x)
        return F.leaky_relu(x, self.negative_slope)


@register("PReLU")
class PReLU(_Neuron):
    """``y = max(0, x) + a_c * min(0, x)``; ``a`` is one value per channel (axis 1), or a
    0-d blob with ``channel_shared``.  Default filler: constant 0.25.
    Backward: ``dx = dy * (x > 0 ? 1 : a_c)``, ``da_c = sum dy * x * (x <= 0)``."""

    def configure(self, shape):
        p = self.param.prelu_param
        if len(shape) < 2:
            raise self.fail(f"needs a bottom with at least 2 axes (N, C, ...), got {list(shape)}")
        filler = p.filler if p.HasField("filler") else caffe_pb2.FillerParameter(type="constant", value=0.25)
        self.channel_shared = bool(p.channel_shared)
        self.add_blob(() if self.channel_shared else (shape[1],), filler)

    def compute(self, x):
        a = self.blobs[0]
        if not self.channel_shared:
            a = a.reshape((1, -1) + (1,) * (x.dim() - 2))
        return torch.where(x > 0, x, x * a)


@register("ELU")
class ELU(_Neuron):
    """``y = x > 0 ? x : alpha * (exp(x) - 1)``; Backward ``x > 0 ? dy : dy * (y + alpha)``."""

    def configure(self, shape):
        self.alpha = float(self.param.elu_param.alpha)

    def compute(self, x):
        return F.elu(x, self.alpha)


@register("Sigmoid")
class Sigmoid(_Neuron):
    """``y = 1 / (1 + exp(-x))``; Backward ``dy * y * (1 - y)``."""

    def compute(self, x):
        return torch.sigmoid(x)


@register("TanH")
class TanH(_Neuron):
    """``y = tanh(x)``; Backward ``dy * (1 - y^2)``."""

    def compute(self, x):
        return torch.tanh(x)


@register("AbsVal")
class AbsVal(_Neuron):
    """``y = |x|``; Backward ``dy * sign(x)`` (0 at 0)."""

    def compute(self, x):
        return torch.abs(x)


@register("BNLL")
class BNLL(_Neuron):
    """``y = log(1 + exp(x))`` (as ``x + log(1 + exp(-x))`` for x > 0);
    Backward ``dy * e / (1 + e)`` with ``e = exp(min(x, 50))``."""

    def compute(self, x):
        return F.softplus(x, beta=1.0, threshold=50.0)


@register("Power")
class Power(_Neuron):
    """``y = (shift + scale * x) ^ power``;
    Backward ``dy * power * scale * (shift + scale * x) ^ (power - 1)``; when power or scale
    is 0 the top is the constant ``shift ^ power`` and the gradient 0."""

    def configure(self, shape):
        p = self.param.power_param
        self.power, self.scale, self.shift = float(p.power), float(p.scale), float(p.shift)

    def compute(self, x):
        if self.power == 0 or self.scale == 0:  # Caffe: a constant, gradient 0
            value = 1.0 if self.power == 0 else self.shift ** self.power
            return torch.full_like(x.detach(), value)
        base = x * self.scale + self.shift if (self.scale != 1 or self.shift != 0) else x
        if self.power == 1:
            return base.view_as(base)
        if self.power == 2:
            return base * base
        return torch.pow(base, self.power)


@register("Exp")
class Exp(_Neuron):
    """``y = base ^ (shift + scale * x)`` (``base: -1`` means e);
    Backward ``dy * y * log(base) * scale``."""

    def configure(self, shape):
        p = self.param.exp_param
        base = float(p.base)
        if base != -1 and base <= 0:
            raise self.fail(f"exp_param.base must be -1 (for e) or > 0, got {base}")
        log_base = 1.0 if base == -1 else math.log(base)
        self.inner_scale = log_base * float(p.scale)
        self.outer_scale = 1.0 if p.shift == 0 else math.exp(log_base * float(p.shift))

    def compute(self, x):
        y = torch.exp(x * self.inner_scale) if self.inner_scale != 1 else torch.exp(x)
        return y * self.outer_scale if self.outer_scale != 1 else y


@register("Log")
class Log(_Neuron):
    """``y = log_base(shift + scale * x)`` (``base: -1`` means e);
    Backward ``dy * scale / (log(base) * (shift + scale * x))``."""

    def configure(self, shape):
        p = self.param.log_param
        base = float(p.base)
        if base != -1 and base <= 0:
            raise self.fail(f"log_param.base must be -1 (for e) or > 0, got {base}")
        self.base_scale = 1.0 if base == -1 else 1.0 / math.log(base)
        self.scale, self.shift = float(p.scale), float(p.shift)

    def compute(self, x):
        inner = x * self.scale + self.shift if (self.scale != 1 or self.shift != 0) else x
        y = torch.log(inner)
        return y * self.base_scale if self.base_scale != 1 else y


@register("Threshold")
class Threshold(_Neuron):
    """``y = x > threshold ? 1 : 0`` (strict).  Forward only: Caffe has no Backward, so the
    top carries no gradient and a backward pass through the net simply stops here."""

    def allow_force_backward(self, bottom_index: int) -> bool:
        return False  # forward only: Caffe has no Backward for it

    def configure(self, shape):
        self.threshold = float(self.param.threshold_param.threshold)

    def compute(self, x):
        return (x.detach() > self.threshold).to(x.dtype)


@register("Clip")
class Clip(_Neuron):
    """``y = max(min, min(x, max))``; Backward ``dy * (min <= x <= max)``."""

    def configure(self, shape):
        p = self.param.clip_param
        if not (p.HasField("min") and p.HasField("max")):
            raise self.fail("clip_param needs both min and max")
        self.lo, self.hi = float(p.min), float(p.max)

    def compute(self, x):
        return torch.clamp(x, self.lo, self.hi)


@register("Swish")
class Swish(_Neuron):
    """``y = x * sigmoid(beta * x)``;
    Backward ``dy * (beta * y + sigmoid(beta * x) * (1 - beta * y))``."""

    def configure(self, shape):
        self.beta = float(self.param.swish_param.beta)

    def compute(self, x):
        return x * torch.sigmoid(x * self.beta if self.beta != 1 else x)


@register("Dropout")
class Dropout(_Neuron):
    """TEST: ``y = x``.  TRAIN: ``mask ~ Bernoulli(1 - dropout_ratio)``,
    ``y = x * mask / (1 - dropout_ratio)`` and Backward ``dy * mask / (1 - dropout_ratio)``."""

    def configure(self, shape):
        self.ratio = float(self.param.dropout_param.dropout_ratio)
        if not 0.0 <= self.ratio < 1.0:
            raise self.fail(f"dropout_ratio must be in [0, 1), got {self.ratio}")

    def compute(self, x):
        if self.phase != caffe_pb2.TRAIN or self.ratio == 0:
            return x.view_as(x)
        keep = 1.0 - self.ratio
        mask = torch.bernoulli(torch.full_like(x, keep, requires_grad=False))
        return x * (mask * (1.0 / keep))
