"""``transform_param`` exactly as Caffe's ``DataTransformer`` applies it.

Per image (C x H x W pixels, ``cs = crop_size``), in Caffe's order::

    do_mirror = mirror && Rand(2)                       # drawn first (TRAIN and TEST alike)
    if cs:  TRAIN: h_off = Rand(H - cs + 1); w_off = Rand(W - cs + 1)
            TEST:  h_off = (H - cs) / 2;     w_off = (W - cs) / 2
    top[c, h, do_mirror ? w' - 1 - w : w] =
        (pixel[c, h_off + h, w_off + w] - mean[c, h_off + h, w_off + w]) * scale    # mean_file
        (pixel[c, h_off + h, w_off + w] - mean_value[c]) * scale                   # mean_value
         pixel[c, h_off + h, w_off + w] * scale                                    # neither

``Rand(n) = rng() % n`` with a ``boost::mt19937`` generator (Caffe seeds it with a value drawn
from its global RNG; here the feed's ``seed``), computed in float32 like Caffe's ``Dtype``.
One ``mean_value`` is used for every channel.  Encoded records are decoded with
``IMREAD_COLOR`` when ``force_color``, ``IMREAD_GRAYSCALE`` when ``force_gray``, else as stored
(``IMREAD_UNCHANGED``).  ``mean_file`` and ``mean_value`` together are an error (as in Caffe).
"""
from __future__ import annotations

import os

import numpy as np

from tunewiz.errors import TunewizError


class TransformError(TunewizError):
    """transform_param does not fit the data."""


def mt19937(seed: int | None) -> np.random.MT19937:
    """``boost::mt19937(seed)`` (Knuth's init_genrand): a random seed when None or negative."""
    if seed is None or seed < 0:
        seed = int.from_bytes(os.urandom(4), "little")
    legacy = np.random.RandomState(seed % (1 << 32))
    _, key, pos = legacy.get_state()[:3]
    bitgen = np.random.MT19937()
    bitgen.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": pos}}
    return bitgen


def rng_state(bitgen: np.random.MT19937) -> dict:
    """JSON-able state of the generator."""
    state = bitgen.state["state"]
    return {"key": [int(k) for k in state["key"]], "pos": int(state["pos"])}


def set_rng_state(bitgen: np.random.MT19937, state: dict) -> None:
    bitgen.state = {"bit_generator": "MT19937",
                    "state": {"key": np.asarray(state["key"], np.uint32), "pos": int(state["pos"])}}


