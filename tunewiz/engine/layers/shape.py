"""Layers that combine, cut and reshape blobs: Eltwise, Concat, Slice, Split, Flatten,
Reshape, Crop, Tile, Silence.  (Reduction, ArgMax and Embed live in ``reduce``.)

Axis fields follow Caffe's ``CanonicalAxisIndex`` (``Layer.canonical_axis``): ``-num_axes <= axis < num_axes``,
negative axes count from the end.
"""
from __future__ import annotations

import math

import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.engine.layers.base import Layer, register

P = caffe_pb2.EltwiseParameter


def n_tops(layer: Layer) -> int:
    return len(layer.param.top)


@register("Eltwise")
class Eltwise(Layer):
    """PROD: ``y = prod_i x_i``; SUM: ``y = sum_i coeff_i * x_i``; MAX: ``y = max_i x_i``.
    MAX Backward sends ``dy`` only to the bottom that won (the first one on ties, as Caffe
    compares with strict ``>``)."""

    def setup(self, bottom_shapes):
        p = self.param.eltwise_param
        if len(bottom_shapes) < 2:
            raise self.fail("needs at least 2 bottoms")
        for s in bottom_shapes[1:]:
            if s != bottom_shapes[0]:
                raise self.fail(f"all bottoms must have the same shape, got {bottom_shapes}")
        self.operation = p.operation
        if p.coeff and len(p.coeff) != len(bottom_shapes):
            raise self.fail(f"has {len(p.coeff)} coeff for {len(bottom_shapes)} bottoms; give one per bottom")
        if p.coeff and self.operation != P.SUM:
            raise self.fail("coeff is only for operation: SUM")
        self.coeff = [float(c) for c in p.coeff] or [1.0] * len(bottom_shapes)
        return [bottom_shapes[0]]

    def forward(self, *xs):
        if self.operation == P.PROD:
            y = xs[0] * xs[1]
            for x in xs[2:]:
                y = y * x
            return (y,)
        if self.operation == P.SUM:
            y = xs[0] * self.coeff[0] if self.coeff[0] != 1 else xs[0]
            for c, x in zip(self.coeff[1:], xs[1:]):
                y = y + (x * c if c != 1 else x)
            return (y,)
        return (self._max(xs),)

    @staticmethod
    def _max(xs):
        with torch.no_grad():
            best, idx = xs[0], torch.zeros_like(xs[0], dtype=torch.long)
            for i, x in enumerate(xs[1:], start=1):
                win = x > best
                idx = torch.where(win, i, idx)
                best = torch.where(win, x, best)
        return torch.stack(xs).gather(0, idx.unsqueeze(0)).squeeze(0)


@register("Concat")
class Concat(Layer):
    """``y = concat(x_1, ..., x_n)`` along ``axis`` (legacy ``concat_dim``)."""

    def setup(self, bottom_shapes):
        p = self.param.concat_param
        ref = bottom_shapes[0]
        axis = p.concat_dim if p.HasField("concat_dim") else p.axis
        self.axis = self.canonical_axis(axis, len(ref))
        for s in bottom_shapes[1:]:
            if len(s) != len(ref) or any(a != b for i, (a, b) in enumerate(zip(s, ref)) if i != self.axis):
                raise self.fail(f"bottoms must match except on axis {self.axis}: {bottom_shapes}")
        out = list(ref)
        out[self.axis] = sum(s[self.axis] for s in bottom_shapes)
        return [tuple(out)]

    def forward(self, *xs):
        if len(xs) == 1:
            return (xs[0].view_as(xs[0]),)
        return (torch.cat(xs, dim=self.axis),)


@register("Slice")
class Slice(Layer):
    """Cut the bottom along ``axis`` (legacy ``slice_dim``) at each ``slice_point``, or into
    equal parts (one per top) when there are none."""

    def setup(self, bottom_shapes):
        p = self.param.slice_param
        shape = bottom_shapes[0]
        axis = p.slice_dim if p.HasField("slice_dim") else p.axis
        self.axis = self.canonical_axis(axis, len(shape))
        tops, dim = n_tops(self), shape[self.axis]
        if p.slice_point:
            if len(p.slice_point) != tops - 1:
                raise self.fail(f"{len(p.slice_point)} slice_point need {len(p.slice_point) + 1} tops, got {tops}")
            points = [0] + [int(v) for v in p.slice_point] + [dim]
            if any(b <= a for a, b in zip(points, points[1:])):
                raise self.fail(f"slice_point must increase strictly inside 1..{dim - 1}, got {list(p.slice_point)}")
            self.sizes = [b - a for a, b in zip(points, points[1:])]
        else:
            if tops == 0 or dim % tops:
                raise self.fail(f"cannot cut axis {self.axis} of size {dim} into {tops} equal parts")
            self.sizes = [dim // tops] * tops
        return [shape[:self.axis] + (n,) + shape[self.axis + 1:] for n in self.sizes]

    def forward(self, x):
        return tuple(torch.split(x, self.sizes, dim=self.axis))


@register("Split")
class Split(Layer):
    """Every top is the bottom; Backward sums the tops' diffs."""

    def setup(self, bottom_shapes):
        return [bottom_shapes[0]] * n_tops(self)

    def forward(self, x):
        return tuple(x.view_as(x) for _ in range(len(self.top_shapes)))


@register("Flatten")
class Flatten(Layer):
    """Merge axes ``axis..end_axis`` into one."""

    def setup(self, bottom_shapes):
        p = self.param.flatten_param
        shape = bottom_shapes[0]
        start = self.canonical_axis(p.axis, len(shape))
        end = self.canonical_axis(p.end_axis, len(shape), "end_axis")
        if end < start:  # Caffe's Blob::count(start, end + 1) stops here
            raise self.fail(f"end_axis {p.end_axis} comes before axis {p.axis}")
        self.start, self.end = start, end
        return [shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:]]

    def forward(self, x):
        # from the bottom it gets, as Caffe's Reshape each pass: another batch size flattens too
        return (x.flatten(self.start, self.end),)


