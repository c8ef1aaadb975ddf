"""BlobProto <-> numpy: packed and non-packed values, double_data, legacy dims (checked against protobuf)."""
import struct

import numpy as np
import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.blobs import Blob, conform, decode_blob, encode_blob, from_message, shape_equals, to_message
from tunewiz.caffe.wire import Source, Truncated, encode_key, encode_varint


def _decode(data: bytes) -> Blob:
    return decode_blob(Source.of_bytes(data), 0, len(data))


def _unpacked(number: int, values, fmt: str) -> bytes:
    wire = 5 if fmt == "<f" else 1
    return b"".join(encode_key(number, wire) + struct.pack(fmt, v) for v in values)


def _packed(number: int, values, fmt: str) -> bytes:
    payload = b"".join(struct.pack(fmt, v) for v in values)
    return encode_key(number, 2) + encode_varint(len(payload)) + payload


def test_encoding_is_protobufs_own_serialization():
    rng = np.random.default_rng(1)
    messages = [
        caffe_pb2.BlobProto(shape=caffe_pb2.BlobShape(dim=[2, 3]), data=rng.standard_normal(6).astype(np.float32)),
        caffe_pb2.BlobProto(num=1, channels=1, height=1, width=5, data=[1, 2, 3, 4, 5]),
        caffe_pb2.BlobProto(shape=caffe_pb2.BlobShape(dim=[4]), double_data=[0.1, 0.2, 0.3, 1e300],
                            double_diff=[1, 2, 3, 4]),
        caffe_pb2.BlobProto(shape=caffe_pb2.BlobShape(dim=[3]), data=[1, 2, 3], diff=[-1, -2, -3]),
        caffe_pb2.BlobProto(shape=caffe_pb2.BlobShape(dim=[0])),
    ]
    for message in messages:
        blob = from_message(message)
        assert encode_blob(blob).tobytes() == message.SerializeToString()
        assert to_message(blob) == message


def test_float_values_and_shape():
    values = np.arange(24, dtype=np.float32) / 7
    message = caffe_pb2.BlobProto(shape=caffe_pb2.BlobShape(dim=[2, 3, 4]), data=values)
    blob = from_message(message)
    assert blob.data.dtype == np.float32 and blob.data.shape == (2, 3, 4)
    np.testing.assert_array_equal(blob.data.ravel(), values)
    assert blob.legacy is None and blob.diff is None


def test_double_data_reads_as_float64():
    values = [1 / 3, 2 / 3, 1e-300, 12345.678901234567]
    blob = from_message(caffe_pb2.BlobProto(shape=caffe_pb2.BlobShape(dim=[2, 2]), double_data=values))
    assert blob.data.dtype == np.float64
    assert blob.data.ravel().tolist() == values  # no precision lost


def test_non_packed_values_decode_like_protobuf():
    """Caffe's schema packs, but an unpacked (or mixed) encoding is legal and must read the same."""
    floats = [0.5, -1.25, 3.0, 1e-8, 7.0, -0.0]
    body = (encode_key(7, 2) + encode_varint(2) + bytes([8, 6])  # shape { dim: 6 }
            + _unpacked(5, floats[:2], "<f") + _packed(5, floats[2:4], "<f") + _unpacked(5, floats[4:], "<f")
            + _unpacked(6, [1, 2, 3, 4, 5, 6], "<f"))
    reference = caffe_pb2.BlobProto.FromString(body)
    blob = _decode(body)
    assert blob.data.tolist() == list(reference.data)
    assert blob.diff.tolist() == list(reference.diff)
    assert blob.data.shape == (6,)
    assert to_message(blob) == reference  # re-written packed, parses equal


def test_non_packed_double_data():
    doubles = [1 / 3, -2.5, 1e200]
    body = _unpacked(8, doubles, "<d") + encode_key(1, 0) + b"\x03"  # num: 3 (legacy)
    reference = caffe_pb2.BlobProto.FromString(body)
    blob = _decode(body)
    assert blob.data.dtype == np.float64
    assert blob.data.ravel().tolist() == list(reference.double_data)


def test_long_non_packed_run():
    values = np.random.default_rng(2).standard_normal(3000).astype(np.float32)
    body = _unpacked(5, values.tolist(), "<f")
    blob = _decode(body)
    np.testing.assert_array_equal(blob.data, values)


def test_legacy_dims_are_kept_and_written_back():
    message = caffe_pb2.BlobProto(num=1, channels=1, height=1, width=20, data=np.arange(20, dtype=np.float32))
    blob = from_message(message)
    assert blob.legacy == (1, 1, 1, 20)
    assert blob.data.shape == (1, 1, 1, 20)  # Blob::FromProto reshapes to the 4-D legacy shape
    assert encode_blob(blob).tobytes() == message.SerializeToString()


def test_legacy_shape_rule_aligns_from_the_end():
    """Blob::ShapeEquals: LegacyShape(-4..-1) == num, channels, height, width; 1 beyond the axes."""
    bias = from_message(caffe_pb2.BlobProto(num=1, channels=1, height=1, width=20, data=np.zeros(20)))
    weight = from_message(caffe_pb2.BlobProto(num=1, channels=1, height=100, width=200, data=np.zeros(20000)))
    conv = from_message(caffe_pb2.BlobProto(num=20, channels=1, height=5, width=5, data=np.zeros(500)))
    assert shape_equals(bias, (20,)) and shape_equals(bias, (1, 20)) and shape_equals(bias, (1, 1, 1, 20))
    assert not shape_equals(bias, (20, 1)) and not shape_equals(bias, (1, 1, 1, 1, 20))
    assert shape_equals(weight, (100, 200)) and not shape_equals(weight, (200, 100))
    assert shape_equals(conv, (20, 1, 5, 5)) and not shape_equals(conv, (20, 25))
    assert conform(weight, (100, 200)).shape == (100, 200)
    with pytest.raises(ValueError, match="shape mismatch"):
        conform(weight, (200, 100))


def test_shape_blobs_compare_exactly():
    blob = Blob.from_array(np.zeros((4, 100), np.float32))
    assert shape_equals(blob, (4, 100))
    assert not shape_equals(blob, (1, 1, 4, 100))


def test_from_array_legacy_right_aligns():
    blob = Blob.from_array(np.ones((100, 200)), legacy=True)
    assert blob.legacy == (1, 1, 100, 200)
    assert blob.data.dtype == np.float64  # float64 stays float64 (written as double_data)
    message = to_message(blob)
    assert len(message.double_data) == 20000 and not len(message.data)


def test_changed_array_gets_a_new_shape_header():
    blob = Blob.from_array(np.zeros((2, 3), np.float32))
    blob.data = np.ones((4, 5), np.float32)
    assert list(to_message(blob).shape.dim) == [4, 5]


def test_count_mismatch_is_reported():
    body = caffe_pb2.BlobProto(shape=caffe_pb2.BlobShape(dim=[2, 3]), data=[1, 2, 3]).SerializeToString()
    blob = _decode(body)
    with pytest.raises(ValueError, match="holds 3 values but its shape 2x3 needs 6"):
        blob.check("blob 0")


def test_truncated_blob_raises():
    body = caffe_pb2.BlobProto(shape=caffe_pb2.BlobShape(dim=[8]), data=np.arange(8)).SerializeToString()
    with pytest.raises(Truncated):
        _decode(body[:-3])
