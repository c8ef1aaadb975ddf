"""Caffemodels written by real Caffe: values, layout, V1 legacy blobs, byte-identical re-writes."""
import csv
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.blobs import Blob
from tunewiz.caffe.caffemodel import load_weights, read_net_binary, save_weights, write_caffemodel
from tunewiz.caffe.wire import atomic_write, encode_key, encode_varint
from tunewiz.errors import FormatError

FORMATS = Path(__file__).parent.parent / "fixtures" / "formats"
LENET = FORMATS / "lenet" / "lenet_iter_10.caffemodel"
V1 = FORMATS / "v1" / "lenet_v1.caffemodel"
ALL_MODELS = sorted(FORMATS.rglob("*.caffemodel"))
REFERENCE = Path(os.environ.get("CAFFE_REFERENCE", Path(__file__).parents[3] / "shared" / "caffe-reference"))


def _tsv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _sha(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, "<f4").tobytes()).hexdigest()


def _check_against_tsv(weights, rows):
    layers = {l.name: l for l in weights.layers}
    assert [l.name for l in weights.layers] == list(dict.fromkeys(r["layer"] for r in rows))
    for row in rows:
        layer = layers[row["layer"]]
        if row["blob_index"] == "-":
            assert layer.blobs == []
            continue
        blob = layer.blobs[int(row["blob_index"])]
        assert "x".join(map(str, blob.data.shape)) == row["shape"]
        legacy = row["legacy_num_channels_height_width"]
        assert blob.legacy == (tuple(int(d) for d in legacy.split(",")) if legacy else None)
        assert blob.data.size == int(row["count"])
        assert _sha(blob.data) == row["sha256_float32_le"]
        assert float(blob.data.astype(np.float64).sum()) == pytest.approx(float(row["sum"]), rel=1e-6, abs=1e-6)


def test_lenet_values_match_caffe():
    weights = load_weights(LENET)
    assert weights.format == "V2" and not weights.upgraded
    _check_against_tsv(weights, _tsv(FORMATS / "lenet" / "lenet_iter_10.blobs.tsv"))
    assert [l.type for l in weights.layers][:3] == ["Data", "Convolution", "Pooling"]
    rows = _tsv(FORMATS / "lenet" / "lenet_iter_10.blobs.tsv")
    assert weights.param_count == sum(int(r["count"]) for r in rows)
    assert set(weights.arrays()) == {"conv1", "conv2", "ip1", "ip2"}
    assert weights["ip1"][0].shape == (100, 200)
    assert weights.net.layer[0].data_param.source  # non-blob parts parsed too


def test_v1_caffemodel_keeps_legacy_dims_and_values():
    weights = load_weights(V1)
    assert weights.format == "V1"
    _check_against_tsv(weights, _tsv(FORMATS / "v1" / "lenet_v1.blobs.tsv"))
    assert weights.legacy_dims()["ip1"] == [(1, 1, 100, 200), (1, 1, 1, 100)]
    lenet = load_weights(LENET)
    for name, arrays in lenet.arrays().items():
        for a, b in zip(arrays, weights[name]):
            np.testing.assert_array_equal(a.ravel(), b.ravel())


def test_v1_is_upgraded_on_read():
    pytest.importorskip("tunewiz.caffe.upgrade")
    weights = load_weights(V1)
    assert weights.upgraded and len(weights.net.layers) == 0
    assert weights.report.source_format == "V1" and "V1" in weights.report.steps and weights.report.notes
    assert weights.stored.net.layers and not weights.stored.net.layer  # the stored form is kept as read
    upgraded = _tsv(FORMATS / "v1" / "lenet_v1.upgraded.blobs.tsv")
    assert [(l.name, l.type) for l in weights.layers] == list(dict.fromkeys((r["layer"], r["type"]) for r in upgraded))
    _check_against_tsv(weights, upgraded)


@pytest.mark.parametrize("path", ALL_MODELS, ids=lambda p: str(p.relative_to(FORMATS)))
def test_rewrite_is_byte_identical(path, tmp_path):
    out = tmp_path / "out.caffemodel"
    write_caffemodel(out, read_net_binary(path))
    assert out.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("path", ALL_MODELS, ids=lambda p: str(p.relative_to(FORMATS)))
def test_read_equals_protobuf_parse(path):
    assert read_net_binary(path).to_message() == caffe_pb2.NetParameter.FromString(path.read_bytes())


def test_layer_fixtures_match_their_npz():
    for path in sorted((FORMATS / "layers").glob("*.caffemodel")):
        expected = np.load(path.with_suffix(".npz"))
        weights = load_weights(path)
        keys = [k for k in expected.files if k.startswith("param/")]
        assert keys, path
        for key in keys:
            _, layer, index = key.split("/")
            np.testing.assert_array_equal(weights[layer][int(index)], expected[key])


def test_save_weights_v2_from_v1(tmp_path):
    pytest.importorskip("tunewiz.caffe.upgrade")
    out = tmp_path / "upgraded.caffemodel"
    save_weights(out, load_weights(V1))
    again = load_weights(out)
    assert again.format == "V2" and not again.upgraded
    assert again.legacy_dims()["conv1"] == [(20, 1, 5, 5), (1, 1, 1, 20)]  # kept, like upgrade_net_proto_binary
    for name, arrays in load_weights(V1).arrays().items():
        for a, b in zip(arrays, again[name]):
            np.testing.assert_array_equal(a, b)
    stored = tmp_path / "stored.caffemodel"
    save_weights(stored, load_weights(V1), stored_form=True)
    assert stored.read_bytes() == V1.read_bytes()


