"""A working folder laid out as Caffe's root for ``models/finetune_flickr_style``, built from a seed.

Caffe's readme runs ``caffe train -solver models/finetune_flickr_style/solver.prototxt -weights
models/bvlc_reference_caffenet/bvlc_reference_caffenet.caffemodel`` from Caffe's root. ``build(dst)``
writes that layout with small stand-ins, the same bytes every time (numpy's PCG64 and OpenCV's
encoders are deterministic), so a fixture made once by real Caffe (``tests/fixtures/flickr_style/
make_fixture.py``) compares with tunewiz on any machine:

- the Model Zoo's flickr ``train_val``/``solver`` copied, only batch sizes and iterations shrunk;
- ``data/flickr_style/{train,test}.txt``: tiny generated JPEG/PNG photos, paths relative to the
  working folder and no ``root_folder`` (as Caffe's ``assemble_data.py`` writes them, absolute
  there), resized to 256x256 by the layers' ``new_height``/``new_width``;
- ``data/ilsvrc12/imagenet_mean.binaryproto``: a 3x256x256 mean;
- CaffeNet-shaped weights (He-normal, seeded) and, in a second file, the renamed ``fc8_flickr``
  (a new layer's filler draws from Caffe's unseeded RNG, so both runs are given the same one).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FLICKR = HERE.parents[1] / "fixtures" / "flickr_style"
SOLVER = "models/finetune_flickr_style/solver.prototxt"
WEIGHTS = "models/bvlc_reference_caffenet/bvlc_reference_caffenet.caffemodel"
FC8_FLICKR = "models/finetune_flickr_style/fc8_flickr.caffemodel"
TRAIN_BATCH, TEST_BATCH, TEST_ITER, MAX_ITER = 2, 4, 2, 2
N_TRAIN, N_TEST = 6, 8
FC8_STD = 1e-3
# half the test photos labelled with the class these weights predict (top-1 margins >= 0.18 there),
# so the accuracy compared with Caffe's is neither 0 nor 1
TEST_LABELS = {0: 15, 2: 5, 4: 5, 6: 15}

# CaffeNet's learnable layers: name -> (type, weight shape); conv2/4/5 have group 2
CAFFENET = {
    "conv1": ("Convolution", (96, 3, 11, 11)), "conv2": ("Convolution", (256, 48, 5, 5)),
    "conv3": ("Convolution", (384, 256, 3, 3)), "conv4": ("Convolution", (384, 192, 3, 3)),
    "conv5": ("Convolution", (256, 192, 3, 3)), "fc6": ("InnerProduct", (4096, 9216)),
    "fc7": ("InnerProduct", (4096, 4096)), "fc8": ("InnerProduct", (1000, 4096)),
}


def shrink_train_val(text: str) -> str:
    """The Model Zoo file with both ImageData batch sizes shrunk (TRAIN first, then TEST)."""
    sizes = iter((TRAIN_BATCH, TEST_BATCH))
    return re.sub(r"batch_size: 50", lambda _: f"batch_size: {next(sizes)}", text)


def shrink_solver(text: str) -> str:
    """Test iterations and max_iter shrunk; everything else as Caffe's example has it."""
    text = text.replace("test_iter: 100", f"test_iter: {TEST_ITER}")
    return text.replace("max_iter: 100000", f"max_iter: {MAX_ITER}")


def _image(rng, cv2, path: Path) -> None:
    """A small photo-like picture: smooth gradients plus noise, a random size around 20-40 px."""
    h, w = rng.integers(18, 42, size=2)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(0, 255, size=3)
    slope = rng.uniform(-4, 4, size=(2, 3))
    img = base + yy[..., None] * slope[0] + xx[..., None] * slope[1] + rng.normal(0, 12, size=(h, w, 3))
    cv2.imwrite(str(path), np.clip(img, 0, 255).astype(np.uint8))


