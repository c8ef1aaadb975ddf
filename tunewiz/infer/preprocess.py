"""An image file -> the net's input, by one of Caffe's two conventions (numpy and OpenCV only).

``classification.cpp`` (the default; Caffe's ``examples/cpp_classification``)::

    img = cv::imread(file, -1)                        # IMREAD_UNCHANGED: 8/16-bit, 1/3/4 channels
    3->1 BGR2GRAY, 4->1 BGRA2GRAY, 4->3 BGRA2BGR, 1->3 GRAY2BGR  (cv::cvtColor)
    cv::resize(img, net H x W)  when the size differs  # INTER_LINEAR, no crop, on the 8-bit pixels
    x = float32(img) - mean[c]                        # mean[c]: cv::mean of channel c of the mean file
    x = x * input_scale                               # ours: Caffe's transform_param.scale, when given

``classify.py`` (Caffe's ``python/classify.py`` through ``caffe.Classifier``): ``caffe.io.load_image``
(float RGB in [0, 1]; gray for a 1-channel net), ``resize_image`` to ``images_dim``, the center crop of the
net's input size or ``oversample``'s ten crops, then the Transformer: HWC -> CHW, ``channel_swap`` (default
2,1,0 on a colour net), ``* raw_scale`` (default 255), ``- mean`` (the whole mean image, resized to the crop,
or the values), ``* input_scale``.  These numerics are pycaffe's own (:mod:`tunewiz.data.pycaffe_images`).
``images_dim`` defaults to the net's input size (``caffe.Classifier``'s default; ``classify.py``'s own
default is 256,256: give it for CaffeNet-style nets).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from tunewiz.errors import FormatError, TunewizError

CPP = "classification.cpp"
PY = "classify.py"
CONVENTIONS = (CPP, PY)
PY_RAW_SCALE = 255.0  # classify.py's --raw_scale default
PY_CHANNEL_SWAP = (2, 1, 0)  # classify.py's --channel_swap default: RGB -> BGR


class ImageError(TunewizError):
    """One image that cannot be read or made into the net's input (the message names the file)."""


@dataclass(frozen=True)
class Settings:
    """What the user chose: the convention, the mean (a file or values), the scales and crops."""

    convention: str = CPP
    mean_file: str | None = None
    mean_value: tuple[float, ...] = ()
    input_scale: float | None = None
    images_dim: tuple[int, int] | None = None  # classify.py only
    oversample: bool = False
    raw_scale: float | None = None
    channel_swap: tuple[int, ...] | None = None


def read_mean_file(path: str) -> np.ndarray:
    """A mean image C x H x W (float32): a ``.binaryproto`` (compute_image_mean's) or a ``.npy`` (classify.py's)."""
    from tunewiz.caffe.binaryproto import read_mean

    if not os.path.isfile(path):
        raise TunewizError(f"--mean {path}: no such file; give the mean.binaryproto the net was trained with, "
                           "or --mean-value B,G,R")
    if path.endswith(".npy"):
        try:
            mean = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise TunewizError(f"--mean {path}: not a .npy array ({exc})") from None
        mean = mean.reshape(mean.shape[-3:]) if mean.ndim == 4 and mean.shape[0] == 1 else mean
        if mean.ndim != 3:
            raise TunewizError(f"--mean {path}: a mean is C x H x W, this array is {mean.shape}")
        return mean.astype(np.float32)
    try:
        return np.asarray(read_mean(path), np.float32)
    except FormatError as exc:
        raise TunewizError(f"--mean {exc}") from None


