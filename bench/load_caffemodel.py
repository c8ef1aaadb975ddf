"""Benchmark: load a ~240 MB caffemodel with CaffeNet's parameter shapes.

Builds the file in a temporary folder (``tunewiz.caffe.caffemodel.write_caffemodel``),
then loads it with ``load_weights`` in a fresh subprocess and prints the load time
and the peak memory the load added (``VmHWM`` after − ``VmRSS`` before, from
/proc/self/status) against the file size.  The bar (issue 2): ≤ 3 s and ≤ 2× the
file size on a 2-core machine.

    python bench/load_caffemodel.py [--repeat 3] [--keep DIR] [--unpacked]

``--unpacked`` also measures the same weights with the float field NOT packed
(one key per value: legal protobuf, rare in practice, ~25% bigger).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# CaffeNet (bvlc_reference_caffenet) learnable blobs: name -> (type, weight shape, bias length)
CAFFENET = [
    ("conv1", "Convolution", (96, 3, 11, 11), 96),
    ("conv2", "Convolution", (256, 48, 5, 5), 256),
    ("conv3", "Convolution", (384, 256, 3, 3), 384),
    ("conv4", "Convolution", (384, 192, 3, 3), 384),
    ("conv5", "Convolution", (256, 192, 3, 3), 256),
    ("fc6", "InnerProduct", (4096, 9216), 4096),
    ("fc7", "InnerProduct", (4096, 4096), 4096),
    ("fc8", "InnerProduct", (1000, 4096), 1000),
]
_CHILD = """
import json, sys, time
def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
from tunewiz.caffe.caffemodel import load_weights
import numpy as np
before = status('VmRSS:')
t0 = time.perf_counter()
weights = load_weights(sys.argv[1])
seconds = time.perf_counter() - t0
peak = status('VmHWM:')
fc6 = weights['fc6'][0]
print(json.dumps({'seconds': seconds, 'before': before, 'peak': peak, 'params': weights.param_count,
                  'fc6_sum': float(fc6.astype(np.float64).sum()), 'fc6_shape': list(fc6.shape)}))
"""


def build(path: Path, seed: int = 0) -> dict:
    """Write the CaffeNet-shaped caffemodel; return the expected fc6 checksum."""
    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.caffemodel import write_caffemodel

    rng = np.random.default_rng(seed)
    net = caffe_pb2.NetParameter(name="CaffeNet")
    data = net.layer.add(name="data", type="Data", top=["data", "label"])
    data.data_param.source = "examples/imagenet/ilsvrc12_train_lmdb"
    blobs, bottom, fc6_sum = [[]], "data", 0.0
    for name, kind, shape, bias in CAFFENET:
        layer = net.layer.add(name=name, type=kind, bottom=[bottom], top=[name])
        layer.param.add(lr_mult=1, decay_mult=1)
        layer.param.add(lr_mult=2, decay_mult=0)
        weight = rng.standard_normal(shape, dtype=np.float32)
        if name == "fc6":
            fc6_sum = float(weight.astype(np.float64).sum())
        blobs.append([weight, np.full(bias, 0.1, np.float32)])
        if name != "fc8":
            net.layer.add(name=f"relu{name[-1]}", type="ReLU", bottom=[name], top=[name])
            blobs.append([])
        bottom = name
    net.layer.add(name="loss", type="SoftmaxWithLoss", bottom=[bottom, "label"], top=["loss"])
    blobs.append([])
    write_caffemodel(path, net, blobs)
    return {"fc6_sum": fc6_sum}


def build_unpacked(path: Path, source: Path) -> None:
    """The weights of ``source`` re-encoded with one ``data`` key per float (wire type 5)."""
    from tunewiz.caffe.caffemodel import read_net_binary
    from tunewiz.caffe.wire import encode_key, encode_varint

    binary = read_net_binary(source)
    with open(path, "wb") as out:
        for layer, blobs in zip(binary.net.layer, binary.layer_blobs()):
            body = [layer.SerializeToString()]  # all its fields are numbered below blobs (7)
            for blob in blobs:
                values = np.ascontiguousarray(blob.data, "<f4").reshape(-1)
                records = np.empty((values.size, 5), np.uint8)
                records[:, 0] = encode_key(5, 5)[0]
                records[:, 1:] = values.view(np.uint8).reshape(-1, 4)
                inner = blob.header.SerializeToString() + records.tobytes()
                body.append(encode_key(7, 2) + encode_varint(len(inner)) + inner)
            payload = b"".join(body)
            out.write(encode_key(100, 2) + encode_varint(len(payload)) + payload)


def measure(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="load runs (each in a fresh process)")
    parser.add_argument("--keep", help="write the caffemodel into this folder and keep it")
    parser.add_argument("--unpacked", action="store_true", help="also time a non-packed encoding")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        path = folder / "caffenet_shapes.caffemodel"
        t0 = time.perf_counter()
        expected = build(path)
        write_s = time.perf_counter() - t0
        size = path.stat().st_size
        print(f"file: {size / 1e6:.1f} MB ({size} bytes), built and written in {write_s:.2f} s")
        runs = [measure(path) for _ in range(args.repeat)]
        unpacked_line = ""
        if args.unpacked:
            unpacked = folder / "caffenet_shapes_unpacked.caffemodel"
            build_unpacked(unpacked, path)
            run = measure(unpacked)
            usize = unpacked.stat().st_size
            extra = run["peak"] - run["before"]
            unpacked_line = (f"non-packed file {usize / 1e6:.1f} MB: load {run['seconds']:.3f} s, peak memory "
                             f"added {extra / 1e6:.1f} MB = {extra / usize:.2f}x its size, values "
                             f"{'ok' if abs(run['fc6_sum'] - expected['fc6_sum']) < 1e-3 else 'WRONG'}")
    for i, run in enumerate(runs, 1):
        extra = run["peak"] - run["before"]
        ok = abs(run["fc6_sum"] - expected["fc6_sum"]) < 1e-6 * max(1.0, abs(expected["fc6_sum"]))
        print(f"load {i}: {run['seconds']:.3f} s, peak memory added {extra / 1e6:.1f} MB "
              f"= {extra / size:.2f}x file size, {run['params']} params, fc6 {run['fc6_shape']} "
              f"values {'ok' if ok else 'WRONG'}")
    if unpacked_line:
        print(unpacked_line)
    best = min(r["seconds"] for r in runs)
    worst_mem = max(r["peak"] - r["before"] for r in runs) / size
    verdict = "PASS" if best <= 3.0 and worst_mem <= 2.0 else "FAIL"
    print(f"best load {best:.3f} s (bar 3 s), worst peak {worst_mem:.2f}x file size (bar 2x): {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
