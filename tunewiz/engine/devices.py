"""Where training runs (CPU or CUDA devices), the GPUs this machine shows, and what to say when it runs out of
memory.

On CUDA, TF32 is switched off for matmul and cuDNN so that results stay close to Caffe's float32.
``-gpu``/``--gpu`` names GPUs as Caffe does: ``0``, ``0,1`` or ``all`` (:func:`gpu_list`); one training
process (rank) runs per GPU named (:func:`rank_count`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from tunewiz.engine.checks import batchsplit
from tunewiz.engine.checks.memory import is_allocation_failure, refused_bytes, release
from tunewiz.errors import TunewizError


class DeviceError(TunewizError):
    """A device that cannot be used, or a batch that does not fit on it."""


@dataclass(frozen=True)
class Gpu:
    """A visible CUDA device: its id (as ``-gpu`` names it), name and total memory in bytes."""

    index: int
    name: str
    total: int

    def label(self) -> str:
        from tunewiz.engine.checks.memory import human

        return f"GPU {self.index}: {self.name}, {human(self.total)}"


def visible_gpus() -> list[Gpu]:
    """The CUDA devices this process sees (``CUDA_VISIBLE_DEVICES`` applies), none without CUDA.  Only their
    properties are read: no memory is taken on them."""
    if not torch.cuda.is_available():
        return []
    return [Gpu(i, p.name, int(p.total_memory))
            for i, p in ((i, torch.cuda.get_device_properties(i)) for i in range(torch.cuda.device_count()))]


def rank_count(gpu: str) -> int:
    """How many ranks ``--gpu`` asks for: the ids listed (each checked where CUDA is), ``all`` = every CUDA
    device (1 without CUDA)."""
    if not torch.cuda.is_available():
        return 1 if gpu == "all" else len([g for g in gpu.split(",") if g.strip()])
    return len(gpu_list(gpu))


def gpu_list(gpu: str) -> list[int]:
    """The CUDA ids of ``-gpu`` (``all``: every one); one that is not on this machine is refused."""
    count = torch.cuda.device_count()
    ids = list(range(count)) if gpu == "all" else [int(g) for g in gpu.split(",") if g]
    missing = [i for i in ids if i >= count]
    if missing:
        raise TunewizError(f"-gpu {gpu}: there is no GPU {missing[0]}; this machine has {count} "
                           f"(ids 0 to {count - 1}; tunewiz device-query lists them).")
    return ids


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
