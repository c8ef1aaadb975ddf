"""Mean files (binaryproto) written by compute_image_mean, and BlobProtoVector."""
import re
from pathlib import Path

import numpy as np
import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.binaryproto import (channel_means, read_blob, read_blob_vector, read_mean, write_blob,
                                       write_blob_vector)
from tunewiz.errors import FormatError

DATA = Path(__file__).parent.parent / "fixtures" / "formats" / "data"
MEAN = DATA / "mean.binaryproto"


def test_mean_matches_caffe():
    blob = read_blob(MEAN)
    assert blob.legacy == (1, 3, 32, 32)  # compute_image_mean writes the legacy 4-D fields
    np.testing.assert_array_equal(blob.data, np.load(DATA / "mean.npy"))
    assert read_mean(MEAN).shape == (3, 32, 32)


def test_channel_means_match_the_log():
    logged = [float(v) for v in re.findall(r"mean_value channel \[\d\]: ([\d.]+)",
                                           (DATA / "compute_image_mean.mean_values.log").read_text())]
    ours = channel_means(read_blob(MEAN))
    assert [float(f"{m:.6g}") for m in ours] == logged  # Caffe logs 6 significant digits


def test_rewrite_is_byte_identical(tmp_path):
    write_blob(tmp_path / "m.binaryproto", read_blob(MEAN))
    assert (tmp_path / "m.binaryproto").read_bytes() == MEAN.read_bytes()


def test_array_written_like_compute_image_mean(tmp_path):
    mean = np.load(DATA / "mean.npy")
    write_blob(tmp_path / "m.binaryproto", mean[0])  # (3, 32, 32) -> legacy 1x3x32x32
    assert (tmp_path / "m.binaryproto").read_bytes() == MEAN.read_bytes()


def test_blob_vector_round_trip(tmp_path):
    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(4, np.float32)]
    path = tmp_path / "v.binaryproto"
    write_blob_vector(path, arrays)
    reference = caffe_pb2.BlobProtoVector.FromString(path.read_bytes())
    assert [list(b.shape.dim) for b in reference.blobs] == [[2, 3], [4]]
    blobs = read_blob_vector(path)
    for blob, array in zip(blobs, arrays):
        np.testing.assert_array_equal(blob.data, array)


def test_mean_with_several_images_is_refused(tmp_path):
    write_blob(tmp_path / "m.binaryproto", np.zeros((2, 3, 4, 4), np.float32))
    with pytest.raises(FormatError, match="num 1"):
        read_mean(tmp_path / "m.binaryproto")


REFERENCE = Path(__file__).parents[3] / "shared" / "caffe-reference"


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="needs ../shared/caffe-reference")
def test_every_reference_binaryproto(tmp_path):
    paths = sorted(REFERENCE.rglob("*.binaryproto"))
    assert paths
    for path in paths:
        blob = read_blob(path)
        assert blob.data.size and blob.legacy is not None
        write_blob(tmp_path / "m.binaryproto", blob)
        assert (tmp_path / "m.binaryproto").read_bytes() == path.read_bytes(), path
