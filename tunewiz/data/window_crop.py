"""One R-CNN window cut out of its image and written into a batch, as Caffe 1.0's WindowDataLayer does it.

:func:`window_geometry` (pure arithmetic, Caffe's float32 ``Dtype``, ``round`` half away from zero) for a
box ``x1 y1 x2 y2`` (inclusive pixels) in an image of ``rows x cols``; ``cs = crop_size``::

    if context_pad > 0 or crop_mode == "square":
        context_scale = cs / (cs - 2 * context_pad)
        half_w = (x2 - x1 + 1) / 2; half_h = (y2 - y1 + 1) / 2
        center = (x1 + half_w, y1 + half_h); square: half_w = half_h = max(half_w, half_h)
        x1 = round(cx - half_w * context_scale); x2 = round(cx + half_w * context_scale)  (y alike)
        pad_x1 = max(0, -x1); pad_x2 = max(0, x2 - cols + 1)  (y alike); the box clipped to the image
        scale_x = cs / unclipped_width; size = round(clipped * scale); pads = round(pad * scale)
        pad_h = pad_y1; pad_w = mirror ? pad_x2 : pad_x1     (the padding is mirrored too)
        size shrunk so that pad + size <= cs
    else: the box as given, warped to cs x cs, no padding

:func:`cut_window`: the (clipped) box ``cv::resize``d to that size with ``INTER_LINEAR``, flipped when
mirrored (``cv::flip(img, 1)``).  :func:`place_window`: into the zeroed ``C x cs x cs`` output at
``(pad_h, pad_w)``::

    top[c, h + pad_h, w + pad_w] = (pixel - mean[c, h + mean_off + pad_h, w + mean_off + pad_w]) * scale
                                   (pixel - mean_value[c]) * scale,   or   pixel * scale

``mean_off = (mean_width - cs) / 2`` for both axes (Caffe uses the width's offset for the rows too); the
padding stays 0, the mean is not subtracted there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tunewiz.errors import TunewizError

F32 = np.float32


class WindowCropError(TunewizError):
    """A window that cannot be cut out of its image."""


@dataclass(frozen=True)
class Geometry:
    """The region to read (inclusive ``x1 y1 x2 y2``), the size to warp it to and where it goes."""
    x1: int
    y1: int
    x2: int
    y2: int
    width: int
    height: int
    pad_h: int
    pad_w: int


def caffe_round(value) -> int:
    """C's ``round``: halves away from zero (numpy's rounds them to even)."""
    value = float(value)
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def window_geometry(box, rows: int, cols: int, crop_size: int, context_pad: int = 0, square: bool = False,
                    mirror: bool = False) -> Geometry:
    """Where window ``box`` (x1, y1, x2, y2) of a ``rows x cols`` image is read and written (see the module)."""
    x1, y1, x2, y2 = (int(v) for v in box)
    cs = int(crop_size)
    if not (context_pad > 0 or square):
        return Geometry(x1, y1, x2, y2, cs, cs, 0, 0)
    context_scale = F32(cs) / F32(cs - 2 * context_pad)
    half_h, half_w = F32((y2 - y1 + 1) / 2.0), F32((x2 - x1 + 1) / 2.0)
    center_x, center_y = F32(x1) + half_w, F32(y1) + half_h
    if square:
        half_h = half_w = max(half_h, half_w)
    x1, x2 = caffe_round(center_x - half_w * context_scale), caffe_round(center_x + half_w * context_scale)
    y1, y2 = caffe_round(center_y - half_h * context_scale), caffe_round(center_y + half_h * context_scale)
    unclipped_h, unclipped_w = y2 - y1 + 1, x2 - x1 + 1
    pad_x1, pad_y1 = max(0, -x1), max(0, -y1)
    pad_x2, pad_y2 = max(0, x2 - cols + 1), max(0, y2 - rows + 1)
    x1, x2, y1, y2 = x1 + pad_x1, x2 - pad_x2, y1 + pad_y1, y2 - pad_y2
    scale_x, scale_y = F32(cs) / F32(unclipped_w), F32(cs) / F32(unclipped_h)
    width, height = caffe_round(F32(x2 - x1 + 1) * scale_x), caffe_round(F32(y2 - y1 + 1) * scale_y)
    pad_x1, pad_x2 = caffe_round(F32(pad_x1) * scale_x), caffe_round(F32(pad_x2) * scale_x)
    pad_h = caffe_round(F32(pad_y1) * scale_y)
    pad_w = pad_x2 if mirror else pad_x1
    # the rounded size plus the padding may overrun the crop by a pixel
    height, width = min(height, cs - pad_h), min(width, cs - pad_w)
    return Geometry(x1, y1, x2, y2, width, height, pad_h, pad_w)


def check_geometry(geo: Geometry, rows: int, cols: int, what: str) -> None:
    """Caffe CHECKs (or OpenCV asserts) on these; here they are one message naming the window."""
    if not (0 <= geo.x1 <= geo.x2 < cols and 0 <= geo.y1 <= geo.y2 < rows):
        raise WindowCropError(f"{what}: the region x {geo.x1}..{geo.x2}, y {geo.y1}..{geo.y2} is not inside the "
                              f"{cols}x{rows} (width x height) image; fix the box in the window file "
                              "(0-based x1 y1 x2 y2, inclusive, x2 >= x1, y2 >= y1).")
    if geo.width <= 0 or geo.height <= 0:
        raise WindowCropError(f"{what}: the window warps to {geo.width}x{geo.height} pixels, nothing is left "
                              "to copy; use a larger box or a smaller context_pad.")


def cut_window(img: np.ndarray, box, crop_size: int, context_pad: int = 0, square: bool = False,
               mirror: bool = False, what: str = "window") -> tuple[np.ndarray, int, int]:
    """``img`` (rows x cols x 3 uint8, BGR) -> (warped window rows x cols x 3 uint8, pad_h, pad_w)."""
    import cv2

    rows, cols = img.shape[:2]
    geo = window_geometry(box, rows, cols, crop_size, context_pad, square, mirror)
    check_geometry(geo, rows, cols, what)
    region = img[geo.y1:geo.y2 + 1, geo.x1:geo.x2 + 1]
    warped = cv2.resize(region, (geo.width, geo.height), interpolation=cv2.INTER_LINEAR)
    if mirror:
        warped = cv2.flip(warped, 1)
    return warped.reshape(geo.height, geo.width, -1), geo.pad_h, geo.pad_w


def place_window(out: np.ndarray, warped: np.ndarray, pad_h: int, pad_w: int, scale: float = 1.0,
                 mean: np.ndarray | None = None, mean_values: np.ndarray | None = None) -> None:
    """Write the warped window into the zeroed ``out`` (C x cs x cs float32); see the module docstring."""
    h, w = warped.shape[:2]
    cs = out.shape[-1]
    pixels = warped.transpose(2, 0, 1).astype(F32)
    if mean is not None:
        off = (mean.shape[-1] - cs) // 2
        pixels -= mean[:pixels.shape[0], off + pad_h:off + pad_h + h, off + pad_w:off + pad_w + w]
    elif mean_values is not None:
        pixels -= np.asarray(mean_values, F32)[:pixels.shape[0], None, None]
    out[:, pad_h:pad_h + h, pad_w:pad_w + w] = pixels * F32(scale)
