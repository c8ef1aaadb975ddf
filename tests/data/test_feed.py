"""Data/ImageData feeds: Caffe's record order (training traces), transforms, workers, exact resume."""
import hashlib
import json

import numpy as np
import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import read_net_text
from tunewiz.data.datum import datum_array, decode_bytes, parse_datum
from tunewiz.data.db import DBReader
from tunewiz.data.feed import make_feed
from tunewiz.errors import TunewizError


def _net_data_layer(dh, phase):
    net = read_net_text(str(dh.FX / "training" / "train_val.prototxt"))
    return [l for l in net.layer if l.type == "Data" and l.include[0].phase == phase][0]


def _records(path):
    with DBReader(str(path)) as r:
        return [(k, parse_datum(v)) for k, v in r]


def test_train_feed_walks_records_16i_mod_200(dh):
    """training/README: iteration i uses records 16i ... 16i+15 (mod 200), read from record 0."""
    records = _records(dh.FX / "training" / "train_lmdb")
    layer = _net_data_layer(dh, 0)
    assert layer.data_param.source == "data/train_lmdb"
    layer.data_param.source = "train_lmdb"  # the fixture's copy, resolved against root
    feed = make_feed(layer, 0, seed=1701, root=str(dh.FX / "training"))
    assert feed.top_shapes == [(16, 1, 19, 19), (16,)]
    for i in range(27):  # > 2 epochs
        data, label = feed.next_batch()
        idx = [(16 * i + j) % 200 for j in range(16)]
        assert feed.last_keys == [records[j][0] for j in idx]
        expected = np.stack([datum_array(records[j][1]) for j in idx]).astype(np.float32) * np.float32(0.00390625)
        assert data.dtype == np.float32 and data.tobytes() == expected.tobytes()
        assert label.dtype == np.float32 and label.tolist() == [records[j][1].label for j in idx]
    feed.close()


def test_test_feed_first_records_equal_caffe_forward_input(dh, tmp_path):
    layer = _net_data_layer(dh, 1)
    layer.data_param.source = str(dh.FX / "training" / "test_lmdb")
    feed = make_feed(layer, 1, seed=1)
    data, label = feed.next_batch()
    reference = np.load(dh.FX / "training" / "forward_input.npy")
    assert data.shape == (25, 1, 19, 19) and data[:4].tobytes() == reference.tobytes()
    keys = (dh.FX / "training" / "forward_input_keys.txt").read_text().split()
    assert [k.decode() for k in feed.last_keys[:4]] == keys[0::2] and label[:4].tolist() == [float(x) for x in keys[1::2]]
    feed.close()


def _encoded_layer(source, phase, batch=5, **tp):
    layer = caffe_pb2.LayerParameter(name="data", type="Data", top=["data", "label"])
    layer.data_param.source, layer.data_param.batch_size = source, batch
    layer.data_param.backend = caffe_pb2.DataParameter.LMDB
    for k, v in tp.items():
        if k == "mean_value":
            layer.transform_param.mean_value.extend(v)
        else:
            setattr(layer.transform_param, k, v)
    return layer


def test_encoded_records_decoded_and_centre_cropped_in_test(dh, tmp_path):
    src = dh.caffe_db(tmp_path, "encoded_png_24x24")
    records = _records(src)
    feed = make_feed(_encoded_layer(src, 1, batch=8, crop_size=20, mirror=False), 1, seed=0)
    assert feed.top_shapes == [(8, 3, 20, 20), (8,)]
    data, _ = feed.next_batch()
    for i in range(8):
        pixels = decode_bytes(records[i][1].data)
        assert np.array_equal(data[i], pixels[:, 2:22, 2:22].astype(np.float32))
    feed.close()


