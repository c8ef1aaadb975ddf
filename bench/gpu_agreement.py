"""GPU check: the same nets on CUDA agree with the CPU within 1e-4 relative (fp32, TF32 off).

For ``bench/nets/lenet_b64.prototxt`` and ``bench/nets/caffenet_b8.prototxt`` (Dropout layers
removed, since their random masks differ between devices), this builds the net on the
CPU with a seed, copies every param to the other device, feeds the same random batch, runs
forward + backward on both and prints the largest relative difference of the loss, of every
blob and of every param gradient (relative to the largest magnitude of that array).

    python bench/gpu_agreement.py [--device cuda] [--precision fp32] [--nets lenet,caffenet]

Exit status 1 when a difference exceeds ``--tol`` (default 1e-4).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
NETS = {"lenet": ("lenet_b64.prototxt", 10), "caffenet": ("caffenet_b8.prototxt", 1000)}


def _no_dropout(net_param):
    keep = [layer for layer in net_param.layer if layer.type != "Dropout"]
    del net_param.layer[:]
    for layer in keep:
        net_param.layer.add().CopyFrom(layer)
    return net_param


def _run(net, x, label):
    blobs = net.forward({"data": x, "label": label})
    loss = net.loss(blobs)
    loss.backward()
    return loss.detach(), {k: v.detach() for k, v in blobs.items()}, [p.grad for p in net.parameters()]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().cpu(), b.double().cpu()
    return float((a - b).abs().max() / max(b.abs().max().item(), 1e-30))


def compare(name: str, device: str, precision: str) -> float:
    from tunewiz.caffe.prototxt import read_net_text
    from tunewiz.engine.net.net import Net

    proto, classes = NETS[name]
    net_param = _no_dropout(read_net_text(HERE / "nets" / proto))
    cpu = Net(net_param, "TRAIN", seed=1)
    other = Net(net_param, "TRAIN", device=device, precision=precision)
    with torch.no_grad():
        for a, b in zip(cpu.parameters(), other.parameters()):
            b.copy_(a)
    shape = cpu.blob_shapes["data"]
    x = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    label = torch.randint(0, classes, (shape[0],), generator=torch.Generator().manual_seed(3)).float()
    loss_c, blobs_c, grads_c = _run(cpu, x, label)
    loss_o, blobs_o, grads_o = _run(other, x.to(device), label.to(device))
    worst = _rel(loss_o, loss_c)
    print(f"{name}: loss cpu {loss_c.item():.7g} {device} {loss_o.item():.7g} rel {worst:.2e}")
    for blob in blobs_c:
        worst = max(worst, _rel(blobs_o[blob], blobs_c[blob]))
    for info, gc, go in zip(cpu.learnable_params(), grads_c, grads_o):
        if gc is not None:
            diff = _rel(go, gc)
            worst = max(worst, diff)
            print(f"  grad {info.layer_name}/{info.index} rel {diff:.2e}")
    print(f"{name}: largest relative difference {worst:.2e}")
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--nets", default="lenet,caffenet")
    parser.add_argument("--tol", type=float, default=1e-4)
    args = parser.parse_args()
    worst = max(compare(name, args.device, args.precision) for name in args.nets.split(","))
    print(f"overall largest relative difference {worst:.2e} (tolerance {args.tol:g})")
    return int(worst > args.tol)


if __name__ == "__main__":
    sys.exit(main())
