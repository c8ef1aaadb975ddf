"""Batch-size advisor: the largest batch_size that fits, and an iter_size that keeps the effective batch.

Memory model (float32, 4 bytes a value), from shape inference of the TRAIN net (counted by
:mod:`tunewiz.engine.checks.memfit`, as the trainer's memory check counts):

    fixed     = P * (1 weights + 1 gradients + h history)          P = learnable values
    per image = A * 2 (activation + its gradient)                  A = values of all blobs for one image
                                                                       (an in-place top counted once)
    need(B)   = 4 * (fixed + B * per image) + reserve

``h`` = 1 history blob per param for SGD, Nesterov, AdaGrad, RMSProp, and 2 for AdaDelta
and Adam (what Caffe's ``.solverstate`` holds).  ``reserve`` covers the CUDA context,
cuDNN workspaces and allocator slack (512 MiB on a GPU, 0 when a plain number is given).
Only ``safety`` (0.9) of the free memory is planned for.

Caffe's ``iter_size``: each iteration runs ``iter_size`` batches and averages their
gradients, so ``batch_size * iter_size`` images make one update — the *effective batch*.
The advice picks the largest batch that fits and divides the effective batch, so the
update is the same as on the bigger GPU (up to BatchNorm statistics, which see the smaller batch).

Several GPUs (``--gpu 0,1``): each GPU runs its own copy of the net on the whole batch_size (Caffe's
multi-GPU training), so the memory counted is one GPU's and the advice is per GPU: ``--gpu-memory auto``
takes the smallest free memory of the GPUs chosen, since every rank needs the same room.  Each iteration
then sees N x batch_size x iter_size images (:func:`rank_lines`); the learning rate is left as it is.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from tunewiz.engine.checks import batchsplit
from tunewiz.engine.checks.memfit import GPU_RESERVE, HISTORY, SAFETY, MemoryModel, values_of  # noqa: F401 - re-exported
from tunewiz.engine.checks.memory import MiB, human as _h
from tunewiz.recipe.layers import RecipeError


@dataclass
class BatchAdvice:
    """A proposed batch_size / iter_size and how it was reached."""

    batch_size: int
    iter_size: int
    effective: int
    changed: bool
    lines: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if not self.changed:
            return f"batch_size {self.batch_size} fits; keep it"
        return (f"batch_size {self.batch_size} × iter_size {self.iter_size} = effective batch {self.effective}")


def parse_memory(text: str) -> int:
    """'8G', '8GiB', '7.5 GB', '512M', '2048MiB' or a plain byte count -> bytes (binary units)."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([kKmMgGtT]?)(i?[bB])?\s*", str(text))
    if not m:
        raise RecipeError(f"--gpu-memory {text!r}: give a size like 8G, 11GiB or 6000M")
    unit = {"": 1, "k": 1 << 10, "m": MiB, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    value = float(m.group(1)) * unit
    if value <= 0:
        raise RecipeError(f"--gpu-memory {text!r}: the size must be > 0")
    return int(value)


def free_gpu_memory(device: int = 0) -> int:
    """Free memory of a CUDA GPU now, in bytes (``cudaMemGetInfo``)."""
    import torch

    if not torch.cuda.is_available():
        raise RecipeError("--gpu-memory auto: no CUDA GPU is visible; give the size, e.g. --gpu-memory 8G")
    return int(torch.cuda.mem_get_info(device)[0])


def chosen_gpus(gpu: str | None) -> list[int]:
    """The GPU ids ``--gpu`` names (``all``: every visible one); GPU 0 when none is named (solver_mode's
    device: the trainer's default)."""
    from tunewiz.engine.devices import visible_gpus

    if not gpu:
        return [0]
    if gpu == "all":
        return [g.index for g in visible_gpus()] or [0]
    ids = [int(g) for g in gpu.split(",") if g.strip()]
    seen = {g.index for g in visible_gpus()}
    missing = [i for i in ids if seen and i not in seen]
    if missing:
        raise RecipeError(f"--gpu {gpu}: there is no GPU {missing[0]} here (ids {', '.join(map(str, sorted(seen)))}; "
                          "tunewiz device-query lists them)")
    return ids


def memory_arg(text: str, gpu: str | None = None) -> int:
    """``--gpu-memory``: 'auto' (the smallest free memory now of the GPUs ``gpu`` names, as ``--gpu`` does:
    every rank needs the room) or a size."""
    if str(text).strip().lower() != "auto":
        return parse_memory(text)
    return min(free_gpu_memory(i) for i in chosen_gpus(gpu))


def rank_lines(ranks: int, batch_size: int, iter_size: int = 1) -> list[str]:
    """What ``ranks`` GPUs do with a batch: each runs the whole of it (the advice is per GPU)."""
    if ranks < 2:
        return []
    per = batch_size * max(iter_size, 1)
    return [f"{ranks} GPUs: each runs batch_size {batch_size} (the advice is per GPU), so an iteration sees "
            f"{ranks} x {per} = {ranks * per} images; base_lr is left as it is (as Caffe does)"]


def advise(model: MemoryModel, free_bytes: int, batch_size: int, iter_size: int = 1) -> BatchAdvice:
    """The largest batch that fits ``free_bytes`` (see the module docstring)."""
    effective = batch_size * max(iter_size, 1)
    budget = free_bytes * SAFETY
    lines = model.lines() + [f"free memory {_h(free_bytes)}, planned {_h(budget)} ({SAFETY:.0%})"]
    fit = int((budget - model.fixed_bytes) // model.per_image_bytes) if model.per_image_bytes else effective
    if fit < 1:
        raise RecipeError(f"even one image does not fit in {_h(free_bytes)}: the net needs "
                          f"{_h(model.need(1))} at batch_size 1; use a bigger GPU or train on the CPU")
    lines.append(f"batch_size {batch_size} needs {_h(model.need(batch_size))}; at most {fit} images fit")
    if fit >= batch_size:
        return BatchAdvice(batch_size, iter_size, effective, False, lines)
    b, k = batchsplit.split(effective, fit)
    lines.append(f"proposed batch_size {b} needs {_h(model.need(b))}; iter_size {k} keeps the effective "
                 f"batch at {b * k}" + ("" if b * k == effective else f" (was {effective}: no divisor fits)"))
    return BatchAdvice(b, k, b * k, True, lines)


def suggest_after_oom(batch_size: int, iter_size: int = 1) -> BatchAdvice:
    """The next try after an out-of-memory (the engine's rule: at most half the batch, same effective batch)."""
    try:
        b, k = batchsplit.after_oom(batch_size, iter_size)
    except batchsplit.BatchTooSmall as exc:
        raise RecipeError(str(exc)) from None
    line = (f"out of memory at batch_size {batch_size} (iter_size {iter_size}): try batch_size {b} with "
            f"iter_size {k} (effective batch {b * k})")
    return BatchAdvice(b, k, b * k, True, [line])


def memory_model(net_param, chw: tuple[int, int, int] | None = None, solver_type: str = "SGD",
                 reserve: int = GPU_RESERVE) -> MemoryModel:
    """Counts for the TRAIN net from shape inference (``tunewiz.engine``; builds on 'meta')."""
    params, per_image = _count(net_param, chw)
    return MemoryModel(params, per_image, HISTORY.get(solver_type or "SGD", 1), reserve)


def _count(net_param, chw) -> tuple[int, int]:
    from tunewiz.recipe.shape_net import build_meta

    return values_of(build_meta(net_param, chw))