def test_workers_and_resume_give_identical_batches(dh, tmp_path):
    src = dh.caffe_db(tmp_path, "encoded_png_24x24")
    layer = _encoded_layer(src, 0, batch=5, crop_size=17, mirror=True, mean_value=[100, 110, 120], scale=0.5)
    inline = make_feed(layer, 0, seed=5, workers=0)
    parallel = make_feed(layer, 0, seed=5, workers=2)
    batches = [inline.next_batch() for _ in range(7)]  # wraps (24 records)
    for a in batches:
        b = parallel.next_batch()
        assert a[0].tobytes() == b[0].tobytes() and a[1].tolist() == b[1].tolist()
    assert any(not np.array_equal(x[0][0], batches[0][0][0]) for x in batches[1:])
    state = json.loads(json.dumps(parallel.state()))
    expected = [parallel.next_batch() for _ in range(3)]
    fresh = make_feed(layer, 0, seed=99, workers=0)
    fresh.restore(state)
    for e in expected:
        got = fresh.next_batch()
        assert got[0].tobytes() == e[0].tobytes()
    for f in (inline, parallel, fresh):
        f.close()


def _image_data_layer(dh, listfile="val.txt", **kw):
    layer = caffe_pb2.LayerParameter(name="images", type="ImageData", top=["data", "label"])
    ip = layer.image_data_param
    ip.source, ip.root_folder, ip.batch_size = listfile, "images/", kw.pop("batch_size", 3)
    for k, v in kw.items():
        setattr(ip, k, v)
    return layer


def test_image_data_feed_equals_caffe_records(dh):
    """ImageData resizes like convert_imageset: pixels equal Caffe's val_raw_32x32 records."""
    rows = dh.records_tsv("val_raw_32x32")
    feed = make_feed(_image_data_layer(dh, new_height=32, new_width=32, batch_size=6), 1, root=str(dh.FX))
    data, label = feed.next_batch()
    for i, row in enumerate(rows):
        assert hashlib.sha256(data[i].astype(np.uint8).tobytes()).hexdigest() == row["sha256_data"]
        assert label[i] == int(row["label"])
    feed.close()


def test_image_data_shuffle_is_seeded_and_covers_each_epoch(dh):
    layer = _image_data_layer(dh, new_height=8, new_width=8, batch_size=6, shuffle=True)
    def epochs(seed):
        feed = make_feed(layer, 0, seed=seed, root=str(dh.FX), workers=0)
        out = [list(feed.next_batch()[1]) for _ in range(3)]
        feed.close()
        return out
    a, b = epochs(3), epochs(3)
    assert a == b and all(sorted(x) == [0, 0, 1, 1, 2, 2] for x in a)
    assert a[0] != a[1] or a[1] != a[2]


def test_one_top_gives_data_only_and_errors(dh, tmp_path):
    layer = _image_data_layer(dh, new_height=8, new_width=8)
    del layer.top[1:]
    feed = make_feed(layer, 0, root=str(dh.FX))
    assert len(feed.next_batch()) == 1 and feed.top_shapes == [(3, 3, 8, 8)]
    feed.close()
    with pytest.raises(TunewizError, match="new_height and new_width together"):
        make_feed(_image_data_layer(dh, new_height=8), 0, root=str(dh.FX))
    with pytest.raises(TunewizError, match="is a LMDB database but the backend says LEVELDB"):
        bad = _encoded_layer(str(dh.FX / "training" / "test_lmdb"), 1)
        bad.data_param.backend = caffe_pb2.DataParameter.LEVELDB
        make_feed(bad, 1)
    with pytest.raises(TunewizError, match="no such database"):
        make_feed(_encoded_layer("missing_lmdb", 1), 1, root=str(tmp_path))
    for workers in (0, 2):
        mixed = make_feed(_image_data_layer(dh, batch_size=4), 0, root=str(dh.FX), workers=workers)
        with pytest.raises(TunewizError, match="all images must have the same"):
            mixed.next_batch()
        with pytest.raises(TunewizError, match="closed|all images must have the same"):
            mixed.next_batch()
        mixed.close()


