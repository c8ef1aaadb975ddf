"""numpy's own OpenBLAS called directly: Caffe's accumulating ``sgemm``/``sgemv`` and its solvers' level-1 calls.

Caffe adds each image's weight gradient into the diff with ``sgemm(..., beta=1, C=weight_diff)`` and
its bias gradient with ``sgemv(..., beta=1, y=bias_diff)``: OpenBLAS adds the product into C (y) block
by block along K, which is not ``C + (A @ B)`` once K is longer than one block, and ``np.matmul`` has
no ``beta``; the solvers' ``saxpy``/``saxpby``/``sscal`` round as their kernels do (FMA or not).  So
this finds the OpenBLAS numpy itself calls (the same library, kernels and thread setting as
``np.matmul``: threadpoolctl reports its path) and calls it through ctypes on numpy arrays, row-major
as numpy calls it.

:func:`available` is False when that library cannot be found (a numpy built on another BLAS); callers
then fall back to numpy (``C + A @ B``, exact whenever K fits in one block; level-1 emulated).
"""
from __future__ import annotations

import ctypes

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
#: the library's name prefix and suffix and its integer width: scipy-openblas (numpy >= 2),
#: openblas64_ (numpy 1.2x, ILP64), a plain LP64 OpenBLAS
_NAMES = (("scipy_", "64_", ctypes.c_int64), ("", "64_", ctypes.c_int64), ("", "", ctypes.c_int))


def _numpy_openblas_info() -> dict:
    """threadpoolctl's record of the OpenBLAS numpy loaded (empty without it)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {}
    return next((info for info in threadpool_info()
                 if info.get("internal_api") == "openblas" and "numpy" in info.get("filepath", "")), {})


def _numpy_openblas() -> str | None:
    return _numpy_openblas_info().get("filepath")


def core() -> str | None:
    """The OpenBLAS core (kernel family) numpy's library runs on here, e.g. "SkylakeX"; None without it.
    The last bits of an sgemm are its kernel's: bit-for-bit comparisons with Caffe need the same core."""
    return _numpy_openblas_info().get("architecture")


def _signatures(i):
    """argtypes of each routine used, for integer width ``i``."""
    ptr, f = ctypes.c_void_p, ctypes.c_float
    return {"sgemm": [i, i, i, i, i, i, f, ptr, i, ptr, i, f, ptr, i],
            "sgemv": [i, i, i, i, f, ptr, i, ptr, i, f, ptr, i],
            "saxpy": [i, f, ptr, i, ptr, i],
            "saxpby": [i, f, ptr, i, f, ptr, i],
            "sscal": [i, f, ptr, i]}


def _bind() -> dict:
    path = _numpy_openblas()
    try:
        lib = ctypes.CDLL(path) if path else None
    except OSError:
        lib = None
    for prefix, suffix, i in _NAMES:
        found = {name: getattr(lib, f"{prefix}cblas_{name}{suffix}", None) for name in _signatures(i)}
        if all(fn is not None for fn in found.values()):
            for name, argtypes in _signatures(i).items():
                found[name].argtypes, found[name].restype = argtypes, None
            return found
    return {}


_LIB: list[dict] = []


def _fn(name: str):
    if not _LIB:
        _LIB.append(_bind())
    return _LIB[0].get(name)


def available() -> bool:
    return _fn("sgemm") is not None