def write_images(dst: Path, rng, n_train: int = N_TRAIN, n_test: int = N_TEST) -> None:
    """``data/flickr_style/images/*`` and the two lists (labels of the 20 styles)."""
    import cv2

    folder = dst / "data" / "flickr_style" / "images"
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", n_train), ("test", n_test)):
        lines = []
        for i in range(count):
            name = f"{split}_{i:03d}.{'png' if i % 3 == 2 else 'jpg'}"
            _image(rng, cv2, folder / name)
            label = int(rng.integers(0, 20))
            label = TEST_LABELS.get(i, label) if split == "test" else label
            lines.append(f"data/flickr_style/images/{name} {label}")
        (dst / "data" / "flickr_style" / f"{split}.txt").write_text("\n".join(lines) + "\n")


def write_mean(dst: Path, rng) -> None:
    """A smooth 3x256x256 mean around ImageNet's (104, 117, 123), as Caffe's binaryproto."""
    from tunewiz.caffe.binaryproto import write_blob

    yy, xx = np.mgrid[0:256, 0:256].astype(np.float32) / 255.0
    bgr = np.array([104.0, 117.0, 123.0], np.float32)[:, None, None]
    mean = bgr + 8.0 * yy[None] - 6.0 * xx[None] + rng.normal(0, 2, size=(3, 256, 256)).astype(np.float32)
    (dst / "data" / "ilsvrc12").mkdir(parents=True, exist_ok=True)
    write_blob(dst / "data" / "ilsvrc12" / "imagenet_mean.binaryproto", mean[None].astype(np.float32))


def _layer_blobs(rng, shape, std: float | None) -> list[np.ndarray]:
    std = np.sqrt(2.0 / int(np.prod(shape[1:]))) if std is None else std
    weight = rng.standard_normal(shape, dtype=np.float32) * np.float32(std)
    bias = rng.uniform(0.0, 0.2, size=shape[0]).astype(np.float32)
    return [weight, bias]


def write_weights(path: Path, layers: dict, rng, std: float | None = None) -> None:
    """A caffemodel holding ``layers`` (name -> (type, weight shape)) with seeded He-normal blobs
    (or gaussian ``std``)."""
    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.caffemodel import write_caffemodel

    net = caffe_pb2.NetParameter(name="CaffeNet")
    blobs = {}
    for name, (kind, shape) in layers.items():
        net.layer.add(name=name, type=kind)
        blobs[name] = _layer_blobs(rng, shape, std)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_caffemodel(path, net, blobs)


def build(dst: Path, seed: int = 20261204) -> Path:
    """Write the whole working folder under ``dst``; return ``dst``."""
    dst = Path(dst)
    rng = np.random.default_rng(seed)
    models = dst / "models" / "finetune_flickr_style"
    models.mkdir(parents=True, exist_ok=True)
    (models / "train_val.prototxt").write_text(shrink_train_val((FLICKR / "train_val.prototxt").read_text()))
    (models / "solver.prototxt").write_text(shrink_solver((FLICKR / "solver.prototxt").read_text()))
    write_images(dst, rng)
    write_mean(dst, rng)
    write_weights(dst / WEIGHTS, CAFFENET, rng)
    # small enough that the softmax is not saturated: the loss is a number, not Caffe's log(FLT_MIN) clamp
    write_weights(dst / FC8_FLICKR, {"fc8_flickr": ("InnerProduct", (20, 4096))}, rng, std=FC8_STD)
    return dst


def logged_test_outputs(log_text: str, iteration: int = 0) -> dict[str, float]:
    """``Test net output #k: name = value`` of the test at ``iteration`` in a Caffe-format log."""
    block = log_text.split(f"Iteration {iteration}, Testing net (#0)", 1)[1]
    outputs = {}
    for line in block.splitlines()[1:]:
        m = re.search(r"Test net output #\d+: (\S+) = ([-+0-9.eE]+|nan|inf)", line)
        if not m:
            break
        outputs[m.group(1)] = float(m.group(2))
    return outputs
