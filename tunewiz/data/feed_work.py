"""The per-image work of a feed (runs in worker processes or inline): load, check, transform.

``work(task)`` loads one record (Datum from a database, or an image file of a list), checks it
against the batch shape and writes the transformed image into the shared batch buffer
``bufs[buf, slot]``; it returns the label.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from tunewiz.errors import TunewizError

CTX = None  # set in worker processes by the pool's initializer
SHM = None  # the shared memory behind CTX.bufs (kept open while the worker lives)


@dataclass
class Ctx:
    load_config: tuple
    transformer: object
    bufs: np.ndarray
    item_shape: tuple
    where: str


def _name(name) -> str:
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)


def load_record(payload: bytes, config: tuple, name, where: str):
    """A database value -> (C x H x W pixels, label); encoded records decoded (``config[1]`` mode)."""
    from tunewiz.data.datum import datum_array, parse_datum

    try:
        datum = parse_datum(payload, name)
        return datum_array(datum, config[1]), float(datum.label)
    except TunewizError as exc:
        raise TunewizError(f"{where}: {exc}") from None
    except Exception as exc:
        raise TunewizError(f"{where}: record {_name(name)!r} is not a readable Datum ({exc}).") from None


def load_list(payload, config: tuple, name, where: str):
    """An ImageData line -> (C x H x W pixels, label): ``ReadImageToCVMat(root_folder + path, ...)``."""
    from tunewiz.data.datum import hwc_to_chw, read_image

    path, label = payload
    _, folder, new_height, new_width, is_color, root_folder_set = config
    if os.path.isabs(path) and not root_folder_set:
        filename = path  # Caffe: "" + path
    else:
        filename = folder + path if folder.endswith(("/", "\\")) or not folder else f"{folder}/{path}"
    img = read_image(filename, new_height, new_width, is_color)
    if img is None:
        raise TunewizError(f"{where}: Could not load {path} (looked for {filename}); fix the list or the "
                           "root_folder.")
    return hwc_to_chw(img), float(label)


def work(task, ctx: Ctx | None = None) -> float:
    """Load, check and transform one image into ``bufs[buf, slot]``; return its label."""
    ctx = ctx or CTX
    buf, slot, name, payload, draws = task
    loader = load_record if ctx.load_config[0] == "db" else load_list
    img, label = loader(payload, ctx.load_config, name, ctx.where)
    ctx.transformer.check(img.shape, ctx.item_shape, repr(_name(name)))
    ctx.transformer.apply(img, draws, ctx.bufs[buf, slot])
    return label
