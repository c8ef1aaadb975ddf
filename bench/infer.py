"""Benchmark: forward-only inference on the CPU, tunewiz beside OpenCV 4.x dnn and real Caffe.

For the Model Zoo deploys (CaffeNet, GoogLeNet, SqueezeNet 1.1 from ../shared/model-zoo) and the two
nets ``bench/nets/make_nets.py`` writes (ResNet-50 with BatchNorm/Scale, MobileNet v1 depthwise), at
batch 1 (and CaffeNet at batch 8), 2 threads, with random He-normal weights written to a caffemodel
here, it times ``forward`` (median of ``--rounds`` rounds of ``--iters`` calls, each variant in its
own process, interleaved round by round):

* ``opencv``: ``cv2.dnn.readNetFromCaffe`` + ``net.forward()`` with OpenCV 4.x (OpenCV 5 dropped the
  Caffe importer, so it runs under another interpreter: ``--opencv-python``, by default the Caffe
  oracle's venv, ../shared/caffe-oracle, which has opencv-python-headless 4.10),
* ``caffe``: real Caffe's ``caffe time -phase TEST`` "Average Forward pass" (OpenBLAS on 2 threads;
  when ``caffe`` is on PATH or ``--caffe`` names it),
* ``infer``: ``tunewiz.engine.inference.infer`` on the engine's Net, what ``classify``, ``forward`` and the
  wizard's quick try run (the prepared path: folded BatchNorm/Scale, fused ReLU and sums, packed weights),
* ``pycaffe``: ``tunewiz.Net(...).forward()``, the same path keeping every blob (pycaffe shows them all),
* ``exact``: the same with ``set_forward_numerics("caffe")``: Caffe's summation order layer by layer,

and checks that all agree on the top-1 class of one random input (and how far infer's last layer's input,
the logits, is from exact's).  It prints the ratios to OpenCV dnn (the issue "Inference as fast as OpenCV's
dnn" asks ``infer / opencv <= 1.0`` and ``pycaffe / opencv <= 1.0``).

    python bench/infer.py [--rounds 3] [--iters 10] [--nets caffenet,googlenet,...] [--opencv-python PY]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ZOO = ROOT.parent / "shared" / "model-zoo"
NETS = {"caffenet": (ZOO / "bvlc_reference_caffenet" / "deploy.prototxt", 1),
        "caffenet_b8": (ZOO / "bvlc_reference_caffenet" / "deploy.prototxt", 8),
        "googlenet": (ZOO / "bvlc_googlenet" / "deploy.prototxt", 1),
        "squeezenet": (ZOO / "squeezenet_v1.1" / "deploy.prototxt", 1),
        "resnet50": (HERE / "nets" / "resnet50_deploy.prototxt", 1),
        "mobilenet": (HERE / "nets" / "mobilenet_v1_deploy.prototxt", 1)}
THREADS = 2

OPENCV = r"""
import json, sys, time
import cv2, numpy as np
proto, model, inp, iters = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cv2.setNumThreads(%d)
net = cv2.dnn.readNetFromCaffe(proto, model)
x = np.load(inp)
net.setInput(x); out = net.forward()
times = []
for _ in range(iters):
    start = time.perf_counter(); net.setInput(x); out = net.forward(); times.append(time.perf_counter() - start)