def _lead(a: np.ndarray) -> tuple[bool, int]:
    """(transposed?, leading dimension) of a 2-D float32 array numpy could hand to BLAS, else error."""
    if a.dtype != np.float32 or a.ndim != 2:
        raise ValueError("sgemm takes 2-D float32 arrays")
    s0, s1 = a.strides[0] // 4, a.strides[1] // 4
    if s1 == 1 and s0 >= max(1, a.shape[1]):
        return False, s0
    if s0 == 1 and s1 >= max(1, a.shape[0]):
        return True, s1
    raise ValueError("sgemm needs each operand contiguous along one axis")


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def accumulate_gemm(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
    """``c[g] = a[n, g] @ b[n, g] + c[g]`` for each g, n = 0, 1, ... in order (Caffe's per-image, per-group
    ``sgemm`` with beta 1): ``a`` (N, G, m, k) and ``b`` (N, G, k, n) stacks whose matrices BLAS can
    read, ``c`` (G, m, n) C-contiguous; 3-D ``a``/``b`` and 2-D ``c`` are one group."""
    if c.ndim == 2:
        a, b, c = a[:, None], b[:, None], c[None]
    fn = _fn("sgemm")
    ta, lda = _lead(a[0, 0])
    tb, ldb = _lead(b[0, 0])
    m, k, n = a.shape[2], a.shape[3], b.shape[3]
    if not c.flags.c_contiguous or c.dtype != np.float32 or c.shape != (a.shape[1], m, n) or len(a) != len(b):
        raise ValueError("accumulate_gemm adds into a C-contiguous float32 array of the product's shape")
    pa, pb, pc = _address(a), _address(b), _address(c)
    (sa, ga), (sb, gb), gc = a.strides[:2], b.strides[:2], c.strides[0]
    op_a, op_b, ldc = _TRANS if ta else _NO_TRANS, _TRANS if tb else _NO_TRANS, max(1, n)
    for g in range(c.shape[0]):
        ag, bg, cg = pa + g * ga, pb + g * gb, pc + g * gc
        for i in range(len(a)):
            fn(_ROW_MAJOR, op_a, op_b, m, n, k, 1.0, ag + i * sa, lda, bg + i * sb, ldb, 1.0, cg, ldc)


def accumulate_gemv(a: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    """``y = a[n] @ x + y`` for n = 0, 1, ... in order (Caffe's per-image ``sgemv`` with beta 1): ``a``
    (N, m, k) a stack BLAS can read, ``x`` (k,) and ``y`` (m,) contiguous float32 vectors."""
    fn = _fn("sgemv")
    ta, lda = _lead(a[0])
    if x.strides[0] != 4 or y.strides[0] != 4 or y.dtype != np.float32 or len(y) != a.shape[1]:
        raise ValueError("accumulate_gemv takes contiguous float32 vectors of the right lengths")
    rows, cols = (a.shape[2], a.shape[1]) if ta else a.shape[1:]
    pa, px, py, sa, op = _address(a), _address(x), _address(y), a.strides[0], _TRANS if ta else _NO_TRANS
    for i in range(len(a)):
        fn(_ROW_MAJOR, op, rows, cols, 1.0, pa + i * sa, lda, px, 1, 1.0, py, 1)


def _vector(v: np.ndarray) -> int:
    if v.dtype != np.float32 or not v.flags.c_contiguous:
        raise ValueError("BLAS level 1 takes C-contiguous float32 arrays")
    return _address(v)


def saxpy(alpha: float, x: np.ndarray, y: np.ndarray) -> None:
    """``y += alpha * x`` in place (``cblas_saxpy``: Caffe's ``caffe_axpy``)."""
    _fn("saxpy")(y.size, alpha, _vector(x), 1, _vector(y), 1)


def saxpby(alpha: float, x: np.ndarray, beta: float, y: np.ndarray) -> None:
    """``y = alpha * x + beta * y`` in place (``cblas_saxpby``: Caffe's ``caffe_cpu_axpby``)."""
    _fn("saxpby")(y.size, alpha, _vector(x), 1, beta, _vector(y), 1)


def sscal(alpha: float, y: np.ndarray) -> None:
    """``y *= alpha`` in place (``cblas_sscal``: Caffe's ``caffe_scal``)."""
    _fn("sscal")(y.size, alpha, _vector(y), 1)


def sgemv(a: np.ndarray, x: np.ndarray, alpha: float) -> np.ndarray:
    """A new ``alpha * a @ x`` by one ``cblas_sgemv`` call with beta 0 (Caffe's ``caffe_cpu_gemv``)."""
    fn = _fn("sgemv")
    ta, lda = _lead(a)
    if x.strides[0] != 4 or x.dtype != np.float32 or len(x) != a.shape[1]:
        raise ValueError("sgemv takes a contiguous float32 vector of the matrix's width")
    y = np.zeros(a.shape[0], np.float32)
    rows, cols = (a.shape[1], a.shape[0]) if ta else a.shape
    fn(_ROW_MAJOR, _TRANS if ta else _NO_TRANS, rows, cols, alpha, _address(a), lda, _address(x), 1, 0.0,
       _address(y), 1)
    return y
