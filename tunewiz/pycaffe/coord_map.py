"""pycaffe's ``caffe.coord_map``: how the coordinates of two NetSpec tops relate, and ``crop`` for
FCN-style nets.

A coordinate map is ``(axis, scale, shift)``: an output coordinate ``i * scale + shift`` comes from
input coordinate ``i``, over the spatial axes from ``axis`` on (``None``: any axis, the identity of
pointwise layers is ``(None, 1, 0)``).  Convolution, Pooling and Im2col shrink by the stride and
shift by the padding, Deconvolution the inverse, Crop shifts by its offset, pointwise layers pass
through; other layers have no map.  ``coord_map_from_to`` composes the maps back from both tops to a
common ancestor; ``crop`` turns that into a Crop layer.  The errors are pycaffe's: a ``RuntimeError``
for tops no spatial path connects, an ``AssertionError`` for a crop that cannot be made.
"""
from __future__ import annotations

import numpy as np

from tunewiz.pycaffe.net_spec import layers as L

PASS_THROUGH_LAYERS = ["AbsVal", "BatchNorm", "Bias", "BNLL", "Dropout", "Eltwise", "ELU", "Log", "LRN", "Exp",
                       "MVN", "Power", "ReLU", "PReLU", "Scale", "Sigmoid", "Split", "TanH", "Threshold"]
_LEGACY = {"pad_h", "pad_w", "kernel_h", "kernel_w", "stride_h", "stride_w"}
IDENTITY = (None, 1, 0)


class UndefinedMapException(Exception):
    """A layer with no coordinate mapping (InnerProduct, ...): the walk stops there."""


class AxisMismatchException(Exception):
    """Two maps over different spatial axes cannot compose."""


def conv_params(fn):
    """(axis, stride, effective kernel extent, pad) of a Convolution/Deconvolution/Im2col/Pooling."""
    params = fn.params.get("convolution_param", fn.params)
    if _LEGACY & set(fn.params):
        raise AssertionError("cropping does not support legacy _h/_w params")
    kernel = np.array(params["kernel_size"], ndmin=1)
    dilation = np.array(params.get("dilation", 1), ndmin=1)
    return (params.get("axis", 1), np.array(params.get("stride", 1), ndmin=1), (kernel - 1) * dilation + 1,
            np.array(params.get("pad", 0), ndmin=1))


def crop_params(fn):
    """(axis, offset) of a Crop layer, with Caffe's defaults (axis 2: the spatial axes of N, C, H, W)."""
    params = fn.params.get("crop_param", fn.params)
    return params.get("axis", 2), np.array(params.get("offset", 0), ndmin=1)


def coord_map(fn):
    """The (axis, scale, shift) map of one layer, from its input to its output."""
    if fn.type_name in ("Convolution", "Pooling", "Im2col"):
        axis, stride, extent, pad = conv_params(fn)
        return axis, 1 / stride, (pad - (extent - 1) / 2) / stride
    if fn.type_name == "Deconvolution":
        axis, stride, extent, pad = conv_params(fn)
        return axis, stride, (extent - 1) / 2 - pad
    if fn.type_name in PASS_THROUGH_LAYERS:
        return IDENTITY
    if fn.type_name == "Crop":
        axis, offset = crop_params(fn)
        return axis - 1, 1, -offset  # -1: the map's axis is the last non-coordinate one
    raise UndefinedMapException(fn.type_name)


def compose(base_map, next_map):
    """``next_map`` after ``base_map``: scales multiply, the further shift is scaled by the base's scale."""
    ax1, a1, b1 = base_map
    ax2, a2, b2 = next_map
    if ax1 is None:
        ax = ax2
    elif ax2 is None or ax1 == ax2:
        ax = ax1
    else:
        raise AxisMismatchException(f"axis {ax1} and axis {ax2}")
    return ax, a1 * a2, a1 * b2 + b1


def inverse(coord_map):
    """The backward map: de-scale and un-shift."""
    ax, a, b = coord_map
    return ax, 1 / a, -b / a


def _bottoms(top):
    """The bottoms a map walks through: all of a layer's, but only the cropped one of a Crop."""
    bottoms = top.fn.inputs
    return bottoms[:1] if top.fn.type_name == "Crop" else bottoms


def _maps_back(start):
    """Every top reachable back from ``start`` through mapped layers -> the map from it to ``start``."""
    maps = {start: IDENTITY}
    frontier = {start}
    while frontier:
        top = frontier.pop()
        try:
            for bottom in _bottoms(top):
                maps[bottom] = compose(maps[top], coord_map(top.fn))
                frontier.add(bottom)
        except UndefinedMapException:
            pass
    return maps


def coord_map_from_to(top_from, top_to):
    """The (axis, scale, shift) map between two tops, through a common ancestor."""
    from_maps = _maps_back(top_from)
    to_maps = {top_to: IDENTITY}
    frontier = {top_to}
    while frontier:
        top = frontier.pop()
        if top in from_maps:
            return compose(to_maps[top], inverse(from_maps[top]))
        try:
            for bottom in _bottoms(top):
                to_maps[bottom] = compose(to_maps[top], coord_map(top.fn))
                frontier.add(bottom)
        except UndefinedMapException:
            continue
    raise RuntimeError("Could not compute map between tops; are they connected by spatial layers?")


def crop(top_from, top_to):
    """A Crop layer that crops ``top_from`` to ``top_to``'s extent, its axis and offsets from their map."""
    ax, a, b = coord_map_from_to(top_from, top_to)
    a, b = np.array(a, ndmin=1), np.array(b, ndmin=1)
    if not (a == 1).all():
        raise AssertionError(f"scale mismatch on crop (a = {a})")
    if not (b <= 0).all():
        raise AssertionError(f"cannot crop negative offset (b = {b})")
    if not (np.round(b) == b).all():
        raise AssertionError(f"cannot crop noninteger offset (b = {b})")
    axis = 2 if ax is None else ax + 1  # +1: the first cropped axis; None: no spatial layer, Caffe's default
    return L.Crop(top_from, top_to, crop_param=dict(axis=int(axis), offset=[int(o) for o in -np.round(b)]))
