"""Caffe ``Datum`` records: images <-> Datum, exactly as Caffe's ``io.cpp`` does it.

* ``ReadImageToCVMat``: ``cv::imread(file, is_color ? IMREAD_COLOR : IMREAD_GRAYSCALE)``, then
  ``cv::resize(img, Size(width, height))`` (bilinear) when both sizes are > 0.
* ``CVMatToDatum``: channels/height/width set, ``data`` = uint8 pixels in C x H x W order (BGR),
  ``encoded = false``, label set by the caller.
* ``ReadImageToDatum`` with an encoding: the original file bytes when nothing changed (no resize,
  extension matches), otherwise ``cv::imencode("." + encoding)`` of the decoded image;
  ``encoded = true`` and channels/height/width left unset.
* ``DecodeDatumToCVMatNative``: ``cv::imdecode(data, IMREAD_UNCHANGED)``;
  ``DecodeDatumToCVMat(datum, is_color)``: ``IMREAD_COLOR`` / ``IMREAD_GRAYSCALE``.
"""
from __future__ import annotations

import os

import numpy as np

from tunewiz.caffe import caffe_pb2
from tunewiz.errors import FormatError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".pbm", ".tif", ".tiff", ".webp")


def _cv2():
    import cv2

    return cv2


def read_image(filename: str, height: int = 0, width: int = 0, is_color: bool = True):
    """``ReadImageToCVMat``: HxWxC (or HxW) uint8 array, or None when unreadable."""
    if not os.path.isfile(filename):
        return None  # also keeps OpenCV's own "can't open/read file" warning off the terminal
    cv2 = _cv2()
    img = cv2.imread(filename, cv2.IMREAD_COLOR if is_color else cv2.IMREAD_GRAYSCALE)
    if img is None:
        return None
    if height > 0 and width > 0:
        img = cv2.resize(img, (width, height))
    return img


def hwc_to_chw(img: np.ndarray) -> np.ndarray:
    """OpenCV's interleaved H x W x C (or H x W) -> Caffe's C x H x W, contiguous."""
    if img.ndim == 2:
        return img[None, :, :]
    return np.ascontiguousarray(img.transpose(2, 0, 1))


def raw_datum(img: np.ndarray, label: int) -> caffe_pb2.Datum:
    """``CVMatToDatum`` + ``set_label``: fields set in Caffe's order, ``encoded=false`` explicit."""
    chw = hwc_to_chw(img)
    if chw.dtype != np.uint8:
        raise ValueError("Image data type must be unsigned byte")
    datum = caffe_pb2.Datum()
    datum.channels, datum.height, datum.width = chw.shape
    datum.data = chw.tobytes()
    datum.label = label
    datum.encoded = False
    return datum


def _varint(value: int) -> bytes:
    """Protobuf base-128 varint; negative int32 values take 10 bytes (two's complement, 64 bits)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def raw_datum_bytes(img: np.ndarray, label: int) -> tuple[bytes, int]:
    """``raw_datum(img, label).SerializeToString()`` in one copy (fields 1,2,3,4,5,7 in order).

    Returns the bytes and ``channels*height*width``.
    """
    if img.dtype != np.uint8:
        raise ValueError("Image data type must be unsigned byte")
    h, w = img.shape[:2]
    c = 1 if img.ndim == 2 else img.shape[2]
    planes = [img] if c == 1 else _cv2().split(img)
    n = c * h * w
    head = b"".join((b"\x08", _varint(c), b"\x10", _varint(h), b"\x18", _varint(w), b"\x22", _varint(n)))
    return b"".join((head, *planes, b"\x28", _varint(label), b"\x38\x00")), n


def encoded_datum(data: bytes, label: int) -> caffe_pb2.Datum:
    """``ReadFileToDatum`` / the ``imencode`` branch: data, label, ``encoded=true`` only."""
    datum = caffe_pb2.Datum()
    datum.data = data
    datum.label = label
    datum.encoded = True
    return datum


def match_ext(filename: str, encoding: str) -> bool:
    """Caffe's ``matchExt``: the file's extension equals the encoding (``jpg`` also matches ``jpeg``)."""
    dot = filename.rfind(".")
    ext = filename[dot + 1:] if dot >= 0 else filename
    ext, enc = ext.lower(), encoding.lower()
    return ext == enc or (enc == "jpg" and ext == "jpeg")


def guess_encoding(filename: str) -> str:
    """convert_imageset's guess when ``--encoded`` has no ``--encode_type``: the lower-case extension."""
    dot = filename.rfind(".")
    return filename[dot + 1:].lower() if dot >= 0 else filename.lower()


def image_to_datum(filename: str, label: int, height: int = 0, width: int = 0,
                   is_color: bool = True, encoding: str = "") -> caffe_pb2.Datum | None:
    """``ReadImageToDatum``: None when the image cannot be read (Caffe skips it)."""
    img = read_image(filename, height, width, is_color)
    if img is None:
        return None
    if encoding:
        channels = 1 if img.ndim == 2 else img.shape[2]
        if (channels == 3) == is_color and not height and not width and match_ext(filename, encoding):
            with open(filename, "rb") as f:
                return encoded_datum(f.read(), label)
        try:
            ok, buf = _cv2().imencode("." + encoding, img)
        except Exception:  # cv2.error: no encoder for this extension
            ok = False
        if not ok:
            raise ValueError(f"OpenCV cannot encode images as {encoding!r}")
        return encoded_datum(buf.tobytes(), label)
    return raw_datum(img, label)


def decode_bytes(data: bytes, mode: str = "native") -> np.ndarray | None:
    """``cv::imdecode``: mode ``native`` (IMREAD_UNCHANGED), ``color`` or ``gray``; C x H x W uint8."""
    cv2 = _cv2()
    flag = {"native": cv2.IMREAD_UNCHANGED, "color": cv2.IMREAD_COLOR, "gray": cv2.IMREAD_GRAYSCALE}[mode]
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if img is None:
        return None
    return hwc_to_chw(img)


def datum_array(datum: caffe_pb2.Datum, mode: str = "native") -> np.ndarray:
    """The datum's pixels as C x H x W: uint8 (``data``), float32 (``float_data``) or decoded.

    Raises ValueError when an encoded datum cannot be decoded or the sizes do not add up.
    """
    if datum.encoded:
        arr = decode_bytes(datum.data, mode)
        if arr is None:
            raise ValueError("Could not decode datum")
        return arr
    shape = (datum.channels, datum.height, datum.width)
    count = shape[0] * shape[1] * shape[2]
    if datum.data:
        if len(datum.data) != count:
            raise ValueError(f"data holds {len(datum.data)} bytes, channels*height*width = {count}")
        return np.frombuffer(datum.data, np.uint8).reshape(shape)
    if len(datum.float_data) != count:
        raise ValueError(f"float_data holds {len(datum.float_data)} values, channels*height*width = {count}")
    return np.asarray(datum.float_data, np.float32).reshape(shape)


class DatumError(FormatError, ValueError):
    """A database value is not a serialized Datum."""


def parse_datum(value: bytes, key: bytes | str | None = None) -> caffe_pb2.Datum:
    """A serialized Datum (a database value) -> Datum; DatumError (naming ``key``) when it is not one."""
    datum = caffe_pb2.Datum()
    try:
        datum.ParseFromString(value)
    except Exception as exc:  # protobuf's DecodeError
        name = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
        where = f"record {name!r}" if name is not None else "a record"
        raise DatumError(f"{where} is not a Caffe Datum ({exc}); is this a database of images made by "
                         "convert_imageset / convert-imageset?") from None
    return datum
