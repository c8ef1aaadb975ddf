"""Scale and Bias: a learned (or 2nd-bottom) factor / offset broadcast over the bottom.

The factor's shape is laid at ``axis`` of bottom 0: ``shape[axis : axis + num_axes]``
(``num_axes: -1`` = to the end, ``0`` = a 0-d blob, one scalar).  With a 2nd bottom its
shape is used and ``num_axes`` is ignored.
"""
from __future__ import annotations

from typing import Sequence

import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.engine.layers.base import Layer, register
from tunewiz.engine.layers.kernels import caffe_scale


def _operand_shape(layer: Layer, shape, axis_field: int, num_axes: int, bottom1=None):
    """Return (axis, operand shape) with Caffe's checks."""
    ndim = len(shape)
    if bottom1 is not None:
        axis = 0 if ndim == 0 else layer.canonical_axis(axis_field, ndim)
        operand = tuple(bottom1)
    else:
        axis = 0 if ndim == 0 and num_axes == 0 else layer.canonical_axis(axis_field, ndim)
        if num_axes < -1:
            raise layer.fail("num_axes must be >= -1")
        end = ndim if num_axes == -1 else axis + num_axes
        if end > ndim:
            raise layer.fail(f"axis {axis} + num_axes {num_axes} is past the bottom's {ndim} axes")
        operand = tuple(shape[axis:end])
    if tuple(shape[axis:axis + len(operand)]) != operand:
        raise layer.fail(f"the {'2nd bottom' if bottom1 is not None else 'blob'} shape {list(operand)} does not "
                         f"match bottom {list(shape)} from axis {axis}")
    return axis, operand


def _broadcast(v: torch.Tensor, axis: int, ndim: int) -> torch.Tensor:
    """View ``v`` so that its axes sit at ``axis`` of an ``ndim``-axis tensor."""
    if v.dim() == 0:
        return v
    return v.reshape((1,) * axis + tuple(v.shape) + (1,) * (ndim - axis - v.dim()))


def _constant(value: float) -> caffe_pb2.FillerParameter:
    return caffe_pb2.FillerParameter(type="constant", value=value)


@register("Scale")
class Scale(Layer):
    """``y = x * s (+ b)``, ``s`` broadcast from ``axis``.  ``s`` is blob 0 (default filler
    constant 1) or the 2nd bottom; ``bias_term`` adds blob ``b`` of the same shape (filler
    ``bias_filler``, default constant 0).  Backward: ``dx = dy * s``,
    ``ds = sum_{other axes} dy * x``, ``db = sum dy``."""

    def setup(self, bottom_shapes: Sequence):
        p = self.param.scale_param
        shape = bottom_shapes[0]
        self.two_bottoms = len(bottom_shapes) == 2
        self.axis, operand = _operand_shape(self, shape, p.axis, p.num_axes,
                                            bottom_shapes[1] if self.two_bottoms else None)
        if not self.two_bottoms:
            self.add_blob(operand, p.filler if p.HasField("filler") else _constant(1.0))
        self.bias_term = bool(p.bias_term)
        if self.bias_term:
            self.add_blob(operand, p.bias_filler)
        return [shape]

    def forward(self, x, s=None):
        if s is None:
            s = self.blobs[0]
        y = x * _broadcast(s, self.axis, x.dim())
        if self.bias_term:
            y = y + _broadcast(self.blobs[-1], self.axis, x.dim())
        return (y,)

    def caffe_cpu_forward(self):
        """Caffe's order for the gradients' sums (``kernels.caffe_scale``)."""
        return self._forward_caffe_cpu

    def _forward_caffe_cpu(self, x, s=None):
        s = self.blobs[0] if s is None else s
        return (caffe_scale.scale(x, s, self.blobs[-1] if self.bias_term else None, self.axis),)


@register("Bias")
class Bias(Layer):
    """``y = x + b``, ``b`` broadcast from ``axis``: blob 0 (filler default constant 0) or the
    2nd bottom.  Backward: ``dx = dy``, ``db = sum_{other axes} dy``."""

    def setup(self, bottom_shapes: Sequence):
        p = self.param.bias_param
        shape = bottom_shapes[0]
        two_bottoms = len(bottom_shapes) == 2
        self.axis, operand = _operand_shape(self, shape, p.axis, p.num_axes,
                                            bottom_shapes[1] if two_bottoms else None)
        if not two_bottoms:
            self.add_blob(operand, p.filler)
        return [shape]

    def forward(self, x, b=None):
        if b is None:
            b = self.blobs[0]
        return (x + _broadcast(b, self.axis, x.dim()),)
