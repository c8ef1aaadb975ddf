"""Helpers for the wizard's tests: tiny class folders and a pretrained caffemodel made by the engine."""
from __future__ import annotations

from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wizard"
SIZES = [(80, 24), (120, 40)]


def make_class_folders(root: Path, classes=("five", "six", "seven"), per_class: int = 10, size: int = 8) -> Path:
    """Class folders of small grey PNGs; each class draws its bar in another place (learnable)."""
    import cv2

    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 60, (size, size), dtype=np.uint8)
            img[:, (2 * k) % size] = 255
            cv2.imwrite(str(folder / f"{i:03d}.png"), img)
    return root


def make_caffemodel(out: Path, ip1: int = 16) -> Path:
    """Weights for the tiny LeNet, made by the engine from the deploy net (``ip1`` changes a shape)."""
    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.prototxt import read_net_text
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import save_caffemodel

    param = read_net_text(FIXTURES / "tiny_deploy.prototxt")
    for layer in param.layer:
        if layer.name == "ip1":
            layer.inner_product_param.num_output = ip1
        if layer.type in ("Convolution", "InnerProduct"):
            getattr(layer, "convolution_param" if layer.type == "Convolution" else "inner_product_param") \
                .weight_filler.type = "xavier"
    net = Net(param, caffe_pb2.TEST, device="cpu", seed=1)
    save_caffemodel(net, out)
    return out


def state_at_start(prepared, run_name: str, max_iter: int | None = None):
    """A fresh WizardState whose Net and Solver stages are planned (as after step 4), for one test."""
    import copy

    from tunewiz.wizard import core

    st = copy.copy(prepared["state"])
    st.run_name = run_name
    st.max_iter = st.snapshot_every = max_iter
    st.net_plan = core.net_plan_for_solver(st)
    st.solver_stage = core.solver_stages(st, st.net_plan)[1]
    return st


def make_deploy_zoo(folder: Path, deploy: Path) -> Path:
    """A Model Zoo folder released as a deploy + caffemodel + readme.md (sha1) only, as many models are;
    the weights are written by tunewiz from the deploy itself (xavier fillers: no two units alike)."""
    import hashlib
    import shutil

    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.prototxt import read_net_text
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import save_caffemodel

    folder.mkdir(parents=True)
    shutil.copy(deploy, folder / "deploy.prototxt")
    param = read_net_text(deploy)
    for layer in param.layer:
        if layer.type in ("Convolution", "InnerProduct"):
            getattr(layer, "convolution_param" if layer.type == "Convolution" else "inner_product_param") \
                .weight_filler.type = "xavier"
    save_caffemodel(Net(param, caffe_pb2.TEST, device="cpu", seed=1), folder / "weights.caffemodel")
    sha1 = hashlib.sha1((folder / "weights.caffemodel").read_bytes()).hexdigest()
    (folder / "readme.md").write_text(f"---\nname: Deploy-only LeNet\ncaffemodel: weights.caffemodel\n"
                                      f"sha1: {sha1}\n---\nPreprocessing: gray pixels scaled by 1/256.\n")
    return folder
