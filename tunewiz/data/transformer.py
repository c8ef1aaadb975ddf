"""pycaffe's ``caffe.io.Transformer``: an H x W x K image -> a net input (K x H x W) and back.

``preprocess`` does, in pycaffe's order: float32, resize to the input's H x W (``resize_image``),
transpose, channel swap, ``* raw_scale``, ``- mean``, ``* input_scale``; ``deprocess`` undoes them in
reverse order.  ``inputs`` maps each input name to its blob shape (N, K, H, W), e.g.
``{'data': net.blobs['data'].data.shape}``.
"""
from __future__ import annotations

import numpy as np

from tunewiz.data.resample import resize_image


class Transformer:
    """Per-input preprocessing settings (transpose, channel swap, raw scale, mean, input scale)."""

    def __init__(self, inputs):
        self.inputs = inputs
        self.transpose = {}
        self.channel_swap = {}
        self.raw_scale = {}
        self.mean = {}
        self.input_scale = {}

    def _check_input(self, in_):
        if in_ not in self.inputs:
            raise ValueError(f"{in_} is not one of the net inputs: {self.inputs}")

    def _dims(self, in_) -> tuple:
        return tuple(self.inputs[in_])

    def preprocess(self, in_, data) -> np.ndarray:
        """``data`` (H' x W' x K) as a K x H x W float32 input of ``in_`` (a new array)."""
        self._check_input(in_)
        caffe_in = np.array(data, dtype=np.float32)
        in_dims = self._dims(in_)[2:]
        if caffe_in.shape[:2] != in_dims:
            caffe_in = resize_image(caffe_in, in_dims)
        if self.transpose.get(in_) is not None:
            caffe_in = caffe_in.transpose(self.transpose[in_])
        if self.channel_swap.get(in_) is not None:
            caffe_in = caffe_in[self.channel_swap[in_], :, :]
        if self.raw_scale.get(in_) is not None:
            caffe_in *= self.raw_scale[in_]
        if self.mean.get(in_) is not None:
            caffe_in -= self.mean[in_]
        if self.input_scale.get(in_) is not None:
            caffe_in *= self.input_scale[in_]
        return caffe_in

    def deprocess(self, in_, data) -> np.ndarray:
        """Undo ``preprocess`` (but not its resize): a K x H x W input back to H x W x K."""
        self._check_input(in_)
        decaf_in = np.array(data, copy=True).squeeze()
        if self.input_scale.get(in_) is not None:
            decaf_in /= self.input_scale[in_]
        if self.mean.get(in_) is not None:
            decaf_in += self.mean[in_]
        if self.raw_scale.get(in_) is not None:
            decaf_in /= self.raw_scale[in_]
        if self.channel_swap.get(in_) is not None:
            decaf_in = decaf_in[np.argsort(self.channel_swap[in_]), :, :]
        if self.transpose.get(in_) is not None:
            decaf_in = decaf_in.transpose(np.argsort(self.transpose[in_]))
        return decaf_in

    def set_transpose(self, in_, order):
        """The order of dimensions, e.g. (2, 0, 1) turns H x W x K into K x H x W."""
        self._check_input(in_)
        if len(order) != len(self.inputs[in_]) - 1:
            raise ValueError("Transpose order needs to have the same number of dimensions as the input.")
        self.transpose[in_] = order

    def set_channel_swap(self, in_, order):
        """The channel order after the transpose, e.g. (2, 1, 0) for RGB -> BGR."""
        self._check_input(in_)
        if len(order) != self.inputs[in_][1]:
            raise ValueError("Channel swap needs to have the same number of dimensions as the input channels.")
        self.channel_swap[in_] = order

    def set_raw_scale(self, in_, scale):
        """The factor from [0, 1] images to the net's range (255 for CaffeNet), applied before the mean."""
        self._check_input(in_)
        self.raw_scale[in_] = scale

    def set_mean(self, in_, mean):
        """The mean to subtract: one value per channel (K,), or K x H x W / H x W (resized to the input)."""
        self._check_input(in_)
        mean = np.asarray(mean)
        if mean.ndim == 1:
            if mean.shape[0] != self.inputs[in_][1]:
                raise ValueError("Mean channels incompatible with input.")
            mean = mean[:, np.newaxis, np.newaxis]
        else:
            ms = (1,) + mean.shape if mean.ndim == 2 else mean.shape
            if len(ms) != 3:
                raise ValueError("Mean shape invalid")
            in_shape = self._dims(in_)[1:]
            if ms != in_shape:
                # pycaffe resizes a mean of another size, through [0, 1] like resize_image
                m_min, m_max = mean.min(), mean.max()
                normal_mean = ((mean - m_min) / (m_max - m_min)).reshape(ms)
                resized = resize_image(normal_mean.transpose((1, 2, 0)), in_shape[1:]).transpose((2, 0, 1))
                # float32, as NumPy 1's scalar casting left pycaffe's result
                mean = resized * np.float32(m_max - m_min) + np.float32(m_min)
        self.mean[in_] = mean

    def set_input_scale(self, in_, scale):
        """The factor applied last, after the mean is subtracted."""
        self._check_input(in_)
        self.input_scale[in_] = scale
