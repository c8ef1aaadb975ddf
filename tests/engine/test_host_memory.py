"""keep_freed_memory: on glibc, an iteration that frees and makes the same big blocks again (a weight diff
over glibc's mmap threshold) soon reuses their pages instead of faulting fresh ones in."""
import resource
import sys

import pytest
import torch

from tunewiz.engine import host_memory


def _faults_per_iteration(iterations: int) -> list[int]:
    weight = torch.randn(4096, 4096, requires_grad=True)  # its diff: 64 MiB, over the largest threshold
    x = torch.randn(8, 4096)
    faults = []
    for _ in range(iterations):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        weight.grad = None
        (x @ weight.t()).sum().backward()
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return faults


@pytest.mark.skipif(not sys.platform.startswith("linux") or host_memory._mallopt() is None, reason="glibc only")
def test_big_blocks_freed_by_an_iteration_are_reused_by_the_next():
    assert host_memory.keep_freed_memory()
    assert host_memory.keep_freed_memory()  # once per process, the same answer
    pages = 64 * 2 ** 20 // resource.getpagesize()
    # without it every iteration faults each page of the diff in again (16384 4-KiB pages); with it, after
    # a few iterations the heap holds blocks to reuse (in a long process, a fragmented heap may still grow once)
    faults = _faults_per_iteration(10)[3:]
    assert sum(f > pages // 2 for f in faults) <= 2, faults
