"""Layers that reduce or look up: Reduction, ArgMax (forward only), Embed."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from tunewiz.caffe import caffe_pb2
from tunewiz.engine.layers.base import Layer, register

R = caffe_pb2.ReductionParameter


@register("Reduction")
class Reduction(Layer):
    """Reduce ALL axes from ``axis`` to the end (the top has shape ``shape[:axis]``, a 0-d blob
    for axis 0): SUM ``coeff * sum x``, ASUM ``coeff * sum |x|``, SUMSQ ``coeff * sum x^2``,
    MEAN ``coeff * sum x / dim``.  Backward: ``coeff * dy`` times 1, ``sign(x)``, ``2x``, ``1/dim``."""

    def setup(self, bottom_shapes):
        p = self.param.reduction_param
        shape = bottom_shapes[0]
        self.axis = self.canonical_axis(p.axis, len(shape))
        self.operation, self.coeff = p.operation, float(p.coeff)
        self.dims = tuple(range(self.axis, len(shape)))
        self.count = math.prod(shape[self.axis:])
        return [shape[:self.axis]]

    def forward(self, x):
        if self.operation == R.ASUM:
            x = torch.abs(x)
        elif self.operation == R.SUMSQ:
            x = x * x
        y = torch.sum(x, dim=self.dims) if self.dims else x.view_as(x)
        coeff = self.coeff / self.count if self.operation == R.MEAN else self.coeff
        return (y * coeff if coeff != 1 else y,)


@register("ArgMax")
class ArgMax(Layer):
    """The ``top_k`` largest values' indices (ties: the larger index first, as Caffe's
    ``std::greater`` on (value, index) pairs).  Without ``axis`` each sample's C*H*W values are
    searched and the top is N x 1 x top_k (x 1 ...), or N x 2 x top_k with ``out_max_val``
    (indices, then values); with ``axis``, ``out_max_val`` gives the values only.
    Forward only (Caffe has no Backward)."""

    def allow_force_backward(self, bottom_index: int) -> bool:
        return False  # forward only: Caffe has no Backward for it

    def setup(self, bottom_shapes):
        p = self.param.argmax_param
        shape = bottom_shapes[0]
        self.top_k, self.out_max_val = int(p.top_k), bool(p.out_max_val)
        self.has_axis = p.HasField("axis")
        if self.top_k < 1:
            raise self.fail("argmax_param.top_k must be >= 1")
        if self.has_axis:
            self.axis = self.canonical_axis(p.axis, len(shape))
            if self.top_k > shape[self.axis]:
                raise self.fail(f"top_k {self.top_k} is more than axis {self.axis}'s size {shape[self.axis]}")
            out = list(shape)
            out[self.axis] = self.top_k
            return [tuple(out)]
        if self.top_k > math.prod(shape[1:]):
            raise self.fail(f"top_k {self.top_k} is more than the {math.prod(shape[1:])} values per sample")
        out = [1] * max(3, len(shape))
        out[0], out[2] = shape[0], self.top_k
        if self.out_max_val:
            out[1] = 2
        return [tuple(out)]

    def forward(self, x):
        x = x.detach()
        if self.has_axis:
            values, idx = self._top(x, self.axis)
            y = values if self.out_max_val else idx.to(x.dtype)
            return (y,)
        values, idx = self._top(x.reshape(x.shape[0], -1), 1)
        parts = [idx.to(x.dtype)] + ([values] if self.out_max_val else [])
        return (torch.stack(parts, dim=1).reshape(x.shape[0], *self.top_shapes[0][1:]),)

    def _top(self, x, axis):
        flipped = torch.flip(x, dims=(axis,))
        values, idx = torch.sort(flipped, dim=axis, descending=True, stable=True)
        idx = x.shape[axis] - 1 - idx
        keep = torch.arange(self.top_k, device=x.device)
        return values.index_select(axis, keep), idx.index_select(axis, keep)


@register("Embed")
class Embed(Layer):
    """``y[..., :] = weight[index, :] (+ bias)``; weight is (input_dim, num_output).
    The index bottom gets no gradient (Caffe cannot back-propagate to it); Backward adds
    ``dy`` into the looked-up weight rows and sums it into the bias."""

    def allow_force_backward(self, bottom_index: int) -> bool:
        return False  # Caffe cannot back-propagate to the indices

    def setup(self, bottom_shapes):
        p = self.param.embed_param
        if p.input_dim < 1 or p.num_output < 1:
            raise self.fail("embed_param needs input_dim and num_output >= 1")
        self.input_dim, self.num_output, self.bias_term = int(p.input_dim), int(p.num_output), bool(p.bias_term)
        self.add_blob((self.input_dim, self.num_output), p.weight_filler)
        if self.bias_term:
            self.add_blob((self.num_output,), p.bias_filler)
        return [tuple(bottom_shapes[0]) + (self.num_output,)]

    def forward(self, idx):
        index = idx.detach().long()
        if index.device.type != "meta" and index.numel():
            bad = (index.to(idx.dtype) != idx.detach()) | (index < 0) | (index >= self.input_dim)
            if bool(bad.any()):
                raise self.fail(f"indices must be integers in [0, {self.input_dim}), got "
                                f"{idx.detach()[bad].flatten()[:5].tolist()}")
        y = F.embedding(index, self.blobs[0])
        if self.bias_term:
            y = y + self.blobs[1]
        return (y,)
