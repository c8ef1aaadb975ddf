"""How much memory a run may use, read before anything is allocated; allocation failures told as one line.

:func:`free_memory` (device) -> :class:`Free` (bytes and where the figure comes from), or None when it cannot
be read (then nothing is checked):

* CPU: ``MemAvailable`` of ``/proc/meminfo`` (what the kernel can give without swapping), lowered by the
  headroom of an address-space limit (``ulimit -v``, ``prlimit --as``: RLIMIT_AS minus this process's
  ``VmSize``) and of a container's cgroup limit (v2 ``memory.max``, v1 ``memory.limit_in_bytes``, minus
  the usage that cannot be reclaimed: usage less inactive file cache);
* CUDA: ``torch.cuda.mem_get_info`` (Caffe's ``cudaMemGetInfo``) plus what torch's caching allocator
  holds unused.

``TUNEWIZ_MEMORY_CHECK=off`` turns the check off (the estimate is from shapes; a layer may need
scratch memory it does not see).  :func:`is_allocation_failure` recognises what an allocation that
still fails raises (``MemoryError``, torch's ``OutOfMemoryError``, the CPU allocator's
``DefaultCPUAllocator: can't allocate memory``), so callers turn it into a message, not a traceback.
"""
from __future__ import annotations

import os
import re
import resource
from dataclasses import dataclass
from pathlib import Path

from tunewiz.errors import TunewizError

MiB = 1 << 20
_NO_LIMIT = 1 << 60  # cgroup v1 writes 2**63 rounded down to a page for "no limit"


class MemoryFitError(TunewizError):
    """A net that does not fit in the memory there is (estimated before, or found when allocating)."""


@dataclass
class Free:
    """Bytes free now, and where that figure comes from (said in the message)."""

    bytes: int
    source: str


def human(n: float) -> str:
    """1.5 GiB, 12.0 MiB, 3.0 KiB, 12 B (binary units, as ``free -h``)."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", MiB), ("KiB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def check_enabled() -> bool:
    """False when ``TUNEWIZ_MEMORY_CHECK`` is off/0/no (the user's way past a wrong estimate)."""
    return os.environ.get("TUNEWIZ_MEMORY_CHECK", "").strip().lower() not in ("off", "0", "no", "false")


def free_memory(device) -> Free | None:
    """Free memory of ``device`` (a torch.device or its name) now; None when it cannot be read."""
    kind = str(device).split(":")[0]
    if kind == "cuda":
        return _gpu_free(device)
    if kind == "meta":
        return None
    return host_free()


def host_free() -> Free | None:
    """The smallest of MemAvailable, the RLIMIT_AS headroom and the cgroup headroom (None off Linux)."""
    candidates = [c for c in (_meminfo_available(), _rlimit_headroom(), _cgroup_headroom()) if c is not None]
    return min(candidates, key=lambda c: c.bytes) if candidates else None


def _meminfo_available(path: str = "/proc/meminfo") -> Free | None:
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    match = re.search(r"^MemAvailable:\s+(\d+)\s*kB", text, re.M)
    return Free(int(match.group(1)) * 1024, "MemAvailable in /proc/meminfo") if match else None


def _vm_size(path: str = "/proc/self/status") -> int | None:
    try:
        match = re.search(r"^VmSize:\s+(\d+)\s*kB", Path(path).read_text(), re.M)
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def _rlimit_headroom() -> Free | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    used = _vm_size()
    if used is None:
        return None
    return Free(max(soft - used, 0), f"address-space limit (ulimit -v) of {human(soft)}, {human(used)} in use")


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _stat(path: Path, key: str) -> int:
    try:
        match = re.search(rf"^{key} (\d+)$", path.read_text(), re.M)
    except OSError:
        return 0
    return int(match.group(1)) if match else 0


def _cgroup_headroom(root: str = "/sys/fs/cgroup") -> Free | None:
    """The container's limit less what it uses and cannot give back (file cache not yet reclaimed is free)."""
    base = Path(root)
    for limit_file, usage_file, cache_key in (("memory.max", "memory.current", "inactive_file"),
                                              ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes",
                                               "total_inactive_file")):
        limit, usage = _read_int(base / limit_file), _read_int(base / usage_file)
        if limit is None or usage is None or limit >= _NO_LIMIT:
            continue
        cache = _stat((base / usage_file).parent / "memory.stat", cache_key)
        return Free(max(limit - max(usage - cache, 0), 0), f"the container's memory limit of {human(limit)}")
    return None


def _gpu_free(device) -> Free | None:
    import torch

    if not torch.cuda.is_available():
        return None
    index = torch.device(device).index or 0
    try:
        free, _ = torch.cuda.mem_get_info(index)
    except RuntimeError:  # a GPU that cannot be queried: the run reports it
        return None
    cached = torch.cuda.memory_reserved(index) - torch.cuda.memory_allocated(index)
    return Free(int(free + cached), f"free memory of GPU {index}")


def is_allocation_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation that failed (host or GPU)."""
    if isinstance(exc, MemoryError):
        return True
    import torch

    if isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def refused_bytes(exc: BaseException) -> str:
    """' (it asked for 5.8 TiB)' from the allocator's message, when it says how much; else ''."""
    match = re.search(r"tried to allocate (\d+(?:\.\d+)?) ?(bytes|[KMGT]iB)", str(exc), re.I)
    if not match:
        return ""
    scale = {"bytes": 1, "KiB": 1 << 10, "MiB": MiB, "GiB": 1 << 30, "TiB": 1 << 40}.get(match.group(2), 1)
    return f" (one allocation of {human(float(match.group(1)) * scale)} was refused)"


def release(exc: BaseException) -> None:
    """Free what the failed call's frames still hold (e.g. a half-built batch), so that the message about it
    can be made: the traceback keeps those frames' locals alive until they are cleared.  Nothing is
    allocated here (memory may be exhausted): a bounded walk down the chain of exceptions."""
    for _ in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15):
        if exc is None:
            return
        tb = exc.__traceback__
        while tb is not None:
            try:
                tb.tb_frame.clear()
            except RuntimeError:  # a frame still running (the caller's): it keeps its locals
                pass
            tb = tb.tb_next
        exc = exc.__context__
