"""Small ImageData fine-tunes, one per ``image_data_param``/``transform_param`` choice, built from a seed.

``build(dst, variant)`` writes a working folder (images, lists, mean, a tiny net with ImageData in
TRAIN and TEST, a solver, seeded weights) so that ``tunewiz train`` and real Caffe
(``tests/fixtures/imagedata_train/make_fixture.py``) run the same files.  ``VARIANTS`` names each
case: the edits of the TRAIN and TEST data layers, and whether TRAIN draws random numbers (shuffle,
mirror, random crop come from Caffe's unseeded RNG: only the iteration-0 test compares then).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

SIZE = 16  # new_height / new_width, and the size of the same-size photos
# name -> (TRAIN layer text, TEST layer text, TRAIN is deterministic)
VARIANTS = {
    "relative_paths": ("", "", True),
    "root_folder": ('root_folder: "data/img/"', 'root_folder: "data/img/"', True),
    "root_folder_absolute": ('root_folder: "ROOT/data/img/"', 'root_folder: "ROOT/data/img/"', True),
    "no_resize": ("NORESIZE", "NORESIZE", True),
    "gray": ("is_color: false", "is_color: false", True),
    "mean_file": ('T mean_file: "data/mean.binaryproto"', 'T mean_file: "data/mean.binaryproto"', True),
    "mean_value_scale": ("T mean_value: 104 mean_value: 117 mean_value: 123 scale: 0.017",
                         "T mean_value: 104 mean_value: 117 mean_value: 123 scale: 0.017", True),
    "crop_center_test": ("T crop_size: 12", "T crop_size: 12", False),
    "mirror_shuffle_train": ("shuffle: true T mirror: true crop_size: 12", "T crop_size: 12", False),
}


def _data_layer(phase: str, list_name: str, batch: int, edits: str, root: Path) -> str:
    """One ImageData layer; ``edits``: image_data_param text, then ``T`` and transform_param text."""
    edits = edits.replace("ROOT", str(root))
    image_edits, _, transform = edits.partition("T ")
    resize = "new_height: 16 new_width: 16"
    if "NORESIZE" in image_edits:
        image_edits, resize, list_name = image_edits.replace("NORESIZE", ""), "", f"same_{list_name}"
    param = f'source: "data/{list_name}.txt" batch_size: {batch} {resize} {image_edits}'
    return (f'layer {{ name: "data" type: "ImageData" top: "data" top: "label" include {{ phase: {phase} }}\n'
            f"  transform_param {{ {transform.strip()} }}\n  image_data_param {{ {' '.join(param.split())} }} }}\n")


NET_TAIL = """layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 stride: 2 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "ip" type: "InnerProduct" bottom: "conv1" top: "ip" inner_product_param { num_output: 3 } }
layer { name: "accuracy" type: "Accuracy" bottom: "ip" bottom: "label" top: "accuracy" include { phase: TEST } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
"""
SOLVER = """net: "train_val.prototxt"
test_iter: 2
test_interval: 3
base_lr: 0.001
momentum: 0.9
weight_decay: 0.0005
lr_policy: "fixed"
display: 1
max_iter: 3
snapshot_prefix: "snap"
solver_mode: CPU
"""


def _photo(rng, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = rng.uniform(0, 255, size=3) + yy[..., None] * rng.uniform(-6, 6, size=3) \
        + xx[..., None] * rng.uniform(-6, 6, size=3) + rng.normal(0, 15, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def write_photos(dst: Path, rng) -> None:
    """``data/img`` (sizes 10-30 px) and ``data/same`` (16x16), train/test lists for each."""
    import cv2

    for folder in ("img", "same"):
        (dst / "data" / folder).mkdir(parents=True, exist_ok=True)
    for split, count in (("train", 8), ("test", 6)):
        lines, same = [], []
        for i in range(count):
            name = f"{split}{i}.{'png' if i % 2 else 'jpg'}"
            h, w = rng.integers(10, 31, size=2)
            cv2.imwrite(str(dst / "data" / "img" / name), _photo(rng, int(h), int(w)))
            cv2.imwrite(str(dst / "data" / "same" / name), _photo(rng, SIZE, SIZE))
            label = int(rng.integers(0, 3))
            lines.append((name, label))
            same.append(f"data/same/{name} {label}")
        (dst / "data" / f"{split}.txt").write_text("".join(f"data/img/{n} {lab}\n" for n, lab in lines))
        (dst / "data" / f"rooted_{split}.txt").write_text("".join(f"{n} {lab}\n" for n, lab in lines))
        (dst / "data" / f"same_{split}.txt").write_text("\n".join(same) + "\n")


def input_shape(variant: str) -> tuple[int, int]:
    """(channels, side) of the data blob."""
    train, test, _ = VARIANTS[variant]
    return (1 if "is_color: false" in train else 3), (12 if "crop_size: 12" in test else SIZE)


def write_weights(path: Path, variant: str, rng) -> None:
    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.caffemodel import write_caffemodel

    channels, side = input_shape(variant)
    out = (side - 3) // 2 + 1
    shapes = {"conv1": (4, channels, 3, 3), "ip": (3, 4 * out * out)}
    net = caffe_pb2.NetParameter(name="imagedata")
    blobs = {}
    for name, shape in shapes.items():
        net.layer.add(name=name, type="Convolution" if name == "conv1" else "InnerProduct")
        std = 0.05 if name == "conv1" else 0.1 / np.sqrt(shape[1])
        blobs[name] = [(rng.standard_normal(shape) * std).astype(np.float32),
                       rng.uniform(-0.1, 0.1, size=shape[0]).astype(np.float32)]
    write_caffemodel(path, net, blobs)


def build(dst: Path, variant: str, seed: int = 7) -> Path:
    """The working folder of ``variant`` under ``dst``: run ``train -solver solver.prototxt
    -weights init.caffemodel`` there."""
    from tunewiz.caffe.binaryproto import write_blob

    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    write_photos(dst, rng)
    mean = rng.uniform(90, 130, size=(1, 3, SIZE, SIZE)).astype(np.float32)
    write_blob(dst / "data" / "mean.binaryproto", mean)
    train, test, _ = VARIANTS[variant]
    lists = ("rooted_train", "rooted_test") if "root_folder" in variant else ("train", "test")
    net = (_data_layer("TRAIN", lists[0], 4, train, dst) + _data_layer("TEST", lists[1], 3, test, dst) + NET_TAIL)
    (dst / "train_val.prototxt").write_text(f'name: "imagedata_{variant}"\n' + net)
    (dst / "solver.prototxt").write_text(SOLVER)
    write_weights(dst / "init.caffemodel", variant, rng)
    return dst


def parse_log(text: str) -> dict:
    """Caffe-format log -> {"test0": {...}, "test3": {...}, "train": [smoothed losses]}."""
    result: dict = {"train": [float(v) for v in re.findall(r"Iteration \d+ \(.*\), loss = (\S+)", text)]}
    for it in (0, 3):
        block = text.split(f"Iteration {it}, Testing net (#0)", 1)
        if len(block) == 2:
            outs = re.findall(r"Test net output #\d+: (\S+) = (\S+)", block[1])[:2]
            result[f"test{it}"] = {k: float(v) for k, v in outs}
    return result