@pytest.mark.parametrize("workers", [0, 2])
def test_image_data_shuffle_resume_across_epochs(dh, workers):
    layer = _image_data_layer(dh, new_height=10, new_width=10, batch_size=4, shuffle=True)
    layer.transform_param.mirror, layer.transform_param.crop_size = True, 8
    feed = make_feed(layer, 0, seed=11, root=str(dh.FX), workers=workers)
    feed.next_batch()
    state = json.loads(json.dumps(feed.state()))
    expected = [feed.next_batch() for _ in range(4)]  # crosses two reshuffles (6 lines)
    fresh = make_feed(layer, 0, seed=12, root=str(dh.FX), workers=0)
    fresh.restore(state)
    for e in expected:
        got = fresh.next_batch()
        assert got[0].tobytes() == e[0].tobytes() and got[1].tolist() == e[1].tolist()
    feed.close()
    fresh.close()


def test_image_data_absolute_paths_and_relative_source(dh, tmp_path):
    listfile = tmp_path / "abs.txt"
    listfile.write_text(f"{dh.FX / 'images' / 'a_circles' / 'img00.png'} 0\n"
                        f"{dh.FX / 'images' / 'b_squares' / 'img 03 space.png'} 1\n")
    layer = _image_data_layer(dh, listfile="abs.txt", new_height=32, new_width=32, batch_size=2)
    layer.image_data_param.root_folder = ""
    feed = make_feed(layer, 1, root=str(tmp_path))
    data, label = feed.next_batch()
    rows = {r["key"][9:]: r for r in dh.records_tsv("raw_32x32")}
    for i, name in enumerate(["a_circles/img00.png", "b_squares/img 03 space.png"]):
        assert hashlib.sha256(data[i].astype(np.uint8).tobytes()).hexdigest() == rows[name]["sha256_data"]
    assert label.tolist() == [0.0, 1.0]
    feed.close()


def test_force_gray_and_force_color_decode_encoded_records_like_caffe(dh, tmp_path):
    """DataTransformer: encoded datums decoded with IMREAD_GRAYSCALE (force_gray) / IMREAD_COLOR
    (force_color), natively otherwise; both at once is Caffe's CHECK failure."""
    import cv2

    src = dh.caffe_db(tmp_path, "encoded_png_24x24")
    records = _records(src)
    gray = make_feed(_encoded_layer(src, 1, batch=4, force_gray=True), 1, seed=0, workers=0)
    assert gray.top_shapes[0] == (4, 1, 24, 24)
    data, _ = gray.next_batch()
    for i in range(4):
        want = cv2.imdecode(np.frombuffer(records[i][1].data, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert np.array_equal(data[i, 0], want.astype(np.float32))
    gray.close()
    colour = make_feed(_encoded_layer(src, 1, batch=4, force_color=True), 1, seed=0, workers=0)
    data, _ = colour.next_batch()
    want = cv2.imdecode(np.frombuffer(records[0][1].data, np.uint8), cv2.IMREAD_COLOR)
    assert data.shape == (4, 3, 24, 24) and np.array_equal(data[0], want.transpose(2, 0, 1).astype(np.float32))
    colour.close()
    with pytest.raises(TunewizError, match="both force_color and force_gray"):
        make_feed(_encoded_layer(src, 1, force_gray=True, force_color=True), 1, seed=0)


def test_data_layer_source_errors_name_the_layer(tmp_path):
    import lmdb

    with pytest.raises(TunewizError, match=r"layer 'data' \(Data\): .*nope_lmdb: no such database"):
        make_feed(_encoded_layer(str(tmp_path / "nope_lmdb"), 0), 0)
    env = lmdb.open(str(tmp_path / "junk"))
    with env.begin(write=True) as txn:
        txn.put(b"00000000_a.png", b"\xff\xff\xffjunk")
    env.close()
    with pytest.raises(TunewizError, match=r"layer 'data' \(Data\): record '00000000_a.png' is not a Caffe Datum"):
        make_feed(_encoded_layer(str(tmp_path / "junk"), 0), 0)


def test_image_data_list_that_is_a_fifo_is_refused_without_waiting(dh, tmp_path):
    import os

    os.mkfifo(tmp_path / "list.fifo")
    with pytest.raises(TunewizError, match=r"cannot read the list 'list.fifo': .*not a regular file.*as in Caffe"):
        make_feed(_image_data_layer(dh, listfile="list.fifo"), 0, root=str(tmp_path))
