"""A small validation set for the scoring tests: an LMDB of gray 6x6 records named as convert_imageset names them
(``%08d_<class>/<n>.png``), a net reading it in batches, weights made by the engine, and a labels.txt.

The records are learnable by a linear layer (each class lights another column) but the weights are random, so
the net makes mistakes in every direction.  ``forward_all`` scores the same records in one forward of an
Input net with the same weights: an independent count to compare the pass against.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

NAMES = ["five", "six", "seven"]


def net_text(batch: int = 10, source: str = "val_lmdb", head: str = "", accuracy: bool = True,
             loss: bool = True, top_k: int = 1) -> str:
    text = (f'name: "scored"\n'
            f'layer {{ name: "data" type: "Data" top: "data" top: "label" include {{ phase: TEST }}\n'
            f'  transform_param {{ scale: 0.00390625 }} data_param {{ source: "{source}" batch_size: {batch} '
            f'backend: LMDB }} }}\n'
            f'layer {{ name: "ip" type: "InnerProduct" bottom: "data" top: "ip" '
            f'inner_product_param {{ num_output: 3 weight_filler {{ type: "gaussian" std: 0.3 }} }} }}\n' + head)
    if accuracy:
        text += (f'layer {{ name: "accuracy" type: "Accuracy" bottom: "ip" bottom: "label" top: "accuracy" '
                 f'accuracy_param {{ top_k: {top_k} }} include {{ phase: TEST }} }}\n')
    if loss:
        text += 'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }\n'
    return text


def records(n: int) -> tuple[list[bytes], np.ndarray, np.ndarray]:
    """Keys, uint8 images (n, 1, 6, 6) and labels of ``n`` records (labels 0, 1, 2, 0, ...)."""
    rng = np.random.default_rng(0)
    keys, images, labels = [], [], []
    for i in range(n):
        label = i % 3
        img = rng.integers(0, 120, (6, 6), dtype=np.uint8)
        img[:, 2 * label] = 200
        keys.append(f"{i:08d}_{NAMES[label]}/{i:03d}.png".encode())
        images.append(img[None])
        labels.append(label)
    return keys, np.stack(images), np.array(labels)


def make_set(root: Path, n: int = 23, batch: int = 10, seed: int = 3) -> dict:
    """``root/val_lmdb`` with n records, ``root/net.prototxt``, ``root/w.caffemodel``, ``root/labels.txt``."""
    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.prototxt import read_net_text
    from tunewiz.data.datum import raw_datum
    from tunewiz.data.db_write import DBWriter
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import save_caffemodel

    keys, images, labels = records(n)
    writer = DBWriter(str(root / "val_lmdb"))
    for key, img, label in zip(keys, images, labels):
        writer.put(key, raw_datum(img[0], int(label)).SerializeToString())
    writer.close()
    (root / "net.prototxt").write_text(net_text(batch, str(root / "val_lmdb")))
    net = Net(read_net_text(root / "net.prototxt"), caffe_pb2.TEST, seed=seed)
    save_caffemodel(net, root / "w.caffemodel")
    net.close()
    (root / "labels.txt").write_text("".join(f"{name}\n" for name in NAMES))
    return {"root": root, "net": root / "net.prototxt", "weights": root / "w.caffemodel",
            "labels": root / "labels.txt", "keys": keys, "images": images, "truth": labels}


def forward_all(data: dict) -> np.ndarray:
    """Scores (n, 3) of every record in one forward of an Input net with the same weights."""
    import torch

    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.prototxt import parse_text
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import copy_trained_layers

    n = len(data["truth"])
    text = (f'layer {{ name: "data" type: "Input" top: "data" input_param {{ shape {{ dim: {n} dim: 1 dim: 6 '
            f'dim: 6 }} }} }}\n'
            'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 3 } }\n')
    net = Net(parse_text(text, caffe_pb2.NetParameter()), caffe_pb2.TEST)
    copy_trained_layers(net, [str(data["weights"])])
    pixels = torch.from_numpy(data["images"].astype(np.float32) * np.float32(0.00390625))
    with torch.no_grad():
        return net.forward({"data": pixels})["ip"].numpy()


def matrix_of(scores: np.ndarray, truth: np.ndarray, classes: int = 3) -> list[list[int]]:
    """Rows true, columns predicted (numpy's argmax)."""
    matrix = np.zeros((classes, classes), int)
    for t, p in zip(truth, scores.argmax(axis=1)):
        matrix[t, p] += 1
    return matrix.tolist()
