"""Benchmark: forward + backward per iteration, the engine against hand-written PyTorch.

For ``bench/nets/lenet_b64.prototxt`` and ``bench/nets/caffenet_b8.prototxt`` (copies of
../shared/bench), with random data, TRAIN phase, fp32 (TF32 off), this times one iteration
``forward -> loss -> zero grads -> backward`` of

* ``engine``: ``tunewiz.engine.net.net.Net`` built from the prototxt, torch's kernels (``--numerics torch``),
* ``engine-caffe``: the same Net with Caffe's CPU summation order (``tunewiz.engine.layers.kernels.caffe_cpu``:
  im2col + OpenBLAS sgemm per image, Caffe's softmax loss) — what ``tunewiz train`` uses on the CPU
  by default (``--numerics caffe``), and
* ``torch``: the same net written by hand as an ``nn.Module`` (same shapes and layers),

interleaved in rounds so that all see the same machine state, and prints the median and
mean wall-clock ms per iteration, the minimum (the least disturbed iteration) and the median
process CPU time (less sensitive to other processes on a busy machine).

The side-by-side figures against real Caffe, per variant and with the bars of the issue "CPU speed",
are ``bench/cpu_speed.py``'s (each variant in its own process, ``tunewiz time`` and ``caffe time``);
this script keeps the in-process view: one interleaved loop, wall and process CPU time, so the
engine's own cost over the same kernels shows (``engine`` / ``torch`` near 1.0).

    python bench/forward_backward.py [--threads 2] [--iters 50] [--device cpu] [--nets lenet,caffenet]
                                     [--numerics torch,caffe]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
NETS = {"lenet": ("lenet_b64.prototxt", (64, 1, 28, 28), 10, 30),
        "caffenet": ("caffenet_b8.prototxt", (8, 3, 227, 227), 1000, 5)}


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 20, 5), nn.Conv2d(20, 50, 5)
        self.ip1, self.ip2 = nn.Linear(800, 500), nn.Linear(500, 10)

    def forward(self, x, label):
        x = F.max_pool2d(self.conv1(x), 2, 2, ceil_mode=True)
        x = F.max_pool2d(self.conv2(x), 2, 2, ceil_mode=True)
        x = self.ip2(F.relu(self.ip1(x.flatten(1))))
        return F.cross_entropy(x, label)


class CaffeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 96, 11, stride=4)
        self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
        self.fc6, self.fc7, self.fc8 = nn.Linear(9216, 4096), nn.Linear(4096, 4096), nn.Linear(4096, 1000)
        self.lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)

    def forward(self, x, label):
        x = self.lrn(F.max_pool2d(F.relu(self.conv1(x)), 3, 2, ceil_mode=True))
        x = self.lrn(F.max_pool2d(F.relu(self.conv2(x)), 3, 2, ceil_mode=True))
        x = F.relu(self.conv5(F.relu(self.conv4(F.relu(self.conv3(x))))))
        x = F.max_pool2d(x, 3, 2, ceil_mode=True).flatten(1)
        x = F.dropout(F.relu(self.fc6(x)), 0.5, True)
        x = F.dropout(F.relu(self.fc7(x)), 0.5, True)
        return F.cross_entropy(self.fc8(x), label)


def engine_step(net, inputs):
    params = [info.param for info in net.learnable_params()]

    def step():
        blobs = net.forward(inputs)
        loss = net.loss(blobs)
        for p in params:
            p.grad = None
        loss.backward()
    return step


def torch_step(model, x, label):
    params = list(model.parameters())

    def step():
        loss = model(x, label)
        for p in params:
            p.grad = None
        loss.backward()
    return step


def time_steps(steps: dict, iters: int, warmup: int) -> dict:
    for step in steps.values():
        for _ in range(warmup):
            step()
    times = {name: [] for name in steps}
    cpu = {name: [] for name in steps}
    for _ in range(iters):
        for name, step in steps.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            step()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times[name].append((time.perf_counter() - start) * 1000)
            cpu[name].append((time.process_time() - start_cpu) * 1000)
    return times, cpu


def bench(name: str, iters: int, device: str, numerics: list[str]) -> None:
    from tunewiz.caffe.prototxt import read_net_text
    from tunewiz.engine.net.net import Net

    proto, shape, classes, default_iters = NETS[name]
    iters = iters or default_iters
    x = torch.randn(shape, device=device)
    label = torch.randint(0, classes, (shape[0],), device=device)
    inputs = {"data": x, "label": label.float()}
    steps = {}
    for kind in numerics:
        net = Net(read_net_text(HERE / "nets" / proto), "TRAIN", device=device, seed=1, numerics=kind)
        steps["engine" if kind == "torch" else "engine-caffe"] = engine_step(net, inputs)
    model = (LeNet() if name == "lenet" else CaffeNet()).to(device)
    steps["torch"] = torch_step(model, x, label)
    times, cpu = time_steps(steps, iters, warmup=3)
    for kind, values in times.items():
        print(f"{name:9s} {kind:12s} min {min(values):8.1f} ms   median {statistics.median(values):8.1f} ms"
              f"   mean {statistics.mean(values):8.1f} ms"
              f"   cpu {statistics.median(cpu[kind]):8.1f} ms   ({iters} iterations, {torch.get_num_threads()} "
              f"threads, {device})")
    for kind in steps:
        if kind == "torch":
            continue
        ratio = statistics.median(times[kind]) / statistics.median(times["torch"])
        cpu_ratio = statistics.median(cpu[kind]) / statistics.median(cpu["torch"])
        min_ratio = min(times[kind]) / min(times["torch"])
        print(f"{name:9s} {kind} / hand-written torch = {ratio:.3f} (median wall), {min_ratio:.3f} (min wall), "
              f"{cpu_ratio:.3f} (median process cpu time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=0, help="timed iterations (default 30 LeNet, 5 CaffeNet)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--nets", default="lenet,caffenet")
    parser.add_argument("--numerics", default="torch,caffe",
                        help="engine variants: torch (torch's kernels), caffe (Caffe's CPU order, train's default)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    for name in args.nets.split(","):
        bench(name, args.iters, args.device, [k for k in args.numerics.split(",") if k])


if __name__ == "__main__":
    main()
