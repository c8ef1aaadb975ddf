"""C's ``powf`` and ``expf`` (libm's own, through ctypes) for the learning-rate policies' scalars.

C++ computes ``pow(float, float)`` with ``powf`` and ``exp(float)`` with ``expf``; glibc's are not
always the correctly rounded result that ``float(math.pow(...))`` gives (about one in a thousand
differs by one ulp), and one learning rate one ulp off moves an RMSProp run's losses by 4e-4 within 40
iterations.  Scalars only: one call per iteration.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import math

_LIBM: list = []


def _libm():
    if not _LIBM:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
            lib.powf.restype, lib.powf.argtypes = ctypes.c_float, [ctypes.c_float, ctypes.c_float]
            lib.expf.restype, lib.expf.argtypes = ctypes.c_float, [ctypes.c_float]
        except (OSError, AttributeError):
            lib = None  # no C library to ask (then the correctly rounded value)
        _LIBM.append(lib)
    return _LIBM[0]


def powf(x: float, e: float) -> float:
    """C's ``powf(x, e)`` (what C++'s ``pow(float, float)`` calls)."""
    lib = _libm()
    return float(lib.powf(x, e)) if lib is not None else float(ctypes.c_float(math.pow(x, e)).value)


def expf(x: float) -> float:
    """C's ``expf(x)`` (C++'s ``exp(float)``)."""
    lib = _libm()
    return float(lib.expf(x)) if lib is not None else float(ctypes.c_float(math.exp(x)).value)
