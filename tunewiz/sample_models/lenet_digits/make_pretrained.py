"""Build the lenet_digits sample: export the images and pretrain LeNet on digits 0-4 with tunewiz.

Build-time tool only (needs scikit-learn, which tunewiz itself does not need):

    pip install scikit-learn
    python tunewiz/sample_models/lenet_digits/make_pretrained.py  # from the repository root

What it does, deterministically:
1. loads scikit-learn's 8x8 digits (1797 images, values 0-16; BSD-3, from the UCI
   "Optical Recognition of Handwritten Digits" set) and scales them to 0-255 (v * 255 / 16);
2. writes the digits 5-9 as class folders ``images/5 .. images/9`` (8x8 grayscale PNGs) and
   the lists ``train.txt``/``val.txt`` (label = digit - 5, 36 validation images per class,
   split with a fixed seed) - the data of the fine-tune, ready for step 1;
3. in a scratch folder, exports digits 0-4 the same way, converts them with
   ``tunewiz convert-imageset --gray`` resized to 20x20, and trains ``lenet_solver.prototxt``
   from scratch with ``tunewiz train``; the final weights become ``lenet_digits04.caffemodel``.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
SIZE = 20
VAL_PER_CLASS = 36
SEED = 1701


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as sk_load

    d = sk_load()
    images = np.rint(d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    return images, d.target.astype(int)


def export(images, targets, digits, root: Path) -> tuple[list[str], list[str]]:
    """Class folders root/<digit>/NNNN.png; returns train and val list lines (label = index in digits)."""
    rng = np.random.default_rng(SEED)
    train, val = [], []
    for label, digit in enumerate(digits):
        folder = root / str(digit)
        folder.mkdir(parents=True, exist_ok=True)
        idx = np.flatnonzero(targets == digit)
        lines = []
        for i in idx:
            name = f"{i:04d}.png"
            cv2.imwrite(str(folder / name), images[i])
            lines.append(f"{digit}/{name} {label}")
        order = rng.permutation(len(lines))
        val += [lines[j] for j in order[:VAL_PER_CLASS]]
        train += [lines[j] for j in order[VAL_PER_CLASS:]]
    rng.shuffle(train)
    return train, val


def tunewiz(*args: str, cwd: Path) -> None:
    cmd = [sys.executable, "-m", "tunewiz", *args]
    print("$ tunewiz " + " ".join(args), flush=True)
    subprocess.run(cmd, cwd=cwd, check=True)


def convert(root: Path, list_file: Path, db: Path, cwd: Path) -> None:
    tunewiz("convert-imageset", "--gray", f"--resize_height={SIZE}", f"--resize_width={SIZE}",
            str(root) + "/", str(list_file), str(db), cwd=cwd)


def main() -> int:
    images, targets = load_digits()
    out_images = HERE / "images"
    if out_images.exists():
        shutil.rmtree(out_images)
    train, val = export(images, targets, [5, 6, 7, 8, 9], out_images)
    (HERE / "train.txt").write_text("\n".join(train) + "\n")
    (HERE / "val.txt").write_text("\n".join(val) + "\n")
    print(f"digits 5-9: {len(train)} training and {len(val)} validation images in {out_images}")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tr, va = export(images, targets, [0, 1, 2, 3, 4], work / "images04")
        (work / "train.txt").write_text("\n".join(tr) + "\n")
        (work / "val.txt").write_text("\n".join(va) + "\n")
        convert(work / "images04", work / "train.txt", work / "digits04_train_lmdb", work)
        convert(work / "images04", work / "val.txt", work / "digits04_val_lmdb", work)
        for name in ("lenet_train_val.prototxt", "lenet_solver.prototxt"):
            shutil.copy(HERE / name, work / name)
        tunewiz("train", "--solver", "lenet_solver.prototxt", cwd=work)
        shutil.copy(work / "lenet_digits04_iter_600.caffemodel", HERE / "lenet_digits04.caffemodel")
    print(f"wrote {HERE / 'lenet_digits04.caffemodel'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
