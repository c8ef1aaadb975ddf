"""Where training runs (CPU or one CUDA device) and what to say when it runs out of memory.

On CUDA, TF32 is switched off for matmul and cuDNN so that results stay close to Caffe's float32.
"""
from __future__ import annotations

import torch

from tunewiz.engine.checks import batchsplit
from tunewiz.engine.checks.memory import is_allocation_failure, refused_bytes, release
from tunewiz.errors import TunewizError


class DeviceError(TunewizError):
    """A device that cannot be used, or a batch that does not fit on it."""


def prepare_device(device: str | torch.device) -> torch.device:
    """A usable torch device; CUDA with TF32 off."""
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was asked for but no CUDA device is available; use --gpu only on a GPU "
                              "machine (or leave it out to train on the CPU).")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"there is no GPU {dev.index} (this machine has {torch.cuda.device_count()}).")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return dev


def out_of_memory(exc: BaseException, sp=None, batch: int = 0, device=None):
    """Without ``sp``: is ``exc`` a CUDA out-of-memory error?  With it: the DeviceError to raise.

    The advice is :func:`tunewiz.engine.checks.batchsplit.after_oom` (at most half the batch, an iter_size
    that keeps the effective batch ``batch_size * iter_size``), the rule the recipe's batch advisor
    uses too, so the CLI, the wizard and this message never disagree.
    """
    # the host's failures too (MemoryError, "DefaultCPUAllocator: can't allocate memory"): same advice
    oom = is_allocation_failure(exc)
    if sp is None:
        return oom
    release(exc)  # what the failed pass still holds, or even this message cannot be made
    where = "the CPU" if torch.device(device).type == "cpu" else str(device)
    what = (f"{where} ran out of memory with batch_size {batch} (iter_size {sp.iter_size}, effective batch "
            f"{batch * sp.iter_size}){refused_bytes(exc)}")
    try:
        b, k = batchsplit.after_oom(batch, sp.iter_size)
    except batchsplit.BatchTooSmall as cant:  # batch_size 1: nothing smaller to try
        return DeviceError(f"{what}: {cant}.")
    same = "the same effective batch" if b * k == batch * sp.iter_size else "an effective batch"
    return DeviceError(f"{what}. Use batch_size {b} in the TRAIN data layer with iter_size {k} in the solver: "
                       f"{same} of {b * k} in smaller pieces.")
