"""CPU tensors' memory: freed blocks stay in the process, so each iteration reuses the last one's pages.

torch's CPU allocator asks glibc's ``malloc`` for every tensor and has no cache of its own.  glibc gives
blocks over 32 MiB (and, until its dynamic threshold has grown, those over 128 KiB) their own ``mmap``
and unmaps them on free, and it returns the top of the heap to the system once more than the trim
threshold is free there.  A training iteration allocates the same big blocks again (CaffeNet's fc6
weight diff alone is 151 MB), so each one came back as fresh pages that the kernel zeroes on first
touch: about 600 000 page faults and 15 % of CaffeNet b8's forward+backward time on the 2-core machine.
Caffe keeps its blobs for the whole run; :func:`keep_freed_memory` does the equivalent by telling
glibc to serve every block from the heap (``M_MMAP_MAX`` 0; it still maps memory when the heap cannot
grow) and never to trim it (``M_TRIM_THRESHOLD`` at its maximum).  The process then keeps its peak
memory until it exits, as Caffe does.  Elsewhere than glibc it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: mallopt's parameter numbers (glibc's malloc.h)
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
#: the largest value mallopt takes (a C int)
_INT_MAX = 2 ** 31 - 1

_done: list[bool] = []


def _mallopt():
    """glibc's ``mallopt``, or None (another C library, or none found)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        if not hasattr(libc, "gnu_get_libc_version"):  # musl and others have no such tuning
            return None
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt


def keep_freed_memory() -> bool:
    """Keep freed blocks for reuse (module docstring), once per process; True when glibc took it."""
    if not _done:
        mallopt = _mallopt()
        _done.append(mallopt is not None and bool(mallopt(M_MMAP_MAX, 0))
                     and bool(mallopt(M_TRIM_THRESHOLD, _INT_MAX)))
    return _done[0]