def test_write_from_arrays_is_laid_out_like_caffe(tmp_path):
    """Our writer's bytes equal protobuf's serialization of the full message (what Caffe's C++ writes)."""
    rng = np.random.default_rng(0)
    net = caffe_pb2.NetParameter(name="n")
    net.layer.add(name="data", type="Input", top=["data"])
    conv = net.layer.add(name="conv", type="Convolution", bottom=["data"], top=["conv"])
    conv.param.add(lr_mult=1)
    conv.include.add(phase=caffe_pb2.TRAIN)  # field 8: after the blobs (7)
    conv.convolution_param.num_output = 3
    arrays = {"conv": [rng.standard_normal((3, 2, 3, 3)).astype(np.float32), np.zeros(3, np.float32)]}
    out = tmp_path / "n.caffemodel"
    write_caffemodel(out, net, arrays)
    full = caffe_pb2.NetParameter()
    full.CopyFrom(net)
    for array in arrays["conv"]:
        full.layer[1].blobs.add(shape=caffe_pb2.BlobShape(dim=array.shape), data=array.ravel())
    assert out.read_bytes() == full.SerializeToString()
    np.testing.assert_array_equal(load_weights(out)["conv"][0], arrays["conv"][0])


def test_non_packed_caffemodel_reads(tmp_path):
    values = [0.25, -4.0, 8.5]
    blob = encode_key(7, 2) + encode_varint(2) + bytes([8, 3])
    blob += b"".join(encode_key(5, 5) + np.float32(v).tobytes() for v in values)
    layer = caffe_pb2.LayerParameter(name="ip", type="InnerProduct").SerializeToString()
    layer += encode_key(7, 2) + encode_varint(len(blob)) + blob
    path = tmp_path / "unpacked.caffemodel"
    path.write_bytes(encode_key(100, 2) + encode_varint(len(layer)) + layer)
    assert load_weights(path)["ip"][0].tolist() == values
    assert list(caffe_pb2.NetParameter.FromString(path.read_bytes()).layer[0].blobs[0].data) == values


def test_float64_blobs_round_trip(tmp_path):
    net = caffe_pb2.NetParameter(name="d")
    net.layer.add(name="s", type="Scale")
    values = np.array([1 / 3, 2 / 3], np.float64)
    write_caffemodel(tmp_path / "d.caffemodel", net, [[Blob.from_array(values)]])
    read = load_weights(tmp_path / "d.caffemodel")["s"][0]
    assert read.dtype == np.float64 and read.tolist() == values.tolist()


def test_wrong_blob_count_is_a_clear_error(tmp_path):
    net = caffe_pb2.NetParameter()
    net.layer.add(name="ip", type="InnerProduct").blobs.add(shape=caffe_pb2.BlobShape(dim=[2, 3]), data=[1, 2, 3])
    path = tmp_path / "bad.caffemodel"
    path.write_bytes(net.SerializeToString())
    with pytest.raises(FormatError, match="layer 'ip' blob 0 holds 3 values but its shape 2x3 needs 6"):
        load_weights(path)


def test_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "keep.caffemodel"
    path.write_bytes(b"old")

    def parts():
        yield b"new"
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, parts())
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.caffemodel"]


def test_write_into_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FormatError, match="cannot write"):
        write_caffemodel(tmp_path / "no" / "x.caffemodel", caffe_pb2.NetParameter())


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="needs ../shared/caffe-reference")
def test_every_reference_caffemodel(tmp_path):
    paths = sorted(REFERENCE.rglob("*.caffemodel"))
    assert len(paths) > 100
    for path in paths:
        binary = read_net_binary(path)
        out = tmp_path / "x.caffemodel"
        write_caffemodel(out, binary)
        assert out.read_bytes() == path.read_bytes(), path
        load_weights(path)


def test_v0_caffemodel_blobs_follow_the_upgrade(tmp_path):
    """V0 layers keep their blobs in V0LayerParameter.blobs (50), inside V1 ``layers``' ``layer`` (1)."""
    pytest.importorskip("tunewiz.caffe.upgrade")
    net = caffe_pb2.NetParameter(name="v0", input=["data"], input_dim=[1, 1, 5, 5])
    entry = net.layers.add(bottom=["data"], top=["conv1"])
    entry.layer.name, entry.layer.type, entry.layer.num_output, entry.layer.kernelsize = "conv1", "conv", 2, 3
    entry.layer.blobs.add(num=2, channels=1, height=3, width=3, data=np.arange(18, dtype=np.float32))
    entry.layer.blobs.add(num=1, channels=1, height=1, width=2, data=[5, 6])
    path = tmp_path / "v0.caffemodel"
    path.write_bytes(net.SerializeToString())
    weights = load_weights(path)
    assert weights.format == "V0" and weights.upgraded
    assert [(l.name, l.type) for l in weights.layers] == [("input", "Input"), ("conv1", "Convolution")]
    np.testing.assert_array_equal(weights["conv1"][0].ravel(), np.arange(18))
    assert weights.legacy_dims()["conv1"] == [(2, 1, 3, 3), (1, 1, 1, 2)]
    out = tmp_path / "again.caffemodel"
    write_caffemodel(out, read_net_binary(path))
    assert out.read_bytes() == path.read_bytes()


def test_overwrite_keeps_the_files_permissions(tmp_path):
    path = tmp_path / "w.caffemodel"
    path.write_bytes(b"old")
    os.chmod(path, 0o600)
    write_caffemodel(path, read_net_binary(LENET))
    assert path.read_bytes() == LENET.read_bytes() and (path.stat().st_mode & 0o777) == 0o600
