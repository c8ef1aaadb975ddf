"""pycaffe's ``caffe.Classifier``: a :class:`~tunewiz.pycaffe.net.Net` that classifies images.

The same arguments, preprocessing and results as BVLC pycaffe's ``python/caffe/classifier.py``
(checked against it in ``tests/pycaffe/test_classifier.py``): each image is resized to
``image_dims``, then either ten crops of the net's input size (the four corners and the center,
and their mirrors) are classified and their probabilities averaged (``oversample=True``), or the
center crop alone is; the crops go through a :class:`~tunewiz.data.transformer.Transformer`
(HWC -> CHW, channel swap, raw scale, mean, input scale) and one ``forward_all``.  The numerics up to
the forward are :func:`tunewiz.data.pycaffe_images.classifier_inputs` (``tunewiz classify`` uses them too).
"""
from __future__ import annotations

import numpy as np

from tunewiz.data.pycaffe_images import average_crops, classifier_inputs, classifier_transformer
from tunewiz.pycaffe.mode import TEST
from tunewiz.pycaffe.net import Net

__all__ = ["Classifier"]


class Classifier(Net):
    """A TEST-phase net for class prediction by scaling, center cropping, or oversampling.

    ``image_dims``: the size images are scaled to before cropping (default: the net's input size,
    so the crop is the whole image); ``mean``, ``input_scale``, ``raw_scale``, ``channel_swap``:
    the :class:`~tunewiz.data.transformer.Transformer` settings of the net's first input.
    """

    def __init__(self, model_file, pretrained_file, image_dims=None, mean=None, input_scale=None,
                 raw_scale=None, channel_swap=None):
        super().__init__(model_file, TEST, weights=pretrained_file)
        in_ = self.inputs[0]
        self.transformer = classifier_transformer(in_, self.blobs[in_].data.shape, mean, input_scale, raw_scale,
                                                  channel_swap)
        self.crop_dims = np.array(self.blobs[in_].data.shape[2:])
        # pycaffe's `if not image_dims`: None or an empty sequence means the net's input size
        self.image_dims = image_dims if image_dims is not None and len(image_dims) else self.crop_dims

    def predict(self, inputs, oversample: bool = True) -> np.ndarray:
        """(N x C) class probabilities of N (H x W x K) images, averaged over ten crops when oversampling."""
        in_ = self.inputs[0]
        caffe_in = classifier_inputs(inputs, self.image_dims, self.crop_dims, self.transformer, in_, oversample)
        predictions = self.forward_all(**{in_: caffe_in})[self.outputs[0]]
        return average_crops(predictions, oversample)
