"""The mean image of a database, like Caffe's ``compute_image_mean``.

For every record (encoded ones decoded with ``DecodeDatumNative`` = ``IMREAD_UNCHANGED``)::

    sum[i] += data[i]            # float32, record by record, in key order
    mean[i] = sum[i] / count     # float32
    mean_value[c] = (sum over the H*W pixels of channel c of mean, float32, in order) / (H*W)

The BlobProto has the legacy 4-D fields ``num=1, channels, height, width`` (no ``shape``) and the
float ``data`` (packed).  Every record must have the first record's size (Caffe: "Incorrect data
field size").
"""
from __future__ import annotations

import numpy as np

from tunewiz.data.datum import DatumError, datum_array, parse_datum
from tunewiz.data.db import DBReader
from tunewiz.errors import TunewizError


class MeanError(TunewizError):
    """The database's mean cannot be computed."""


def compute_mean(path: str, backend: str | None = None, stop=None) -> tuple[np.ndarray, int, bool]:
    """(mean C x H x W float32, number of records, whether records were decoded)."""
    with DBReader(path, backend) as reader:
        total = None
        count = 0
        decoded = False
        for key, value in reader:
            if stop is not None and stop.is_set():
                raise MeanError("compute-image-mean stopped.")
            try:
                datum = parse_datum(value, key)
            except DatumError as exc:
                raise DatumError(f"{path}: {exc}") from None
            decoded = decoded or datum.encoded
            try:
                arr = datum_array(datum, "native")
            except ValueError as exc:
                raise MeanError(f"{path}: record {key.decode('utf-8', 'replace')!r}: {exc}.") from None
            if total is None:
                total = np.zeros(arr.shape, np.float32)
            elif arr.shape != total.shape:
                raise MeanError(
                    f"{path}: record {key.decode('utf-8', 'replace')!r} is {'x'.join(map(str, arr.shape))} but the "
                    f"first record is {'x'.join(map(str, total.shape))} (Caffe: Incorrect data field size); a mean "
                    "needs images of one size: convert with --resize_width/--resize_height.")
            total += arr
            count += 1
    if total is None:
        raise MeanError(f"{path}: the database is empty.")
    return total / np.float32(count), count, decoded


def channel_mean_values(mean: np.ndarray) -> list[float]:
    """Caffe's log values: float32 running sum over each channel's pixels, then / (H*W)."""
    c = mean.shape[0]
    flat = mean.reshape(c, -1)
    dim = np.float32(flat.shape[1])
    return [float(np.cumsum(flat[i], dtype=np.float32)[-1] / dim) for i in range(c)]


def mean_blob(mean: np.ndarray):
    """The BlobProto compute_image_mean writes: num=1, channels, height, width, data."""
    from tunewiz.caffe import caffe_pb2

    blob = caffe_pb2.BlobProto()
    blob.num = 1
    blob.channels, blob.height, blob.width = (int(d) for d in mean.shape)
    blob.data.extend(mean.astype(np.float32).ravel().tolist())
    return blob


def write_mean(mean: np.ndarray, output: str) -> None:
    """``WriteProtoToBinaryFile(sum_blob, output)``."""
    data = mean_blob(mean).SerializeToString()
    try:
        with open(output, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise MeanError(f"{output}: cannot write the mean ({exc}).") from None


def format_g6(value: float) -> str:
    """glog's ``<<`` of a float: 6 significant digits (``%g``)."""
    return f"{value:g}"