class Transformer:
    """One layer's DataTransformer: ``draws()`` per image in order, then ``apply`` (any process)."""

    def __init__(self, param, phase: int, *, seed: int | None = None, root: str | None = None, where: str = ""):
        self.where = where
        self.train = phase == 0
        self.scale = np.float32(param.scale)
        self.mirror = bool(param.mirror)
        self.crop_size = int(param.crop_size)
        self.force_color, self.force_gray = bool(param.force_color), bool(param.force_gray)
        if self.force_color and self.force_gray:
            raise TransformError(f"{where}: transform_param sets both force_color and force_gray; keep one "
                                 "(Caffe: cannot set both force_color and force_gray).")
        if param.HasField("mean_file") and len(param.mean_value):
            raise TransformError(f"{where}: transform_param has both mean_file and mean_value; "
                                 "Caffe allows only one of them (Cannot specify mean_file and mean_value at the same time).")
        self.mean = self._load_mean(param.mean_file, root) if param.HasField("mean_file") else None
        self.mean_values = np.asarray(param.mean_value, np.float32) if len(param.mean_value) else None
        self.bitgen = mt19937(seed)

    def _load_mean(self, mean_file: str, root: str | None) -> np.ndarray:
        from tunewiz.caffe.binaryproto import read_mean

        path = mean_file if os.path.isabs(mean_file) or not root else os.path.join(root, mean_file)
        if not os.path.exists(path):
            raise TransformError(f"{self.where}: mean_file {mean_file!r} not found (looked for {path}); "
                                 "paths are relative to the folder you run from, as in Caffe.")
        return np.ascontiguousarray(read_mean(path), np.float32)

    @property
    def decode_mode(self) -> str:
        """How encoded records are decoded: ``color``, ``gray`` or ``native``."""
        return "color" if self.force_color else "gray" if self.force_gray else "native"

    def output_shape(self, shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """``InferBlobShape``: (C, crop, crop) with crop_size, else the image's (C, H, W)."""
        c, h, w = shape
        if self.crop_size:
            if h < self.crop_size or w < self.crop_size:
                raise TransformError(f"{self.where}: crop_size {self.crop_size} is larger than the "
                                     f"{h}x{w} images; use a smaller crop_size or larger images.")
            return c, self.crop_size, self.crop_size
        return c, h, w

    def draws(self) -> tuple[int, int, int]:
        """The random numbers Caffe draws for one image: (mirror, h, w); -1 where none is drawn."""
        need_crop = self.train and self.crop_size
        n = int(self.mirror) + 2 * int(bool(need_crop))
        raw = [int(v) for v in self.bitgen.random_raw(n)] if n else []
        r_mirror = raw.pop(0) if self.mirror else -1
        return (r_mirror, raw[0], raw[1]) if need_crop else (r_mirror, -1, -1)

    def check(self, shape, out_shape, record: str) -> None:
        """Caffe's CHECKs for one image of ``shape`` going into ``out_shape``."""
        c, h, w = shape
        if c != out_shape[0] or (not self.crop_size and (h, w) != tuple(out_shape[1:])):
            raise TransformError(f"{self.where}: record {record} is {c}x{h}x{w} but the batch is "
                                 f"{'x'.join(map(str, out_shape))} (set by the first record); all images must "
                                 "have the same channels and size (resize them, or use crop_size).")
        if self.crop_size and (h < self.crop_size or w < self.crop_size):
            raise TransformError(f"{self.where}: record {record} is {h}x{w}, smaller than crop_size {self.crop_size}.")
        if self.mean is not None and self.mean.shape != tuple(shape):
            raise TransformError(f"{self.where}: the mean_file is {'x'.join(map(str, self.mean.shape))} but record "
                                 f"{record} is {c}x{h}x{w}; compute the mean of this database "
                                 "(tunewiz compute-image-mean) or use mean_value.")
        if self.mean_values is not None and len(self.mean_values) not in (1, c):
            raise TransformError(f"{self.where}: Specify either 1 mean_value or as many as channels: {c} "
                                 f"(got {len(self.mean_values)}).")

    def apply(self, img: np.ndarray, draws: tuple[int, int, int], out: np.ndarray) -> None:
        """Write the transformed ``img`` (C x H x W, uint8 or float) into ``out`` (float32)."""
        _, h, w = img.shape
        cs = self.crop_size
        h_off = w_off = 0
        if cs:
            if self.train:
                h_off, w_off = draws[1] % (h - cs + 1), draws[2] % (w - cs + 1)
            else:
                h_off, w_off = (h - cs) // 2, (w - cs) // 2
            img = img[:, h_off:h_off + cs, w_off:w_off + cs]
        do_mirror = self.mirror and draws[0] % 2 == 1
        dst = out[:, :, ::-1] if do_mirror else out  # top[c, h, width - 1 - w] = f(pixel[c, h, w])
        if self.mean is not None:
            mean = self.mean[:, h_off:h_off + out.shape[1], w_off:w_off + out.shape[2]]
            np.subtract(img, mean, out=dst, dtype=np.float32)
        elif self.mean_values is not None:
            values = self.mean_values[:, None, None] if len(self.mean_values) > 1 else self.mean_values[0]
            np.subtract(img, values, out=dst, dtype=np.float32)
        else:
            np.copyto(dst, img, casting="unsafe")
        if self.scale != 1:
            out *= self.scale
