"""Splitting an effective batch ``batch_size * iter_size`` into smaller pieces (Caffe's iter_size).

The one rule both the trainer's out-of-memory message (:mod:`tunewiz.engine.devices`) and the
recipe's batch advisor (:mod:`tunewiz.recipe.batch`) use, so they never disagree.
"""
from __future__ import annotations

import math

from tunewiz.errors import TunewizError


class BatchTooSmall(TunewizError):
    """batch_size 1 ran out of memory: there is no smaller batch to try."""


def split(effective: int, limit: int) -> tuple[int, int]:
    """Largest divisor b of ``effective`` with b <= limit -> (b, effective // b); else (limit, ceil)."""
    cap = min(limit, effective)
    # divisors come in pairs (d, effective // d): walking to the square root finds them all, so a batch of
    # millions is split at once (a walk to ``limit`` took seconds)
    pairs = (x for d in range(1, math.isqrt(effective) + 1) if effective % d == 0 for x in (d, effective // d))
    best = max(x for x in pairs if x <= cap)
    if best * 2 > limit or best == effective:
        return best, effective // best
    return limit, math.ceil(effective / limit)


def after_oom(batch_size: int, iter_size: int = 1) -> tuple[int, int]:
    """The next try after an out-of-memory: at most half the batch, the same effective batch."""
    if batch_size <= 1:
        raise BatchTooSmall("out of memory at batch_size 1: the net itself does not fit; use a GPU with more "
                            "memory, a smaller input size, or train on the CPU")
    return split(batch_size * max(iter_size, 1), batch_size // 2)
