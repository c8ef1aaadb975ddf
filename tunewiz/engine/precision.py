"""The one place that decides float precision for nets (``precision`` setting).

* ``fp32`` (default): plain float32 everywhere, TF32 OFF for matmul and cuDNN, so GPU results
  agree with Caffe's float32 (and with the CPU) to ~1e-6 relative.  This is what Caffe does.
* ``tf32``: float32 storage, but CUDA matmuls/convolutions use TensorFloat-32 (10-bit mantissa
  inputs).  Faster on Ampere+ GPUs; results differ from Caffe at ~1e-3 relative.
* ``bf16``: float32 params and blobs, layer math under ``torch.autocast`` with bfloat16
  (matmuls/convolutions in bf16, 8-bit mantissa). Fastest; results differ at ~1e-2 relative.
  Loss layers still see float32 because autocast keeps reductions/softmax in float32.

Only ``fp32`` reproduces Caffe's numbers; the others trade exactness for speed and say so
where they are chosen (``tunewiz train --precision``, the wizard's device step).
"""
from __future__ import annotations

import contextlib

import torch

from tunewiz.errors import TunewizError

PRECISIONS = ("fp32", "tf32", "bf16")
DEFAULT = "fp32"


def check(precision: str) -> str:
    if precision not in PRECISIONS:
        raise TunewizError(f"unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)} "
                           "(fp32 matches Caffe exactly)")
    return precision


def apply(precision: str = DEFAULT) -> None:
    """Set torch's global TF32 switches for ``precision`` (fp32 and bf16: TF32 off)."""
    tf32 = check(precision) == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.set_float32_matmul_precision("high" if tf32 else "highest")


def autocast(precision: str, device: torch.device):
    """The context a forward pass runs in: bf16 autocast, or nothing."""
    if check(precision) == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
