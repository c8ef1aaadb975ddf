"""keep_freed_memory: on glibc, an iteration that frees and makes the same big blocks again (a weight diff
over glibc's mmap threshold) soon reuses their pages instead of faulting fresh ones in.

Measured in fresh processes (a long test process's fragmented heap may still grow now and then), with and
without the setting, and compared: the figure is the median of the later iterations' page faults."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tunewiz.engine import host_memory

ROOT = Path(__file__).resolve().parents[2]
CHILD = r"""
import json, resource, sys, torch
from tunewiz.engine import host_memory
if sys.argv[1] == "keep":
    assert host_memory.keep_freed_memory() and host_memory.keep_freed_memory()  # once per process, same answer
weight = torch.randn(4096, 4096, requires_grad=True)  # its diff: 64 MiB, over the largest threshold
x = torch.randn(8, 4096)
faults = []
for _ in range(10):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    weight.grad = None
    (x @ weight.t()).sum().backward()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(sorted(faults[3:])[3]))
"""


def _median_faults(mode: str) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", CHILD, mode], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux") or host_memory._mallopt() is None, reason="glibc only")
def test_big_blocks_freed_by_an_iteration_are_reused_by_the_next():
    import resource
    pages = 64 * 2 ** 20 // resource.getpagesize()
    kept, plain = _median_faults("keep"), _median_faults("plain")
    # without it every iteration faults each page of the diff in again (16384 4-KiB pages)
    assert plain > pages // 2 and kept < pages // 8, (kept, plain)
