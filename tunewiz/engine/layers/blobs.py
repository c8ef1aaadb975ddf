"""Layers that hold a blob or pick items of the batch: Parameter, Filter, BatchReindex.

* Parameter: no bottom; its one blob (``parameter_param.shape``, no filler: zeros until trained or
  loaded) IS the top, data and diff: whatever reaches the top's diff is the blob's diff.
* Filter: bottoms ``x_1 .. x_K`` and a selector ``s`` last (shape ``(N, 1, ...)``); top ``k`` is the
  items ``n`` of ``x_k`` with ``s[n] != 0``, in order.  Backward copies each kept item's diff back and
  writes 0 into every item that was filtered out.  At setup the tops have all ``N`` items (Caffe's first
  Reshape); each forward sizes them by the selector.
* BatchReindex: ``y[i] = x[permut[i]]`` with ``permut`` a 1-axis blob of item indices in ``[0, N)``;
  Backward adds the diff of every copy: ``dx[n] = sum_{i: permut[i] = n} dy[i]``.

Caffe cannot back-propagate to the selector or the index: it stops in Backward (under
``force_backward`` too).  Here they never get a diff (``allow_force_backward`` is False for them).
Filter keeping no item: Caffe's Backward divides by the top's item count and dies (SIGFPE); here the
bottoms' diffs are 0.
"""
from __future__ import annotations

import torch

from tunewiz.engine.layers.base import Layer, register


@register("Parameter")
class Parameter(Layer):
    """Caffe's ParameterLayer: the top shares data and diff with blob 0 (``parameter_param.shape``)."""

    def setup(self, bottom_shapes):
        if bottom_shapes or len(self.param.top) != 1:
            raise self.fail("takes no bottom and makes one top")
        shape = tuple(int(d) for d in self.param.parameter_param.shape.dim)
        if any(d < 0 for d in shape):
            raise self.fail(f"parameter_param.shape {list(shape)} has a negative dim")
        self.add_blob(shape)
        return [shape]

    def forward(self):
        blob = self.blobs._parameters["0"]
        if not torch.is_grad_enabled():  # a view would still require grad here; the blob's data is the top
            return (blob.detach(),)
        return (blob.view_as(blob),)  # a view: the top's gradient goes to the blob, as the shared diff


@register("Filter")
class Filter(Layer):
    """Caffe's FilterLayer: the items whose selector (the last bottom) is non-zero, from every other bottom."""

    items_from_values = True

    def allow_force_backward(self, bottom_index: int) -> bool:
        return bottom_index != len(self.bottom_shapes) - 1  # Caffe cannot back-propagate to the selector

    def setup(self, bottom_shapes):
        if len(bottom_shapes) < 2 or len(self.param.top) != len(bottom_shapes) - 1:
            raise self.fail("takes the blobs to filter and the selector last, and makes one top per filtered "
                            f"blob; got {len(bottom_shapes)} bottoms and {len(self.param.top)} tops")
        self.check_shapes(bottom_shapes)
        return [tuple(s) for s in bottom_shapes[:-1]]

    def check_shapes(self, shapes) -> None:
        """Caffe's Reshape checks: selector (N, 1, ...), every filtered bottom N items."""
        selector = tuple(shapes[-1])
        if not selector or any(d != 1 for d in selector[1:]):
            raise self.fail(f"the selector (last bottom '{self.param.bottom[-1]}') must have shape (N, 1, ...), "
                            f"singleton dims after the first; got {list(selector)}")
        for name, shape in zip(self.param.bottom, shapes[:-1]):
            if not shape or shape[0] != selector[0]:
                raise self.fail(f"bottom '{name}' has shape {list(shape)}: every bottom needs the selector's "
                                f"{selector[0]} items along axis 0")

    def forward(self, *bottoms):
        *xs, selector = bottoms
        self.check_shapes([tuple(b.shape) for b in bottoms])
        if selector.device.type == "meta":  # no values: all items, as Caffe's first Reshape
            return tuple(x.view_as(x) for x in xs)
        keep = torch.nonzero(selector.detach().reshape(-1) != 0).flatten()
        return tuple(x.index_select(0, keep) for x in xs)


@register("BatchReindex")
class BatchReindex(Layer):
    """Caffe's BatchReindexLayer: ``y[i] = x[permut[i]]``; Backward sums the diffs of repeated items."""

    def allow_force_backward(self, bottom_index: int) -> bool:
        return bottom_index != 1  # Caffe: "Cannot backprop to index."

    def setup(self, bottom_shapes):
        if len(bottom_shapes) != 2 or len(self.param.top) != 1:
            raise self.fail("takes 2 bottoms (the blob, the item indices) and makes one top")
        shape, index = bottom_shapes
        if len(index) != 1:
            raise self.fail(f"the index (bottom '{self.param.bottom[1]}') must have one axis, got shape {list(index)}")
        if not shape:
            raise self.fail("the blob to reindex needs an item axis (axis 0)")
        return [(index[0], *shape[1:])]

    def forward(self, x, permut):
        values = permut.detach()
        # a traced program (tunewiz export) cannot branch on values; its index_select refuses bad ones itself
        if values.device.type != "meta" and values.numel() and not torch.compiler.is_compiling():
            bad = (values < 0) | (values >= x.shape[0])
            if bool(bad.any()):
                raise self.fail(f"indices must be in [0, {x.shape[0]}) (the items of '{self.param.bottom[0]}'), "
                                f"got {values[bad][:5].tolist()}")
        return (x.index_select(0, values.to(torch.long)),)
