"""Benchmark: ``tunewiz time`` beside real Caffe's ``caffe time`` and hand-written PyTorch, on the CPU.

For LeNet batch 64 and CaffeNet batch 8 (``bench/nets``, Input layers, random data) and the Model Zoo
CaffeNet ``train_val.prototxt`` at batch 8 (its Data layer reads an LMDB of 256x256 images and a mean
file this script makes in a temporary folder with ``tunewiz convert-imageset`` / ``compute-image-mean``),
it runs, interleaved round after round so that all see the same machine state:

* ``caffe``: real BVLC Caffe 1.0, ``caffe time -model NET -iterations N`` (OpenBLAS on one thread, as
  Caffe runs by default; ``../shared/caffe-oracle`` builds it: ``--caffe PATH`` or ``caffe`` on PATH),
* ``exact``: ``tunewiz time --numerics caffe`` (Caffe's own summation order),
* ``fast``: ``tunewiz time --numerics torch`` (torch's kernels),
* ``torch``: the same net written by hand in PyTorch (``bench/forward_backward.py``'s modules; random
  tensors, no data layer), forward + backward timed as ``caffe time`` does,

each in its own process, and prints the median "Average Forward-Backward" per variant with the ratios
the issue "CPU speed" sets: exact / caffe <= 1.1, fast / caffe <= 0.7, torch / fast >= 1.0.

    python bench/cpu_speed.py [--rounds 3] [--nets lenet,caffenet,trainval] [--caffe PATH]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ZOO = ROOT.parent / "shared" / "model-zoo" / "bvlc_reference_caffenet" / "train_val.prototxt"
NETS = {"lenet": ("nets/lenet_b64.prototxt", 40), "caffenet": ("nets/caffenet_b8.prototxt", 6),
        "trainval": (None, 6)}
AVERAGE = re.compile(r"Average Forward-Backward: ([0-9.eE+-]+) ms")


def _ms(cmd: list[str], env: dict) -> float:
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    found = AVERAGE.findall(out.stdout + out.stderr)
    if out.returncode != 0 or not found:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{(out.stdout + out.stderr)[-2000:]}")
    return float(found[-1])


def _hand_written(name: str, iters: int) -> None:
    """Child mode: time the hand-written PyTorch net like ``caffe time`` and print its line."""
    import time

    import torch
    sys.path.insert(0, str(HERE))
    from forward_backward import CaffeNet, LeNet, torch_step
    model, shape, classes = (LeNet(), (64, 1, 28, 28), 10) if name == "lenet" else (CaffeNet(), (8, 3, 227, 227), 1000)
    step = torch_step(model, torch.randn(shape), torch.randint(0, classes, (shape[0],)))
    step()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    print(f"Average Forward-Backward: {(time.perf_counter() - start) / iters * 1000:.3f} ms.")


def _trainval(folder: Path) -> Path:
    """The Model Zoo CaffeNet train_val at batch 8 on a small LMDB + mean made here (64 images, 2 classes)."""
    import cv2
    import numpy as np
    images, rng, lines = folder / "images", np.random.RandomState(0), []
    images.mkdir(parents=True)
    for i in range(64):
        cv2.imwrite(str(images / f"{i}.jpg"), rng.randint(0, 255, (256, 256, 3)).astype("uint8"))
        lines.append(f"{i}.jpg {i % 2}")
    (folder / "list.txt").write_text("\n".join(lines) + "\n")
    tw = [sys.executable, "-m", "tunewiz"]
    subprocess.run(tw + ["convert-imageset", f"{images}/", str(folder / "list.txt"), str(folder / "lmdb")],
                   check=True, capture_output=True, cwd=ROOT)
    subprocess.run(tw + ["compute-image-mean", str(folder / "lmdb"), str(folder / "mean.binaryproto")],
                   check=True, capture_output=True, cwd=ROOT)
    text = ZOO.read_text()
    text = text.replace("examples/imagenet/ilsvrc12_train_lmdb", str(folder / "lmdb"))
    text = text.replace("examples/imagenet/ilsvrc12_val_lmdb", str(folder / "lmdb"))
    text = text.replace("data/ilsvrc12/imagenet_mean.binaryproto", str(folder / "mean.binaryproto"))
    text = text.replace("batch_size: 256", "batch_size: 8")
    net = folder / "caffenet_train_val_b8.prototxt"
    net.write_text(text)
    return net


def _variants(net: Path, iters: int, name: str, caffe: str) -> dict:
    tw = [sys.executable, "-m", "tunewiz", "time", "--model", str(net), "--iterations", str(iters)]
    hand = "lenet" if name == "lenet" else "caffenet"
    return {"caffe": [caffe, "time", "-model", str(net), "-iterations", str(iters)],
            "exact": tw + ["--numerics", "caffe"],
            "fast": tw + ["--numerics", "torch"],
            "torch": [sys.executable, __file__, "--hand-written", hand, "--iters", str(iters)]}


def _report(name: str, times: dict) -> None:
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{name}: median of {len(times['caffe'])} rounds, ms per forward+backward")
    for kind, values in times.items():
        print(f"  {kind:6s} {med[kind]:9.2f}   (rounds: {', '.join(f'{v:.2f}' for v in values)})")
    print(f"  exact / caffe = {med['exact'] / med['caffe']:.3f}  (bar <= 1.1)")
    print(f"  fast  / caffe = {med['fast'] / med['caffe']:.3f}  (bar <= 0.7)")
    print(f"  torch / fast  = {med['torch'] / med['fast']:.3f}  (bar >= 1.0: the fast path at least as fast "
          f"as hand-written PyTorch)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nets", default="lenet,caffenet,trainval")
    parser.add_argument("--caffe", default=shutil.which("caffe") or os.path.join(
        os.environ.get("CAFFE_ORACLE_PREFIX", "/opt/caffe-oracle"), "build", "tools", "caffe"))
    parser.add_argument("--hand-written", help=argparse.SUPPRESS)
    parser.add_argument("--iters", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hand_written:
        _hand_written(args.hand_written, args.iters)
        return
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.nets.split(","):
            rel, iters = NETS[name]
            net = _trainval(Path(tmp) / name) if rel is None else HERE / rel
            commands = _variants(net, iters, name, args.caffe)
            times = {kind: [] for kind in commands}
            for _ in range(args.rounds):
                for kind, cmd in commands.items():
                    times[kind].append(_ms(cmd, env))
            _report(name if rel else "CaffeNet train_val (Model Zoo) batch 8", times)


if __name__ == "__main__":
    main()
