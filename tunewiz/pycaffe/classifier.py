"""pycaffe's ``caffe.Classifier``: a :class:`~tunewiz.pycaffe.net.Net` that classifies images.

The same arguments, preprocessing and results as BVLC pycaffe's ``python/caffe/classifier.py``
(checked against it in ``tests/pycaffe/test_classifier.py``): each image is resized to
``image_dims``, then either ten crops of the net's input size (the four corners and the center,
and their mirrors) are classified and their probabilities averaged (``oversample=True``), or the
center crop alone is; the crops go through a :class:`~tunewiz.pycaffe.transformer.Transformer`
(HWC -> CHW, channel swap, raw scale, mean, input scale) and one ``forward_all``.
"""
from __future__ import annotations

import numpy as np

from tunewiz.pycaffe import io
from tunewiz.pycaffe.mode import TEST
from tunewiz.pycaffe.net import Net

__all__ = ["Classifier"]


class Classifier(Net):
    """A TEST-phase net for class prediction by scaling, center cropping, or oversampling.

    ``image_dims``: the size images are scaled to before cropping (default: the net's input size,
    so the crop is the whole image); ``mean``, ``input_scale``, ``raw_scale``, ``channel_swap``:
    the :class:`~tunewiz.pycaffe.transformer.Transformer` settings of the net's first input.
    """

    def __init__(self, model_file, pretrained_file, image_dims=None, mean=None, input_scale=None,
                 raw_scale=None, channel_swap=None):
        super().__init__(model_file, TEST, weights=pretrained_file)
        in_ = self.inputs[0]
        self.transformer = _transformer(in_, self.blobs[in_].data.shape, mean, input_scale, raw_scale,
                                        channel_swap)
        self.crop_dims = np.array(self.blobs[in_].data.shape[2:])
        # pycaffe's `if not image_dims`: None or an empty sequence means the net's input size
        self.image_dims = image_dims if image_dims is not None and len(image_dims) else self.crop_dims

    def predict(self, inputs, oversample: bool = True) -> np.ndarray:
        """(N x C) class probabilities of N (H x W x K) images, averaged over ten crops when oversampling."""
        resized = self._resized(inputs)
        crops = io.oversample(resized, self.crop_dims) if oversample else self._center_crop(resized)
        in_ = self.inputs[0]
        caffe_in = np.zeros(np.array(crops.shape)[[0, 3, 1, 2]], dtype=np.float32)
        for ix, crop in enumerate(crops):
            caffe_in[ix] = self.transformer.preprocess(in_, crop)
        predictions = self.forward_all(**{in_: caffe_in})[self.outputs[0]]
        if oversample:
            predictions = predictions.reshape((len(predictions) // 10, 10, -1)).mean(1)
        return predictions

    def _resized(self, inputs) -> np.ndarray:
        """The images scaled to ``image_dims``, stacked as float32 N x H x W x K."""
        stacked = np.zeros((len(inputs), self.image_dims[0], self.image_dims[1], inputs[0].shape[2]),
                           dtype=np.float32)
        for ix, image in enumerate(inputs):
            stacked[ix] = io.resize_image(image, self.image_dims)
        return stacked

    def _center_crop(self, images: np.ndarray) -> np.ndarray:
        """The center ``crop_dims`` window of each image (pycaffe's arithmetic, truncated to int)."""
        center = np.array(self.image_dims) / 2.0
        box = np.tile(center, (1, 2))[0] + np.concatenate([-self.crop_dims / 2.0, self.crop_dims / 2.0])
        box = box.astype(int)
        return images[:, box[0]:box[2], box[1]:box[3], :]


def _transformer(in_: str, shape, mean, input_scale, raw_scale, channel_swap) -> io.Transformer:
    """The Transformer of the input ``in_`` with pycaffe's Classifier settings (HWC -> CHW first)."""
    transformer = io.Transformer({in_: shape})
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
