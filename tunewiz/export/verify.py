"""The check after writing: the written file, run on a random batch, against tunewiz's forward.

The reference is the engine's forward with Caffe's CPU summation order (``numerics="caffe"``, what
``tunewiz forward`` gives by default).  Per output, ``max abs = max |got - ref|`` and
``max rel = max abs / max |ref|`` (the difference measured against the blob's scale, so values near 0
do not blow it up); a NaN on one side only counts as an infinite difference.  A file agrees when every
output's max rel is at most :data:`TOLERANCE`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

TOLERANCE = 1e-4
#: the batch the written file is checked on: neither the traced batch (2) nor the deploy's usual 1
CHECK_BATCH = 3


@dataclass
class Agreement:
    """The worst difference over the outputs, and the output where it is."""

    max_abs: float
    max_rel: float
    worst: str

    @property
    def ok(self) -> bool:
        return self.max_rel <= TOLERANCE

    def text(self) -> str:
        return f"max abs {self.max_abs:.2e}, max rel {self.max_rel:.2e}"


def random_inputs(net, inputs: list[str], batch: int = CHECK_BATCH, seed: int = 0) -> list[np.ndarray]:
    generator = np.random.default_rng(seed)
    return [generator.standard_normal((batch, *net.blob_shapes[name][1:])).astype(np.float32) for name in inputs]


def reference(net, inputs: list[str], arrays: list[np.ndarray], outputs: list[str]) -> list[np.ndarray]:
    """The engine's forward in Caffe's order; the net is left on torch's kernels (what was exported)."""
    net.choose_engine("caffe")
    try:
        with torch.no_grad():
            blobs = net.forward({name: torch.from_numpy(a) for name, a in zip(inputs, arrays)})
    finally:
        net.choose_engine("torch")
    return [blobs[name].detach().cpu().numpy() for name in outputs]


def compare(ref: list[np.ndarray], got: list, outputs: list[str]) -> Agreement:
    worst = Agreement(0.0, 0.0, outputs[0] if outputs else "")
    for name, want, have in zip(outputs, ref, got):
        have = np.asarray(have, dtype=np.float64)
        want = np.asarray(want, dtype=np.float64)
        if have.shape != want.shape:
            return Agreement(math.inf, math.inf, f"{name} (shape {have.shape}, not {want.shape})")
        one_nan = np.isnan(have) != np.isnan(want)
        diff = np.where(np.isnan(have) & np.isnan(want), 0.0, np.abs(have - want))
        diff = np.where(one_nan, math.inf, diff)
        max_abs = float(diff.max(initial=0.0))
        scale = float(np.nanmax(np.abs(want), initial=0.0))
        max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf)
        if max_rel > worst.max_rel or (max_rel == worst.max_rel and max_abs > worst.max_abs):
            worst = Agreement(max_abs, max_rel, name)
    return worst


def run_onnx(path, inputs: list[str], arrays: list[np.ndarray], outputs: list[str]) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(outputs, dict(zip(inputs, arrays)))


def run_program(path, arrays: list[np.ndarray]) -> list[np.ndarray]:
    from tunewiz.export.torch_file import load_program

    program = load_program(path)
    with torch.no_grad():
        got = program.module()(*[torch.from_numpy(a) for a in arrays])
    return [t.detach().numpy() for t in got]
