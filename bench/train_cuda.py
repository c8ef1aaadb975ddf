"""CUDA training benchmark: throughput beside hand-written PyTorch, the LMDB feed, CPU-vs-CUDA agreement.

    python bench/train_cuda.py [--sections throughput,feed,agreement] [--precisions fp32,tf32,bf16]
                               [--iters 200] [--cpu-iters 20] [--quick]

Prints one JSON line per measurement:

* ``throughput`` (``bench/cuda_speed.py``): images/s of one training step (forward, backward, SGD update)
  of the engine and of the hand-written PyTorch twin (``bench/handwritten.py``) for CaffeNet b256 and a
  ResNet-50 b128, per precision (fp32 with TF32 off, TF32, bf16 with channels_last for the twin;
  cudnn.benchmark on), and ``engine_over_torch`` (bar: >= 1.00);
* ``feed``: CaffeNet b256 trained from an LMDB of JPEG-encoded 256x256 Datums with Caffe's transforms,
  over the same run on synthetic data (bar: >= 0.90);
* ``agreement``: the LeNet fixture (sgd_inv's solver from init.caffemodel) and a CaffeNet-shaped net
  reading a small LMDB (crop 227, batch 32): ``--iters`` iterations on CUDA (TF32 off) and the first
  ``--cpu-iters`` on the CPU; the largest relative difference of the per-iteration losses (bar: 1e-3).

Without CUDA everything runs on the CPU (then the agreement section reports CPU figures only);
``--quick`` shrinks batches and iterations to a smoke run (what tests/bench/test_train_cuda.py runs).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
FIX = ROOT / "tests" / "fixtures" / "training"

CAFFENET = """name: "CaffeNetShaped"
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
  transform_param { crop_size: 227 scale: 0.00390625 } data_param { source: "big_lmdb" batch_size: 32 backend: LMDB } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 96 kernel_size: 11 stride: 4 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "norm1" type: "LRN" bottom: "pool1" top: "norm1" lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }
