"""pycaffe's image numerics (``python/caffe/io.py``, ``python/caffe/classifier.py``), below the engine.

Used by pycaffe's ``caffe.io`` and ``caffe.Classifier`` (:mod:`tunewiz.pycaffe`) and by ``tunewiz
classify --convention classify.py`` (:mod:`tunewiz.infer.preprocess`), so both give the same numbers:

* ``load_image`` reads with OpenCV and gives what ``skimage.io.imread`` + ``img_as_float`` give:
  float32 RGB in [0, 1] (``x * (1 / 255)``, 16-bit ``/ 65535``), alpha dropped; ``color=False`` on a
  colour image is scikit-image's luminance ``0.2125 R + 0.7154 G + 0.0721 B`` (alpha over white).
* ``classifier_inputs``: ``Classifier.predict`` up to its forward: each image resized to ``image_dims``
  (``resize_image``), then the center crop of the net's input size or the ten crops of ``oversample``
  (four corners and the center, and their mirrors), each through the ``Transformer``;
  ``average_crops`` averages the ten predictions of each image as ``predict`` does.
"""
from __future__ import annotations

import os

import numpy as np

from tunewiz.data.resample import resize_image
from tunewiz.data.transformer import Transformer
from tunewiz.errors import FormatError

_GRAY = np.array([0.2125, 0.7154, 0.0721])  # scikit-image's rgb2gray weights
CROPS = 10  # oversample's crops per image


def load_image(filename, color: bool = True) -> np.ndarray:
    """An image file as float32 in [0, 1]: H x W x 3 RGB, or H x W x 1 intensity when ``color`` is False."""
    import cv2

    if not os.path.isfile(filename):
        raise FileNotFoundError(f"No such file: '{filename}'")
    raw = cv2.imread(os.fspath(filename), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise FormatError(f"{filename}: not an image OpenCV can read")
    img = _as_float(raw)
    if img.ndim == 3:
        img = img[:, :, [2, 1, 0, 3][: img.shape[2]]] if img.shape[2] in (3, 4) else img
        if not color and img.shape[2] in (3, 4):
            img = _to_gray(img)
    if img.ndim == 2:
        img = img[:, :, np.newaxis]
        if color:
            img = np.tile(img, (1, 1, 3))
    elif img.shape[2] == 4:
        img = img[:, :, :3]
    return img.astype(np.float32)


def _as_float(raw: np.ndarray) -> np.ndarray:
    """scikit-image's ``img_as_float``: unsigned integers scaled by ``1 / max``, floats kept."""
    if np.issubdtype(raw.dtype, np.unsignedinteger):
        return np.multiply(raw, 1.0 / np.iinfo(raw.dtype).max, dtype=np.float64)
    return raw.astype(np.float64)


def _to_gray(rgb: np.ndarray) -> np.ndarray:
    """scikit-image's ``rgb2gray`` (an alpha channel blended over white first, as ``rgba2rgb``)."""
    if rgb.shape[2] == 4:
        alpha = rgb[:, :, 3:4]
        rgb = np.clip((1 - alpha) * 1.0 + alpha * rgb[:, :, :3], 0, 1)
    return rgb @ _GRAY


def oversample(images, crop_dims) -> np.ndarray:
    """The 4 corner crops, the centre crop and their mirrors of each H x W x K image: (10 N) x h x w x K."""
    im_shape = np.array(images[0].shape)
    crop_dims = np.array(crop_dims)
    crops_ix = _crop_boxes(im_shape[:2], crop_dims)
    crops = np.empty((CROPS * len(images), crop_dims[0], crop_dims[1], im_shape[-1]), dtype=np.float32)
    ix = 0
    for im in images:
        for top, left, bottom, right in crops_ix:
            crops[ix] = im[top:bottom, left:right, :]
            ix += 1
        crops[ix - 5:ix] = crops[ix - 5:ix, :, ::-1, :]  # the second five are mirrored
    return crops


def _crop_boxes(hw: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """(top, left, bottom, right) of the 10 crops: corners row by row, the centre (truncated), twice."""
    boxes = np.empty((5, 4), dtype=int)
    corners = [(i, j) for i in (0, hw[0] - crop[0]) for j in (0, hw[1] - crop[1])]
    for k, (i, j) in enumerate(corners):
        boxes[k] = (i, j, i + crop[0], j + crop[1])
    center = hw / 2.0
    boxes[4] = np.tile(center, (1, 2)) + np.concatenate([-crop / 2.0, crop / 2.0])
    return np.tile(boxes, (2, 1))


def center_crop(images: np.ndarray, image_dims, crop_dims) -> np.ndarray:
    """The center ``crop_dims`` window of each N x H x W x K image (pycaffe's arithmetic, truncated to int)."""
    crop_dims = np.asarray(crop_dims)
    center = np.array(image_dims) / 2.0
    box = np.tile(center, (1, 2))[0] + np.concatenate([-crop_dims / 2.0, crop_dims / 2.0])
    box = box.astype(int)
    return images[:, box[0]:box[2], box[1]:box[3], :]


def resized(inputs, image_dims) -> np.ndarray:
    """The images scaled to ``image_dims``, stacked as float32 N x H x W x K."""
    stacked = np.zeros((len(inputs), image_dims[0], image_dims[1], inputs[0].shape[2]), dtype=np.float32)
    for ix, image in enumerate(inputs):
        stacked[ix] = resize_image(image, image_dims)
    return stacked


def classifier_transformer(in_: str, shape, mean=None, input_scale=None, raw_scale=None,
                           channel_swap=None) -> Transformer:
    """The Transformer of the input ``in_`` with pycaffe's Classifier settings (HWC -> CHW first)."""
    transformer = Transformer({in_: shape})
    transformer.set_transpose(in_, (2, 0, 1))
    if mean is not None:
        transformer.set_mean(in_, mean)
    if input_scale is not None:
        transformer.set_input_scale(in_, input_scale)
    if raw_scale is not None:
        transformer.set_raw_scale(in_, raw_scale)
    if channel_swap is not None:
        transformer.set_channel_swap(in_, channel_swap)
    return transformer


def classifier_inputs(inputs, image_dims, crop_dims, transformer: Transformer, in_: str,
                      oversample_: bool) -> np.ndarray:
    """``Classifier.predict`` before its forward: (N or 10 N) x K x h x w float32 net inputs of the images."""
    scaled = resized(inputs, image_dims)
    crops = oversample(scaled, crop_dims) if oversample_ else center_crop(scaled, image_dims, crop_dims)
    caffe_in = np.zeros(np.array(crops.shape)[[0, 3, 1, 2]], dtype=np.float32)
    for ix, crop in enumerate(crops):
        caffe_in[ix] = transformer.preprocess(in_, crop)
    return caffe_in


def average_crops(predictions: np.ndarray, oversample_: bool) -> np.ndarray:
    """One row per image: the mean over each image's ten crops when oversampling, else as given."""
    if oversample_:
        return predictions.reshape((len(predictions) // CROPS, CROPS, -1)).mean(1)
    return predictions