@register("Reshape")
class Reshape(Layer):
    """Replace axes ``axis .. axis+num_axes`` by ``shape``: a ``0`` copies the bottom's
    axis at that position, one ``-1`` is inferred from the count."""

    def setup(self, bottom_shapes):
        p = self.param.reshape_param
        shape = bottom_shapes[0]
        dims = [int(d) for d in p.shape.dim]
        if dims.count(-1) > 1:
            raise self.fail("reshape_param.shape may infer only one dimension (-1)")
        start = p.axis if p.axis >= 0 else len(shape) + p.axis + 1
        if not 0 <= start <= len(shape):
            raise self.fail(f"axis {p.axis} is out of range for a {len(shape)}-axis bottom")
        if p.num_axes < -1:
            raise self.fail("num_axes must be >= -1")
        end = len(shape) if p.num_axes == -1 else start + p.num_axes
        if end > len(shape):
            raise self.fail(f"axis + num_axes ({end}) is more than the bottom's {len(shape)} axes")
        for i, d in enumerate(dims):
            if d == 0 and start + i >= len(shape):
                raise self.fail(f"dim {i} is 0 (copy) but the bottom has no axis {start + i}")
        self.start, self.end, self.dims = start, end, dims
        out = self._shape(shape)
        count = math.prod(shape)
        if -1 in dims:
            known = math.prod(d for d in out if d != -1)
            if known == 0 or count % known:
                raise self.fail(f"cannot infer -1: {count} values do not divide by {known}")
            out[out.index(-1)] = count // known
        if math.prod(out) != count:
            raise self.fail(f"output shape {out} has {math.prod(out)} values, the bottom {list(shape)} has {count}")
        return [tuple(out)]

    def _shape(self, shape) -> list:
        """The top shape for a bottom of ``shape``, the ``-1`` left to infer (0 copies the bottom's axis)."""
        dims = [shape[self.start + i] if d == 0 else d for i, d in enumerate(self.dims)]
        return list(shape[:self.start]) + dims + list(shape[self.end:])

    def forward(self, x):
        # from the bottom it gets, as Caffe's Reshape each pass: another batch size reshapes too
        return (x.reshape(self._shape(x.shape)),)


@register("Crop")
class Crop(Layer):
    """``y = x[..., offset_i : offset_i + ref.shape[i], ...]`` for the axes from ``axis``;
    one ``offset`` applies to all of them.  The 2nd bottom only gives the shape."""

    def setup(self, bottom_shapes):
        p = self.param.crop_param
        if len(bottom_shapes) != 2:
            raise self.fail("needs 2 bottoms: the blob to crop and the one whose shape to take")
        shape, ref = bottom_shapes
        if len(shape) != len(ref):
            raise self.fail(f"bottoms must have the same number of axes, got {list(shape)} and {list(ref)}")
        start = self.canonical_axis(p.axis, len(shape))
        n = len(shape) - start
        offsets = [int(o) for o in p.offset]
        if len(offsets) > 1 and len(offsets) != n:
            raise self.fail(f"give 1 offset or {n} (one per axis from {start}), got {len(offsets)}")
        offsets = (offsets or [0]) * n if len(offsets) <= 1 else offsets
        self.slices = [slice(None)] * start
        out = list(shape)
        for i, off in zip(range(start, len(shape)), offsets):
            if off + ref[i] > shape[i]:
                raise self.fail(f"axis {i}: offset {off} + size {ref[i]} is past the bottom's {shape[i]}")
            out[i] = ref[i]
            self.slices.append(slice(off, off + ref[i]))
        return [tuple(out)]

    def forward(self, x, ref=None):
        return (x[tuple(self.slices)],)


@register("Tile")
class Tile(Layer):
    """Repeat the whole block from ``axis`` on ``tiles`` times (as ``np.tile``)."""

    def setup(self, bottom_shapes):
        p = self.param.tile_param
        shape = bottom_shapes[0]
        self.axis = self.canonical_axis(p.axis, len(shape))
        if p.tiles < 1:
            raise self.fail("tile_param.tiles must be >= 1")
        self.reps = [1] * len(shape)
        self.reps[self.axis] = int(p.tiles)
        out = list(shape)
        out[self.axis] *= p.tiles
        return [tuple(out)]

    def forward(self, x):
        return (x.repeat(self.reps),)


@register("Silence")
class Silence(Layer):
    """No top; Backward writes zeros into the bottoms' diffs."""

    def setup(self, bottom_shapes):
        if n_tops(self):
            raise self.fail("Silence has no top")
        return []

    def forward(self, *xs):
        return ()