layer { name: "conv2" type: "Convolution" bottom: "norm1" top: "conv2" convolution_param { num_output: 256 pad: 2 kernel_size: 5 group: 2 weight_filler { type: "gaussian" std: 0.01 } bias_filler { type: "constant" value: 1 } } }
layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "norm2" type: "LRN" bottom: "pool2" top: "norm2" lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }
layer { name: "conv3" type: "Convolution" bottom: "norm2" top: "conv3" convolution_param { num_output: 384 pad: 1 kernel_size: 3 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "relu3" type: "ReLU" bottom: "conv3" top: "conv3" }
layer { name: "conv4" type: "Convolution" bottom: "conv3" top: "conv4" convolution_param { num_output: 384 pad: 1 kernel_size: 3 group: 2 weight_filler { type: "gaussian" std: 0.01 } bias_filler { type: "constant" value: 1 } } }
layer { name: "relu4" type: "ReLU" bottom: "conv4" top: "conv4" }
layer { name: "conv5" type: "Convolution" bottom: "conv4" top: "conv5" convolution_param { num_output: 256 pad: 1 kernel_size: 3 group: 2 weight_filler { type: "gaussian" std: 0.01 } bias_filler { type: "constant" value: 1 } } }
layer { name: "relu5" type: "ReLU" bottom: "conv5" top: "conv5" }
layer { name: "pool5" type: "Pooling" bottom: "conv5" top: "pool5" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "fc6" type: "InnerProduct" bottom: "pool5" top: "fc6" inner_product_param { num_output: 4096 weight_filler { type: "gaussian" std: 0.005 } bias_filler { type: "constant" value: 1 } } }
layer { name: "relu6" type: "ReLU" bottom: "fc6" top: "fc6" }
layer { name: "fc7" type: "InnerProduct" bottom: "fc6" top: "fc7" inner_product_param { num_output: 4096 weight_filler { type: "gaussian" std: 0.005 } bias_filler { type: "constant" value: 1 } } }
layer { name: "relu7" type: "ReLU" bottom: "fc7" top: "fc7" }
layer { name: "fc8" type: "InnerProduct" bottom: "fc7" top: "fc8" inner_product_param { num_output: 10 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc8" bottom: "label" top: "loss" }
"""


def _big_lmdb(path: Path, n: int = 64) -> None:
    import lmdb

    from tunewiz.caffe import caffe_pb2

    rng = np.random.default_rng(0)
    env = lmdb.open(str(path), map_size=1 << 30)
    with env.begin(write=True) as txn:
        for i in range(n):
            d = caffe_pb2.Datum(channels=3, height=256, width=256, label=int(i % 10),
                                data=rng.integers(0, 256, (3, 256, 256), dtype=np.uint8).tobytes())
            txn.put(f"{i:08d}".encode(), d.SerializeToString())
    env.close()


def _run(root: Path, solver_text: str, device: str, iters: int, weights, numerics="caffe"):
    from tunewiz.caffe.prototxt import parse_text
    from tunewiz.caffe import caffe_pb2
    from tunewiz.engine.train.caffelog import CaffeLog
    from tunewiz.engine.train.trainer import TrainConfig, train

    sp = parse_text(solver_text, caffe_pb2.SolverParameter())
    sp.max_iter = iters
    losses, speeds, t0 = [], [], time.perf_counter()
    for e in train(TrainConfig(sp, root=root, weights=weights, device=device, log=CaffeLog(None, None),
                                   numerics=numerics)):
        if e.kind == "iteration":
            losses.append(e.outputs.get("loss", e.loss))
            speeds.append(e.images_per_s)
    return np.array(losses), float(np.median(speeds[2:] or speeds)), time.perf_counter() - t0


def _agreement(args, cuda: bool) -> None:
    work = Path(tempfile.mkdtemp())
    (work / "data").symlink_to(FIX / "data")
    (work / "init.caffemodel").symlink_to(FIX / "init.caffemodel")
    shutil.copytree(FIX / "sgd_inv", work / "sgd_inv")
    common = 'type: "SGD" base_lr: 0.01 momentum: 0.9 weight_decay: 0.0005 lr_policy: "fixed" display: 0 ' \
             'snapshot: 0 snapshot_after_train: false random_seed: 1701 '
    nets = {
        "lenet": ('net: "sgd_inv/train_val.prototxt" test_iter: 2 test_interval: 100000 test_initialization: false '
                  + common, ["init.caffemodel"]),
        "caffenet": ('net: "caffenet.prototxt" ' + common.replace("0.01", "0.001"), []),
    }
    if "caffenet" in args.nets:
        (work / "caffenet.prototxt").write_text(CAFFENET)
        _big_lmdb(work / "big_lmdb")
    for name in args.nets.split(","):
        text, weights = nets[name]
        result = {"section": "agreement", "net": name, "device": torch.cuda.get_device_name(0) if cuda else "cpu only"}
        cpu_losses, cpu_speed, cpu_s = _run(work, text, "cpu", args.cpu_iters, weights, args.numerics)
        result.update(cpu_images_per_s=round(cpu_speed, 1), cpu_iters=args.cpu_iters, cpu_seconds=round(cpu_s, 1))
        if cuda:
            losses, speed, seconds = _run(work, text, "cuda:0", args.iters, weights)
            n = min(len(cpu_losses), len(losses))
            rel = np.abs(losses[:n] - cpu_losses[:n]) / np.abs(cpu_losses[:n])
            result.update(cuda_images_per_s=round(speed, 1), cuda_iters=args.iters, cuda_seconds=round(seconds, 1),
                          max_rel_loss_cuda_vs_cpu=float(rel.max()), final_loss_cuda=float(losses[-1]),
                          agree_1e3=bool(rel.max() <= 1e-3))
        print(json.dumps(result), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sections", default="throughput,feed,agreement")
    ap.add_argument("--precisions", default="fp32,tf32,bf16")
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--cpu-iters", type=int, default=20)
    ap.add_argument("--nets", default="lenet,caffenet", help="the agreement section's nets")
    ap.add_argument("--numerics", default="caffe", choices=["caffe", "torch"], help="CPU numerics")
    ap.add_argument("--quick", action="store_true", help="a smoke run: batch 2, a few iterations")
    args = ap.parse_args()
    if args.quick:
        args.iters, args.cpu_iters, args.nets = 2, 2, "lenet"
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 2))
    cuda = torch.cuda.is_available()
    device = "cuda:0" if cuda else "cpu"
    sections = args.sections.split(",")
    import cuda_speed
    if "throughput" in sections:
        for name, batch in (("caffenet", 256), ("resnet50", 128)):
            for precision in args.precisions.split(","):
                result = cuda_speed.throughput(name, 2 if args.quick else batch, precision, device,
                                               1 if args.quick else 20)
                print(json.dumps({"section": "throughput", "device": device, **result}), flush=True)
    if "feed" in sections:
        result = cuda_speed.feed_ratio(2 if args.quick else 256, device, 2 if args.quick else 50,
                                       Path(tempfile.mkdtemp()))
        print(json.dumps({"section": "feed", "device": device, **result}), flush=True)
    if "agreement" in sections:
        _agreement(args, cuda)
    return 0


if __name__ == "__main__":
    sys.exit(main())
