"""Export agreement: ONNX (onnxruntime) and the ``torch.export`` program against tunewiz's forward.

For LeNet (the bundled sample), a CaffeNet-shaped net (LRN across and within channels, ceil-mode MAX and
AVE pooling on the ceil edge, group conv), a BatchNorm (scale factor 2.5)/Scale/Eltwise ResNet block (the
nets of ``tests/export``) and, with ``--zoo``, the Model Zoo deploys under ``../shared/model-zoo`` (random
weights: none ship): exports with ``tunewiz export``'s code, runs both files at batch 1 and 3 on random
inputs, and prints the max abs and max relative (max |diff| / max |reference|) difference of every output,
inner blobs included.

    python bench/export_agreement.py [--zoo]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ZOO = ROOT.parent / "shared" / "model-zoo"
INNER = {"caffenet_small": ["pool1", "norm1", "pool2", "norm2", "pool5", "fc7"], "resnet_block": ["res0", "fc5"]}
ZOO_DEPLOYS = {"CaffeNet": "bvlc_reference_caffenet", "GoogLeNet": "bvlc_googlenet", "SqueezeNet 1.1": "squeezenet_v1.1"}


def _nets(folder: Path, zoo: bool):
    from tests.export import nets
    from tunewiz.sample_models import LENET_DIGITS

    yield "LeNet (sample)", LENET_DIGITS / "lenet_deploy.prototxt", LENET_DIGITS / "lenet_digits04.caffemodel", []
    for name in ("caffenet_small", "resnet_block"):
        yield (name, *nets.write_net(folder, name, getattr(nets, name)()), INNER[name])
    if zoo:
        for name, rel in ZOO_DEPLOYS.items():
            deploy = _find(rel)
            if deploy is not None:
                yield (name, deploy, _random_weights(folder, deploy), [])


def _find(folder: str):
    deploy = ZOO / folder / "deploy.prototxt"
    return deploy if deploy.is_file() else None


def _random_weights(folder: Path, deploy: Path) -> Path:
    import torch

    from tunewiz.caffe.netio import read_net
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import save_caffemodel

    net = Net(read_net(deploy), "TEST", seed=1)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in net.layers:
            for blob in layer.blobs:  # the deploys' fillers are constant 0: msra-like random weights instead
                fan_in = max(1, blob[0].numel()) if blob.dim() > 1 else 1
                blob.copy_(torch.randn(blob.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
    weights = folder / f"{deploy.parent.name}.caffemodel"
    save_caffemodel(net, weights)
    return weights


def _compare(model, weights, folder: Path, inner: list) -> list[str]:
    import onnxruntime
    import torch

    from tests.export import nets
    from tunewiz.export.run import Targets, export_files

    outputs = inner + _outputs(model)
    targets = Targets(onnx=str(folder / "net.onnx"), torch=str(folder / "net.pt2"))
    export_files(str(model), str(weights), targets, outputs)
    session = onnxruntime.InferenceSession(str(folder / "net.onnx"), providers=["CPUExecutionProvider"])
    program = torch.export.load(str(folder / "net.pt2")).module()
    rows = []
    for batch in (1, 3):
        arrays = _inputs(model, batch)
        ref = nets.forward(model, weights, arrays)
        got_onnx = dict(zip(outputs, session.run(outputs, arrays)))
        with torch.no_grad():
            got_pt2 = program(*[torch.from_numpy(a) for a in arrays.values()])
        got_pt2 = dict(zip(outputs, [t.numpy() for t in (got_pt2 if isinstance(got_pt2, (list, tuple)) else [got_pt2])]))
        onnx_abs, onnx_rel = _worst(got_onnx, ref)
        pt2_abs, pt2_rel = _worst(got_pt2, ref)
        rows.append(f"{batch:5d}  {onnx_abs:9.1e} {onnx_rel:9.1e}   {pt2_abs:9.1e} {pt2_rel:9.1e}")
    for path in folder.glob("net.*"):
        path.unlink()
    return rows


def _worst(got: dict, ref: dict) -> tuple[float, float]:
    diffs = [(float(np.abs(got[k] - ref[k]).max()), float(np.abs(got[k] - ref[k]).max() / np.abs(ref[k]).max()))
             for k in got]
    return max(d[0] for d in diffs), max(d[1] for d in diffs)


def _outputs(model) -> list[str]:
    from tunewiz.caffe.netio import read_net
    from tunewiz.engine.net.net import Net

    return Net(read_net(model), "TEST", device="meta").output_names


def _inputs(model, batch: int) -> dict:
    from tunewiz.caffe.netio import read_net
    from tunewiz.engine.net.net import Net

    net = Net(read_net(model), "TEST", device="meta")
    rng = np.random.default_rng(batch)
    names = [t for layer, w in zip(net.layers, net.wirings) if layer.param.type == "Input" for t in w.tops]
    return {n: rng.standard_normal((batch, *net.blob_shapes[n][1:])).astype(np.float32) for n in names}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", action="store_true", help="also the Model Zoo deploys (random weights; slower)")
    args = parser.parse_args(argv)
    print(f"{'net':24s} batch  ONNX abs  ONNX rel     pt2 abs   pt2 rel   (seconds)")
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, weights, inner in _nets(Path(tmp), args.zoo):
            start = time.perf_counter()
            rows = _compare(model, weights, Path(tmp), inner)
            for i, row in enumerate(rows):
                print(f"{name if i == 0 else '':24s}{row}" + (f"   ({time.perf_counter() - start:.0f} s)" if i else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
