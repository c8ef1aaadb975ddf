"""Helpers for the WindowData tests: Caffe's fixture (tests/fixtures/window_data) and window files."""
import json
from pathlib import Path

import numpy as np

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.prototxt import parse_text

FX = Path(__file__).parent.parent / "fixtures" / "window_data"
INDEX = json.loads((FX / "cases.json").read_text())
IMAGES = INDEX["images"]  # name -> [rows, cols]


def caffe_arrays() -> dict[str, np.ndarray]:
    with np.load(FX / "cases.npz") as npz:
        return {k: npz[k] for k in npz.files}


def write_window_file(path: Path, blocks) -> str:
    """``blocks``: [(image name, [(label, overlap, x1, y1, x2, y2), ...]), ...], numbered 0, 1, ..."""
    lines = []
    for i, (image, boxes) in enumerate(blocks):
        rows, cols = IMAGES[image]
        lines += [f"# {i}", image, "3", str(rows), str(cols), str(len(boxes))]
        lines += [" ".join(str(v) for v in box) for box in boxes]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def window_layer(source: str, transform: str = "crop_size: 16", window: str = "", name: str = "data",
                 tops=("data", "label")) -> caffe_pb2.LayerParameter:
    """A WindowData LayerParameter reading ``source`` with images from the fixture's folder."""
    batch = "" if "batch_size" in window else "batch_size: 8"
    text = (f'name: "{name}" type: "WindowData" ' + " ".join(f'top: "{t}"' for t in tops)
            + f" transform_param {{ {transform} }} window_data_param {{ source: \"{source}\" {batch} "
            f'root_folder: "{FX}/images/" {window} }}')
    return parse_text(text, caffe_pb2.LayerParameter())
