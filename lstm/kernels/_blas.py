"""Row-major GEMM callable from Numba code, and the thread count of the BLAS it uses (private).

``gemm(A, ta, B, tb, C, beta)`` computes C ← op(A) @ op(B) + beta·C for 2-D C-contiguous float32/float64 arrays,
op(X) = Xᵀ if the flag is set.  It calls ``numba_xxgemm`` — Numba's own shim over SciPy's ``cython_blas``
(the BLAS ``np.dot`` uses inside Numba) — by symbol name, so functions using it can be cached (``cache=True``)
and nothing is allocated per call.  A row-major product is the column-major product of the transposes:
Cᵀ = op(B)ᵀ op(A)ᵀ, so B goes first and every leading dimension is the row length of the stored array.

SciPy's OpenBLAS is a thread pool separate from NumPy's; all GEMMs of the compiled backend go through it, so only
one pool is ever busy, and :func:`set_threads` sets its size per call (see ``compiled.py`` for the policy).
Every BLAS path calls :func:`set_threads` before its first GEMM, which also imports SciPy's BLAS on first use.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import os

import numpy as np
from numba import types
from numba.extending import overload

if importlib.util.find_spec("scipy") is None:      # numba_xxgemm needs SciPy's BLAS; 'auto' then falls back
    raise ImportError("the compiled kernels need SciPy (its BLAS): pip install scipy")


def ensure_blas() -> None:
    """Import SciPy's BLAS, which ``numba_xxgemm`` resolves at its first call.  Deferred to the first GEMM
    (see :func:`set_threads`) because importing ``scipy.linalg`` costs ~0.16 s and the LSTM forward pass calls
    no BLAS at all."""
    import scipy.linalg.cython_blas  # noqa: F401


def _sig(dt):
    p = types.CPointer(dt)
    return types.intc(types.char, types.char, types.char, types.intp, types.intp, types.intp,
                      p, p, types.intp, p, types.intp, p, p, types.intp)


_xxgemm32 = types.ExternalFunction("numba_xxgemm", _sig(types.float32))
_xxgemm64 = types.ExternalFunction("numba_xxgemm", _sig(types.float64))
_ONE32, _ZERO32 = np.ones(1, np.float32), np.zeros(1, np.float32)
_ONE64, _ZERO64 = np.ones(1, np.float64), np.zeros(1, np.float64)
_TR, _NT = ord("t"), ord("n")


def gemm(A, ta, B, tb, C, beta):  # pragma: no cover - replaced by the overload inside jitted code
    raise NotImplementedError


@overload(gemm)
def _ol_gemm(A, ta, B, tb, C, beta):
    if C.dtype == types.float32:
        fn, kind, one, zero = _xxgemm32, ord("s"), _ONE32, _ZERO32
    else:
        fn, kind, one, zero = _xxgemm64, ord("d"), _ONE64, _ZERO64

    def impl(A, ta, B, tb, C, beta):
        m, n = C.shape
        k = A.shape[0] if ta else A.shape[1]
        if m == 0 or n == 0:
            return
        b = one if beta else zero
        fn(kind, _TR if tb else _NT, _TR if ta else _NT, n, m, k, one.ctypes, B.ctypes, max(B.shape[1], 1),
           A.ctypes, max(A.shape[1], 1), b.ctypes, C.ctypes, max(n, 1))
    return impl


def gemm_raw(ta, tb, m, n, k, A, lda, B, ldb, C, ldc):  # pragma: no cover - replaced inside jitted code
    raise NotImplementedError


@overload(gemm_raw)
def _ol_gemm_raw(ta, tb, m, n, k, A, lda, B, ldb, C, ldc):
    """C (m × n, row stride ldc) ← op(A) (m × k) @ op(B) (k × n) on 1-D buffers that start at the first element
    (pass ``M.reshape(-1)[offset:]`` to address a block of a larger row-major matrix)."""
    if C.dtype == types.float32:
        fn, kind, one, zero = _xxgemm32, ord("s"), _ONE32, _ZERO32
    else:
        fn, kind, one, zero = _xxgemm64, ord("d"), _ONE64, _ZERO64

    def impl(ta, tb, m, n, k, A, lda, B, ldb, C, ldc):
        if m == 0 or n == 0:
            return
        fn(kind, _TR if tb else _NT, _TR if ta else _NT, n, m, k, one.ctypes, B.ctypes, ldb,
           A.ctypes, lda, zero.ctypes, C.ctypes, ldc)
    return impl


# ---- thread count of SciPy's OpenBLAS --------------------------------------------------------------------------
_setter = None


def _find_setter():
    import scipy
    roots = [os.path.join(os.path.dirname(os.path.dirname(scipy.__file__)), "scipy.libs"),
             os.path.join(os.path.dirname(scipy.__file__), ".dylibs")]
    for root in roots:
        for path in sorted(glob.glob(os.path.join(root, "*openblas*"))):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for name in ("scipy_openblas_set_num_threads", "openblas_set_num_threads"):
                fn = getattr(lib, name, None)
                if fn is not None:
                    fn.argtypes, fn.restype = [ctypes.c_int], None
                    return fn
    return False


def set_threads(n: int) -> None:
    """Set SciPy's OpenBLAS to ``n`` threads (no-op if that BLAS is not OpenBLAS).  Set at every call (~0.5 µs),
    not only when ``n`` changes: threadpoolctl (as the trainer uses it) sets every BLAS's count behind our back,
    and restores it on exit."""
    global _setter
    if _setter is None:
        ensure_blas()
        _setter = _find_setter()
    if _setter:
        _setter(int(n))