class Preprocessor:
    """Makes the net input of one image file: ``crops`` x C x H x W float32 (``crops`` is 10 when
    oversampling, else 1).  ``input_shape``: the net input's (C, H, W)."""

    def __init__(self, settings: Settings, input_shape, input_name: str = "data"):
        self.settings = settings
        self.channels, self.height, self.width = (int(d) for d in input_shape)
        if settings.convention not in CONVENTIONS:
            raise TunewizError(f"--convention {settings.convention}: use {' or '.join(CONVENTIONS)}")
        if self.channels not in (1, 3):  # classification.cpp's CHECK, and load_image's two kinds
            raise TunewizError(f"the net's input '{input_name}' has {self.channels} channels; images make 1 "
                               "(gray) or 3 (BGR) (classification.cpp: Input layer should have 1 or 3 channels)")
        if settings.mean_file and settings.mean_value:
            raise TunewizError("give --mean or --mean-value, not both")
        self.crops = 10 if settings.oversample else 1
        self._mean_values = self._values() if settings.mean_value else None
        self._mean_image = read_mean_file(settings.mean_file) if settings.mean_file else None
        if self._mean_image is not None and self._mean_image.shape[0] != self.channels:
            raise TunewizError(f"--mean {settings.mean_file}: {self._mean_image.shape[0]} channels, the net's input "
                               f"has {self.channels} (classification.cpp: Number of channels of mean file doesn't "
                               "match input layer)")
        self._cpp_mean = self.cpp_mean()
        self._transformer = self._py_transformer(input_name) if settings.convention == PY else None
        self._input_name = input_name

    def _values(self) -> np.ndarray:
        """--mean-value: one value for every channel, or one per channel (Caffe's transform_param rule)."""
        values = self.settings.mean_value
        if len(values) not in (1, self.channels):
            raise TunewizError(f"--mean-value {','.join(f'{v:g}' for v in values)}: {len(values)} values for a "
                               f"{self.channels}-channel net; give {self.channels} "
                               f"({'B,G,R' if self.channels == 3 else 'one value'}) or one for every channel")
        return np.array(values * (self.channels // len(values)), np.float32)

    def cpp_mean(self) -> np.ndarray | None:
        """classification.cpp's mean: ``cv::mean`` of each channel of the mean file (double, stored as
        float in a constant image), or the values given."""
        if self._mean_image is not None:
            flat = self._mean_image.reshape(self.channels, -1).astype(np.float64)
            return flat.mean(axis=1).astype(np.float32)
        return self._mean_values

    def _py_transformer(self, input_name: str):
        from tunewiz.data.pycaffe_images import classifier_transformer

        s = self.settings
        dims = s.images_dim or (self.height, self.width)
        if dims[0] < self.height or dims[1] < self.width:
            raise TunewizError(f"--images-dim {dims[0]},{dims[1]} is smaller than the net's input "
                               f"{self.height}x{self.width}: the crop must fit in the resized image")
        swap = s.channel_swap if s.channel_swap is not None else (PY_CHANNEL_SWAP if self.channels == 3 else None)
        if swap is not None and sorted(swap) != list(range(self.channels)):
            raise TunewizError(f"--channel-swap {','.join(map(str, swap))}: give an order of the "
                               f"{self.channels} channels (e.g. 2,1,0)")
        mean = self._mean_image if self._mean_image is not None else self._mean_values
        raw = s.raw_scale if s.raw_scale is not None else PY_RAW_SCALE
        return classifier_transformer(input_name, (1, self.channels, self.height, self.width), mean,
                                      s.input_scale, raw, swap)

    def describe(self) -> str:
        """One line: what is done to each image."""
        s = self.settings
        mean = (f"mean of {s.mean_file}" if s.mean_file else
                f"mean values {','.join(f'{v:g}' for v in s.mean_value)}" if s.mean_value else "no mean")
        scale = f", input scale {s.input_scale:g}" if s.input_scale is not None else ""
        if s.convention == CPP:
            return (f"{CPP}: {'gray' if self.channels == 1 else 'BGR'} resized to {self.height}x{self.width}, "
                    f"{mean if not s.mean_file else 'per-channel ' + mean}{scale}")
        t = self._transformer
        dims = s.images_dim or (self.height, self.width)
        return (f"{PY}: resized to {dims[0]}x{dims[1]}, {'10 crops' if s.oversample else 'center crop'} "
                f"{self.height}x{self.width}, raw scale {t.raw_scale[self._input_name]:g}, channel swap "
                f"{t.channel_swap.get(self._input_name, 'none')}, {mean}{scale}")

    def __call__(self, path: str) -> np.ndarray:
        """The ``crops`` x C x H x W input of the image file ``path``; ImageError when it cannot be made."""
        if not os.path.isfile(path):
            what = "is a folder" if os.path.isdir(path) else "no such file"
            raise ImageError(f"{path}: {what}")
        if self.settings.convention == CPP:
            return cpp_input(read_image(path), path, self.channels, (self.height, self.width), self._cpp_mean,
                             self.settings.input_scale)[np.newaxis]
        return self._py_input(path)

    def _py_input(self, path: str) -> np.ndarray:
        from tunewiz.data.pycaffe_images import classifier_inputs, load_image

        try:
            image = load_image(path, color=self.channels == 3)
        except FormatError:
            raise ImageError(f"Unable to decode image {path} (not an image OpenCV can read)") from None
        if image.shape[2] != self.channels:
            raise ImageError(f"{path}: a {image.shape[2]}-channel image; the net takes {self.channels}")
        dims = self.settings.images_dim or (self.height, self.width)
        return classifier_inputs([image], dims, (self.height, self.width), self._transformer, self._input_name,
                                 self.settings.oversample)


def read_image(path: str) -> np.ndarray:
    """``cv::imread(file, -1)``: the file's own depth and channels; ImageError as classification.cpp says it."""
    import cv2

    image = cv2.imread(os.fspath(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageError(f"Unable to decode image {path} (not an image OpenCV can read)")
    return image


def _conversions() -> dict:
    import cv2

    return {(3, 1): cv2.COLOR_BGR2GRAY, (4, 1): cv2.COLOR_BGRA2GRAY, (4, 3): cv2.COLOR_BGRA2BGR,
            (1, 3): cv2.COLOR_GRAY2BGR}


def cpp_input(image: np.ndarray, path: str, channels: int, size, mean, input_scale) -> np.ndarray:
    """classification.cpp's ``Preprocess`` of a decoded image: C x H x W float32 (see the module docstring)."""
    import cv2

    have = 1 if image.ndim == 2 else image.shape[2]
    code = _conversions().get((have, channels))
    if code is not None:
        image = cv2.cvtColor(image, code)
    elif have != channels:
        raise ImageError(f"{path}: a {have}-channel image; the net takes {channels} (classification.cpp converts "
                         "1-, 3- and 4-channel images)")
    height, width = size
    if image.shape[:2] != (height, width):
        image = cv2.resize(image, (width, height))  # cv::resize's default: INTER_LINEAR
    sample = image.astype(np.float32).reshape(height, width, channels)
    if mean is not None:
        sample = sample - mean  # float32 - float32, as cv::subtract of the constant mean image
    sample = sample.transpose(2, 0, 1)
    if input_scale is not None:
        sample = sample * np.float32(input_scale)  # after the mean, as DataTransformer's (x - mean) * scale
    return np.ascontiguousarray(sample, np.float32)
