"""pycaffe's ``caffe.io.resize_image`` and the resampling under it, in numpy (no scikit-image, no SciPy).

pycaffe resizes 1- and 3-channel images with ``skimage.transform.resize(im, dims, order,
mode='constant')`` and anything else with ``scipy.ndimage.zoom(im, scale + (1,), order)``.  Both are
rebuilt here for spline orders 0 (nearest) and 1 (linear), the orders pycaffe's callers use:

* ``resize_like_skimage``: when an axis shrinks, a Gaussian blur first (sigma ``(factor - 1) / 2``,
  truncated at 4 sigma, zeros outside, one float32 pass per axis as ``ndimage.gaussian_filter``);
  then ``ndimage.zoom(..., grid_mode=True, mode='grid-constant')``: pixel centres map as
  ``x_in = (x_out + 0.5) * in / out - 0.5`` and samples outside the image are 0, so the border
  pixels of an upscaled image lean toward 0, as pycaffe's do.
* ``zoom_like_ndimage``: corners aligned, ``x_in = x_out * (in - 1) / (out - 1)``; the output size
  is ``round(in * scale)``.

Values are computed in float64 and rounded to float32 where SciPy rounds; what is left is the order
of additions, a few float32 ulps (the tests allow 2e-6 of the image's range).
"""
from __future__ import annotations

import numpy as np

ORDERS = (0, 1)


def resize_image(im, new_dims, interp_order: int = 1) -> np.ndarray:
    """``im`` (H x W x K) resized to ``new_dims`` (height, width) with interpolation order 0 or 1; float32."""
    if interp_order not in ORDERS:
        raise ValueError(f"resize_image: interp_order {interp_order} is not supported here; use 0 (nearest) "
                         "or 1 (linear, the default)")
    im = np.asarray(im)
    new_dims = tuple(int(d) for d in new_dims)
    if im.shape[-1] in (1, 3):
        im_min, im_max = im.min(), im.max()
        if not im_max > im_min:  # a constant image: no range to normalise by
            return np.full((new_dims[0], new_dims[1], im.shape[-1]), im_min, np.float32)
        # pycaffe maps the image to [0, 1] for scikit-image and back
        im_std = (im - im_min) / (im_max - im_min)
        resized = resize_like_skimage(im_std, new_dims, interp_order) * (im_max - im_min) + im_min
    else:
        scale = tuple(np.array(new_dims, dtype=float) / np.array(im.shape[:2]))
        resized = zoom_like_ndimage(im, scale + (1,), interp_order)
    return resized.astype(np.float32)


def resize_like_skimage(image: np.ndarray, dims, order: int) -> np.ndarray:
    """``skimage.transform.resize(image, dims, order=order, mode='constant')`` of a float image.

    Like scikit-image, float32 (and float16) images are worked and returned in float32, others in float64.
    """
    image = np.asarray(image)
    dtype = np.float32 if image.dtype in (np.float16, np.float32) else np.float64
    image = image.astype(dtype)
    out_shape = tuple(int(d) for d in dims) + tuple(image.shape[len(dims):])
    factors = [i / o for i, o in zip(image.shape, out_shape)]
    if any(o < i for o, i in zip(out_shape, image.shape)):
        image = _gaussian(image, [max(0.0, (f - 1) / 2) for f in factors])
    for axis, (size_in, size_out) in enumerate(zip(image.shape, out_shape)):
        coords = (np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5
        image = _sample(image, axis, coords, order, outside_zero=True)
    return image.astype(dtype)


def zoom_like_ndimage(image: np.ndarray, scale, order: int) -> np.ndarray:
    """``scipy.ndimage.zoom(image, scale, order=order)`` (corners aligned, mode 'constant')."""
    image = np.asarray(image)
    work = image.astype(np.float64)
    for axis, factor in enumerate(scale):
        size_in = image.shape[axis]
        size_out = int(round(size_in * factor))
        step = (size_in - 1) / (size_out - 1) if size_out > 1 else 1.0
        work = _sample(work, axis, np.arange(size_out) * step, order, outside_zero=False)
    return work.astype(image.dtype) if np.issubdtype(image.dtype, np.floating) else work


def _sample(image: np.ndarray, axis: int, coords: np.ndarray, order: int, outside_zero: bool) -> np.ndarray:
    """Resample one axis at ``coords`` (input pixel units) by nearest (0) or linear (1) interpolation."""
    size = image.shape[axis]
    moved = np.moveaxis(np.asarray(image, np.float64), axis, 0)
    padded = np.concatenate([np.zeros_like(moved[:1]), moved, np.zeros_like(moved[:1])])
    if not outside_zero:  # corners aligned: coordinates stay inside, the edge sample is its own
        padded[0], padded[-1] = moved[0], moved[-1]
    if order == 0:
        index = np.floor(coords + 0.5).astype(np.int64)
        out = padded[np.clip(index, -1, size) + 1]
    else:
        start = np.floor(coords).astype(np.int64)
        weight = (coords - start).reshape((-1,) + (1,) * (moved.ndim - 1))
        lo, hi = np.clip(start, -1, size) + 1, np.clip(start + 1, -1, size) + 1
        out = padded[lo] * (1 - weight) + padded[hi] * weight
    if not outside_zero:
        # SciPy's 'constant' mode gives cval 0 past the last pixel, and x * (in - 1) / (out - 1)
        # can land a hair past it in floating point: such a sample is 0 in pycaffe too
        out[(coords < 0) | (coords > size - 1)] = 0
    return np.moveaxis(out, 0, axis)


def _gaussian(image: np.ndarray, sigmas) -> np.ndarray:
    """``ndimage.gaussian_filter(image, sigmas, mode='constant')``: one float32 pass per blurred axis."""
    for axis, sigma in enumerate(sigmas):
        if sigma <= 1e-15:
            continue
        radius = int(4.0 * sigma + 0.5)
        taps = np.exp(-0.5 / (sigma * sigma) * np.arange(-radius, radius + 1) ** 2)
        taps /= taps.sum()
        moved = np.moveaxis(image.astype(np.float64), axis, 0)
        zeros = np.zeros((radius,) + moved.shape[1:])
        padded = np.concatenate([zeros, moved, zeros])
        out = sum(w * padded[j:j + moved.shape[0]] for j, w in enumerate(taps))
        image = np.moveaxis(out, 0, axis).astype(image.dtype)
    return image
