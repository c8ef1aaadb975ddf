"""Benchmark: what a 3x3 convolution costs on the CPU by each way torch offers, and how exact each is.

OpenCV's dnn runs 3x3 stride-1 convolutions by Winograd's F(6x6, 3x3) (``net.enableWinograd``, on by
default); tunewiz's inference path by oneDNN's direct convolution.  This prints, for the 3x3 layers of
GoogLeNet and SqueezeNet at batch 1 on 2 threads (median ms of ``--iters`` calls):

* ``direct``: oneDNN's ``_convolution_pointwise`` on NHWC with packed weights (what tunewiz runs),
* ``F(2,3)`` / ``F(4,3)``: Winograd written with torch's batched matrix products (transforms by one dense
  product each, the 16 or 36 tile positions by one ``bmm``),
* ``nnpack``: ``torch._nnpack_spatial_convolution`` (NNPACK's Winograd, NCHW),

with each one's largest error against a float64 convolution, relative to the output's largest value
(the exact path's sums are within ~1e-6 of it; the layer fixtures allow 1e-5 of each value).  With
``--opencv`` it also times OpenCV dnn's GoogLeNet and SqueezeNet with Winograd on and off
(``bench/infer.py``'s nets and weights), which is where its lead over tunewiz comes from.

    python bench/conv3x3.py [--iters 30] [--opencv]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
SHAPES = {"googlenet conv2/3x3": (64, 192, 56), "googlenet 3a/3x3": (96, 128, 28), "googlenet 3b/3x3": (128, 192, 28),
          "googlenet 4a/3x3": (96, 208, 14), "googlenet 5a/3x3": (160, 320, 7), "squeezenet fire2/e3": (16, 64, 56),
          "squeezenet fire4/e3": (32, 128, 28), "squeezenet fire8/e3": (64, 256, 14)}
MATRICES = {  # (B^T, G, A^T) of Winograd's F(m, 3)
    2: ([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]]),
    4: ([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
         [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
        [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
         [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]])}


class Winograd:
    """F(m x m, 3 x 3), pad 1, stride 1, on an NHWC input; bias added and ReLU applied at the end."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, m: int):
        bt, g, at = (np.array(a, np.float64) for a in MATRICES[m])
        self.m, self.a, self.bias = m, m + 2, bias
        u = np.einsum("ik,ockl,jl->ijco", g, weight.double().numpy(), g)
        self.u = torch.from_numpy(u.reshape(self.a * self.a, weight.shape[1], weight.shape[0])).float().contiguous()
        self.b = torch.from_numpy(np.kron(bt, bt)).float()
        self.at = torch.from_numpy(np.kron(at, at)).float()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        m, a = self.m, self.a
        th, tw = -(-h // m), -(-w // m)
        xp = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, tw * m + 1 - w, 1, th * m + 1 - h))
        tiles = xp.unfold(1, a, m).unfold(2, a, m).permute(4, 5, 0, 1, 2, 3).reshape(a * a, -1)
        v = (self.b @ tiles).view(a * a, n * th * tw, c)
        prod = torch.bmm(v, self.u)
        k = prod.shape[2]
        y = (self.at @ prod.view(a * a, -1)).view(m, m, n, th, tw, k).permute(2, 3, 0, 4, 1, 5)
        y = y.reshape(n, th * m, tw * m, k)[:, :h, :w]
        out = torch.empty((n, k, h, w), memory_format=torch.channels_last)
        torch.add(y, self.bias, out=out.permute(0, 2, 3, 1))
        return out.relu_()


def _median_ms(fn, iters: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got.double() - want).abs().max() / want.abs().max())


def layer_rows(iters: int) -> list[tuple]:
    mk = torch.ops.mkldnn
    nnpack = torch._nnpack_available()  # also what makes NNPACK usable: it initialises it
    rows = []
    rng = torch.Generator().manual_seed(0)
    for name, (cin, cout, hw) in SHAPES.items():
        x = torch.randn(1, cin, hw, hw, generator=rng).contiguous(memory_format=torch.channels_last)
        weight = torch.randn(cout, cin, 3, 3, generator=rng) * (2.0 / (9 * cin)) ** 0.5
        bias = torch.randn(cout, generator=rng) * 0.1
        want = F.conv2d(x.double(), weight.double(), bias.double(), 1, 1).relu()
        packed = mk._reorder_convolution_weight(weight, [1, 1], [1, 1], [1, 1], 1, list(x.shape))
        ways = {"direct": lambda: mk._convolution_pointwise(x, packed, bias, [1, 1], [1, 1], [1, 1], 1, "relu", [], ""),
                "F(2,3)": Winograd(weight, bias, 2).__call__, "F(4,3)": Winograd(weight, bias, 4).__call__}
        if nnpack:
            plain = x.contiguous()
            ways["nnpack"] = lambda: torch._nnpack_spatial_convolution(plain, weight, bias, [1, 1]).relu_()
        cells = {}
        for way, fn in ways.items():
            call = fn if way != "F(2,3)" and way != "F(4,3)" else (lambda fn=fn: fn(x))
            cells[way] = (_median_ms(call, iters), _error(call(), want))
        rows.append((name, cells))
    return rows


OPENCV = r"""
import sys, time, statistics, cv2, numpy as np
cv2.setNumThreads(2)
for proto, model, inp in zip(*[iter(sys.argv[1:])] * 3):
    x = np.load(inp)
    for wino in (True, False):
        net = cv2.dnn.readNetFromCaffe(proto, model)
        net.enableWinograd(wino)
        for _ in range(3):
            net.setInput(x); net.forward()
        t = []
        for _ in range(15):
            s = time.perf_counter(); net.setInput(x); net.forward(); t.append(time.perf_counter() - s)
        print(proto.rsplit("/", 1)[-1].split(".")[0], "winograd", "on " if wino else "off", round(statistics.median(t) * 1000, 2), "ms")
"""


def opencv_lines(python: str) -> str:
    sys.path.insert(0, str(HERE))
    import infer

    with tempfile.TemporaryDirectory() as tmp:
        files = [str(p) for name in ("googlenet", "squeezenet") for p in infer._prepare(name, Path(tmp))]
        out = subprocess.run([python, "-c", OPENCV, *files], capture_output=True, text=True)
        return out.stdout + out.stderr[-500:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--opencv", action="store_true", help="also OpenCV dnn's nets with Winograd on and off")
    parser.add_argument("--opencv-python", default=os.path.join(
        os.environ.get("CAFFE_ORACLE_PREFIX", "/opt/caffe-oracle"), "venv", "bin", "python"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = layer_rows(args.iters)
    ways = list(rows[0][1])
    print("3x3 convolutions, batch 1, 2 threads: median ms (largest error / largest output vs float64)")
    print(f"{'layer':22s} " + " ".join(f"{w:>18s}" for w in ways))
    for name, cells in rows:
        print(f"{name:22s} " + " ".join(f"{cells[w][0]:8.3f} ({cells[w][1]:.0e})" for w in ways))
    totals = {w: sum(cells[w][0] for _, cells in rows) for w in ways}
    print(f"{'sum':22s} " + " ".join(f"{totals[w]:8.3f}         " for w in ways))
    if args.opencv and os.path.exists(args.opencv_python):
        print(opencv_lines(args.opencv_python))


if __name__ == "__main__":
    main()
