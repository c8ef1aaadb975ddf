"""A multi-rank run's feeds (``shard``): rank r takes the records at positions = r modulo the world size
(Caffe's ``DataLayer::Skip``), so the ranks' batches together are one process's batch of size*batch_size,
transforms' random draws included, and rank 0's saved state resumes every rank."""
import json
from pathlib import Path

import numpy as np
import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text
from tunewiz.data.feed import make_feed


def _layer(source, batch, **tp):
    layer = caffe_pb2.LayerParameter(name="data", type="Data", top=["data", "label"])
    layer.data_param.source, layer.data_param.batch_size = source, batch
    layer.data_param.backend = caffe_pb2.DataParameter.LMDB
    for k, v in tp.items():
        setattr(layer.transform_param, k, v)
    return layer


def _interleaved(batches):
    """One process's batch from the ranks' batches: item j of rank r is item j*size + r."""
    return [np.stack([b[i][j] for j in range(len(batches[0][i])) for b in batches]) for i in range(2)]


@pytest.mark.parametrize("size", [2, 3])
def test_ranks_together_read_one_batch_of_size_times_batch_size(dh, tmp_path, size):
    src = dh.caffe_db(tmp_path, "encoded_png_24x24")  # 24 records: the batches wrap
    tp = dict(crop_size=17, mirror=True, scale=0.5)
    whole = make_feed(_layer(src, 5 * size, **tp), 0, seed=5, workers=0)
    ranks = [make_feed(_layer(src, 5, **tp), 0, seed=5, workers=0, shard=(r, size)) for r in range(size)]
    for _ in range(7):
        expected = whole.next_batch()
        got = _interleaved([f.next_batch() for f in ranks])
        assert got[0].tobytes() == expected[0].tobytes() and got[1].tolist() == expected[1].tolist()
    state = json.loads(json.dumps(ranks[0].state()))  # what rank 0's snapshot keeps
    expected = [whole.next_batch() for _ in range(3)]
    resumed = [make_feed(_layer(src, 5, **tp), 0, seed=9, workers=0, shard=(r, size)) for r in range(size)]
    for f in resumed:
        f.restore(state)
    for e in expected:
        got = _interleaved([f.next_batch() for f in resumed])
        assert got[0].tobytes() == e[0].tobytes()
    for f in (whole, *ranks, *resumed):
        f.close()


def test_hdf5_ranks_read_alternate_rows():
    pytest.importorskip("h5py")
    fix = Path(__file__).resolve().parents[1] / "fixtures" / "hdf5"
    layer = parse_text((fix / "case_walk.prototxt").read_text(), caffe_pb2.NetParameter()).layer[0]
    layer.hdf5_data_param.batch_size = 2
    whole = make_feed(layer, 0, root=str(fix))
    layer.hdf5_data_param.batch_size = 1
    ranks = [make_feed(layer, 0, root=str(fix), shard=(r, 2)) for r in range(2)]
    for _ in range(9):  # past the end of the files
        whole.next_batch()
        keys = []
        for f in ranks:
            f.next_batch()
            keys += f.last_keys
        assert keys == whole.last_keys
    state = ranks[0].state()
    again = make_feed(layer, 0, root=str(fix), shard=(1, 2))
    again.restore(state)
    expected = ranks[1].next_batch()
    assert all(np.array_equal(a, b) for a, b in zip(again.next_batch(), expected))
