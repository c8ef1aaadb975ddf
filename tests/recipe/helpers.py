"""Tiny databases and caffemodels for the recipe tests, built in tmp_path."""
from pathlib import Path

import lmdb
import numpy as np

from tunewiz.caffe import caffe_pb2

LENET_SHAPES = {"conv1": [(20, 1, 5, 5), (20,)], "conv2": [(50, 20, 5, 5), (50,)],
                "ip1": [(100, 200), (100,)], "ip2": [(4, 100), (4,)]}


def make_db(path: Path, labels, shape=(1, 19, 19), seed=0) -> Path:
    """An LMDB of raw uint8 datums with the given labels."""
    rng = np.random.default_rng(seed)
    env = lmdb.open(str(path), map_size=1 << 26)
    with env.begin(write=True) as txn:
        for i, label in enumerate(labels):
            d = caffe_pb2.Datum(channels=shape[0], height=shape[1], width=shape[2], label=int(label))
            d.data = rng.integers(0, 256, size=shape, dtype=np.uint8).tobytes()
            txn.put(f"{i:08d}".encode(), d.SerializeToString())
    env.close()
    return path


def make_caffemodel(path: Path, shapes=LENET_SHAPES, seed=0) -> Path:
    """A V2 caffemodel with one InnerProduct/Convolution layer entry per name in ``shapes``."""
    from tunewiz.caffe.caffemodel import write_caffemodel

    rng = np.random.default_rng(seed)
    net = caffe_pb2.NetParameter(name="src")
    blobs = {}
    for name, blob_shapes in shapes.items():
        net.layer.add(name=name, type="InnerProduct" if name.startswith("ip") else "Convolution")
        blobs[name] = [rng.standard_normal(s).astype(np.float32) for s in blob_shapes]
    write_caffemodel(path, net, blobs)
    return path