print(json.dumps({"ms": sorted(times)[len(times) // 2] * 1000, "top1": int(out.reshape(len(x), -1)[0].argmax())}))
""" % THREADS

TUNEWIZ = r"""
import json, sys, time
import numpy as np, torch
torch.set_num_threads(%d)
import tunewiz as caffe
proto, model, inp, iters, variant = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
x = np.load(inp)
if variant == "infer":  # what classify, forward and the wizard's quick try run: the engine's Net, infer()
    from tunewiz.caffe.netio import read_net
    from tunewiz.engine.inference import infer
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import copy_trained_layers
    net = Net(read_net(proto), "TEST", numerics="torch")
    copy_trained_layers(net, model)
    name = [w.tops[0] for w in net.wirings if w.type == "Input"][0]
    last = net.wirings[-1]
    run = lambda: infer(net, {name: torch.from_numpy(x)})
    read = lambda blobs: (blobs[last.tops[0]].numpy(), blobs[last.bottoms[0]].numpy())
else:  # pycaffe's Net.forward: the prepared path by default, Caffe's order with set_forward_numerics("caffe")
    caffe.set_forward_numerics("caffe" if variant == "exact" else "torch")
    net = caffe.Net(proto, model, caffe.TEST)
    name, last = net.inputs[0], list(net.layer_dict)[-1]
    def run():
        net.blobs[name].data[...] = x
        return net.forward()
    read = lambda out: (out[net.outputs[0]], net.blobs[net.bottom_names[last][0]].data)
out = run()
times = []
for _ in range(iters):
    start = time.perf_counter(); out = run(); times.append(time.perf_counter() - start)
prob, logits = read(out)
print(json.dumps({"ms": sorted(times)[len(times) // 2] * 1000, "top1": int(prob.reshape(len(x), -1)[0].argmax()),
                  "out": np.asarray(logits, np.float64).reshape(len(x), -1)[0].tolist()}))
""" % THREADS


def _prepare(name: str, folder: Path) -> tuple[Path, Path, Path]:
    """A batch-N copy of the net (upgraded text), He-normal random weights and one random input."""
    import numpy as np
    sys.path.insert(0, str(ROOT))
    import tunewiz as caffe
    from tunewiz.caffe.netio import read_net, write_net
    source, batch = NETS[name]
    param = read_net(source)
    param.layer[0].input_param.shape[0].dim[0] = batch
    proto = folder / f"{name}.prototxt"
    write_net(proto, param)
    net, rng = caffe.Net(str(proto), caffe.TEST), np.random.RandomState(0)
    for layer, blobs in net.params.items():
        kind = net.layer_dict[layer].type
        for i, blob in enumerate(blobs):
            shape = blob.data.shape
            if kind == "BatchNorm":
                blob.data[...] = (0.0, 1.0, 1.0)[i]
            elif kind == "Scale":
                blob.data[...] = 1.0 if i == 0 else 0.0
            elif i == 0:
                fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
                blob.data[...] = rng.randn(*shape) * np.sqrt(2.0 / fan_in)
            else:
                blob.data[...] = 0.0
    model = folder / f"{name}.caffemodel"
    net.save(str(model))
    data = net.blobs[net.inputs[0]].data.shape
    inp = folder / f"{name}_input.npy"
    np.save(inp, (rng.rand(*data) * 255 - 128).astype(np.float32))
    return proto, model, inp


def _run(cmd: list[str], env: dict) -> dict:
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"{' '.join(map(str, cmd[:4]))} failed ({out.returncode}):\n{(out.stdout + out.stderr)[-2000:]}")
    return json.loads(lines[-1])


def _caffe_ms(caffe: str, proto: Path, iters: int, env: dict) -> dict:
    out = subprocess.run([caffe, "time", "-model", str(proto), "-phase", "TEST", "-iterations", str(iters)],
                         env={**env, "OPENBLAS_NUM_THREADS": str(THREADS)}, capture_output=True, text=True)
    for line in (out.stdout + out.stderr).splitlines():
        if "Average Forward pass:" in line:
            return {"ms": float(line.split("Average Forward pass:")[1].split()[0]), "top1": None}
    raise SystemExit(f"caffe time failed:\n{(out.stdout + out.stderr)[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--nets", default="caffenet,caffenet_b8,googlenet,squeezenet,resnet50,mobilenet")
    parser.add_argument("--opencv-python", default=os.path.join(
        os.environ.get("CAFFE_ORACLE_PREFIX", "/opt/caffe-oracle"), "venv", "bin", "python"))
    parser.add_argument("--caffe", default=shutil.which("caffe"))
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GOMP_SPINCOUNT": "10000"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.nets.split(","):
            proto, model, inp = _prepare(name, Path(tmp))
            plain = [str(proto), str(model), str(inp), str(args.iters)]
            variants = {kind: [sys.executable, "-c", TUNEWIZ] + plain + [kind] for kind in ("infer", "pycaffe", "exact")}
            if os.path.exists(args.opencv_python):
                variants["opencv"] = [args.opencv_python, "-c", OPENCV] + plain
            results = {k: [] for k in variants}
            if args.caffe:
                results["caffe"] = []
            for _ in range(args.rounds):
                for kind, cmd in variants.items():
                    results[kind].append(_run(cmd, env))
                if args.caffe:
                    results["caffe"].append(_caffe_ms(args.caffe, proto, args.iters, env))
            rows.append(_row(name, results))
    _table(rows)


def _row(name: str, results: dict) -> dict:
    row = {"net": name, **{k: statistics.median(r["ms"] for r in v) for k, v in results.items()}}
    tops = {k: v[-1]["top1"] for k, v in results.items() if v[-1]["top1"] is not None}
    row["top1 agree"] = len(set(tops.values())) == 1
    import numpy as np
    fast, exact = (np.array(results[k][-1]["out"]) for k in ("infer", "exact"))
    row["infer vs exact"] = float(np.abs(fast - exact).max() / max(np.abs(exact).max(), 1e-30))
    return row


def _table(rows: list[dict]) -> None:
    kinds = [k for k in ("caffe", "opencv", "exact", "pycaffe", "infer") if k in rows[0]]
    shown = [k for k in ("infer", "pycaffe", "exact", "caffe") if k in rows[0] and "opencv" in rows[0]]
    print(f"\nforward only, {THREADS} threads, median ms; ratios to OpenCV dnn")
    print(f"{'net':12s} " + " ".join(f"{k:>8s}" for k in kinds) + " " + " ".join(f"{k + '/cv':>10s}" for k in shown)
          + "  top-1  logits infer-vs-exact")
    for row in rows:
        print(f"{row['net']:12s} " + " ".join(f"{row[k]:8.2f}" for k in kinds) + " "
              + " ".join(f"{row[k] / row['opencv']:10.2f}" for k in shown)
              + f"  {'same' if row['top1 agree'] else 'DIFF'}   {row['infer vs exact']:.1e}")


if __name__ == "__main__":
    main()
