"""Training throughput, the engine beside hand-written PyTorch, and the LMDB feed's share of it.

Used by ``bench/train_cuda.py`` (read its docstring); runs on the CPU too (``--quick``: tiny batches,
what the tests run).  Per net and precision, one training step is forward, loss, backward and the
SGD update (momentum 0.9, weight_decay 5e-4) on random images:

* ``engine``: ``tunewiz.engine`` Net + the SGD solver's update, as ``tunewiz train`` runs them;
* ``torch``: the hand-written twin (``bench/handwritten.py``) with ``torch.optim.SGD``.

Precisions: ``fp32`` (TF32 off), ``tf32``, ``bf16`` (autocast; channels_last for the hand-written
net).  ``feed_ratio`` trains CaffeNet through the Trainer from an LMDB of JPEG-encoded 256x256 Datums
with Caffe's transforms (crop 227, mirror, mean values) and divides its images/s by the same run's
synthetic-data rate (Input layers): the GPU must never wait for data (bar 0.90).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from handwritten import CaffeNet, ResNet50  # noqa: E402


def engine_param(name: str, batch: int):
    """The benchmark net as a NetParameter with Input layers at ``batch``."""
    from tunewiz.caffe.netio import read_net
    if name == "resnet50":
        from nets.make_nets import resnet50
        return resnet50(batch, train=True)
    param = read_net(HERE / "nets" / "caffenet_b8.prototxt")
    for layer in param.layer[:2]:
        layer.input_param.shape[0].dim[0] = batch
    return param


def _shape(name: str, batch: int):
    return (batch, 3, 224, 224) if name == "resnet50" else (batch, 3, 227, 227)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _engine_step(name: str, batch: int, precision: str, device: str):
    from tunewiz.caffe import caffe_pb2
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.solvers.factory import create_solver
    net = Net(engine_param(name, batch), "TRAIN", device=device, seed=1, precision=precision, numerics="torch")
    sp = caffe_pb2.SolverParameter(base_lr=0.001, momentum=0.9, weight_decay=0.0005)
    solver, params = create_solver(sp, net.learnable_params()), [i.param for i in net.learnable_params()]
    x = torch.randn(_shape(name, batch), device=device)
    inputs = {"data": x, "label": torch.randint(0, 1000, (batch,), device=device).float()}

    def step():
        for p in params:
            p.grad = None
        net.loss(net.forward(inputs)).backward()
        solver.apply_update(0.001)
    return step


def _torch_step(name: str, batch: int, precision: str, device: str):
    model = (ResNet50() if name == "resnet50" else CaffeNet()).to(device)
    fmt = torch.channels_last if precision == "bf16" else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9, weight_decay=0.0005)
    x = torch.randn(_shape(name, batch), device=device).to(memory_format=fmt)
    label = torch.randint(0, 1000, (batch,), device=device)
    kind = "cuda" if device.startswith("cuda") else "cpu"

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(kind, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(x, label)
        loss.backward()
        opt.step()
    return step


def _set_tf32(precision: str) -> None:
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = precision == "tf32"
    torch.backends.cudnn.benchmark = True


def images_per_s(step, batch: int, iters: int, device: str, warmup: int = 3) -> float:
    for _ in range(warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        step()
    _sync(device)
    return batch * iters / (time.perf_counter() - start)


def throughput(name: str, batch: int, precision: str, device: str, iters: int) -> dict:
    """Images/s of the engine and the hand-written net, interleaved twice, and their ratio."""
    _set_tf32(precision)
    steps = {"engine": _engine_step(name, batch, precision, device),
             "torch": _torch_step(name, batch, precision, device)}
    rates = {k: [] for k in steps}
    for _ in range(2):
        for kind, step in steps.items():
            rates[kind].append(images_per_s(step, batch, iters, device, warmup=1 if iters < 3 else 3))
    best = {k: max(v) for k, v in rates.items()}
    return {"net": name, "batch": batch, "precision": precision, "engine_images_per_s": round(best["engine"], 1),
            "torch_images_per_s": round(best["torch"], 1), "engine_over_torch": round(best["engine"] / best["torch"], 3)}


def jpeg_lmdb(path: Path, n: int) -> None:
    """``n`` JPEG-encoded 256x256 colour Datums (encoded: true, as convert_imageset --encoded)."""
    import cv2
    import lmdb

    from tunewiz.caffe import caffe_pb2
    rng = np.random.default_rng(0)
    env = lmdb.open(str(path), map_size=1 << 31)
    with env.begin(write=True) as txn:
        for i in range(n):
            image = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
            data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
            txn.put(f"{i:08d}".encode(), caffe_pb2.Datum(data=data, encoded=True, label=i % 10).SerializeToString())
    env.close()


FED = """name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
  transform_param { crop_size: 227 mirror: true mean_value: 104 mean_value: 117 mean_value: 123 }
  data_param { source: "SOURCE" batch_size: BATCH backend: LMDB }"""


def feed_ratio(batch: int, device: str, iters: int, work: Path) -> dict:
    """CaffeNet trained by the Trainer from a JPEG LMDB, over the same Trainer on Input layers."""
    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.netio import write_net
    from tunewiz.caffe.prototxt import parse_text
    jpeg_lmdb(work / "jpeg_lmdb", max(4 * batch, 64))
    synthetic = engine_param("caffenet", batch)
    write_net(work / "synthetic.prototxt", synthetic)
    fed = engine_param("caffenet", batch)
    del fed.layer[:2]
    text = FED.replace("SOURCE", str(work / "jpeg_lmdb")).replace("BATCH", str(batch))
    fed.layer.insert(0, parse_text(text, caffe_pb2.LayerParameter()))
    write_net(work / "fed.prototxt", fed)
    rates = {kind: _train_rate(work, f"{kind}.prototxt", device, iters) for kind in ("synthetic", "fed")}
    return {"net": "caffenet", "batch": batch, "fed_images_per_s": round(rates["fed"], 1),
            "synthetic_images_per_s": round(rates["synthetic"], 1),
            "feed_ratio": round(rates["fed"] / rates["synthetic"], 3)}


def _train_rate(work: Path, net: str, device: str, iters: int) -> float:
    from tunewiz.caffe import caffe_pb2
    from tunewiz.engine.train.caffelog import CaffeLog
    from tunewiz.engine.train.trainer import TrainConfig, train
    sp = caffe_pb2.SolverParameter(net=net, base_lr=0.001, momentum=0.9, weight_decay=0.0005, lr_policy="fixed",
                                   max_iter=iters + 3, display=0, snapshot_after_train=False, random_seed=1)
    rates = [e.images_per_s for e in train(TrainConfig(sp, root=work, weights=[], device=device,
                                                       log=CaffeLog(None, None), numerics="torch"))
             if e.kind == "iteration" and e.images_per_s]
    return float(np.median(rates[3:] or rates))
