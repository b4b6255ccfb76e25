"""Row-major GEMM callable from Numba code, and the thread count of the BLAS it uses (private).

``gemm(A, ta, B, tb, C, beta)`` computes C ← op(A) @ op(B) + beta·C for 2-D C-contiguous float32/float64 arrays,
op(X) = Xᵀ if the flag is set.  It calls ``numba_xxgemm`` — Numba's own shim over SciPy's ``cython_blas``
(the BLAS ``np.dot`` uses inside Numba) — by symbol name, so functions using it can be cached (``cache=True``)
and nothing is allocated per call.  A row-major product is the column-major product of the transposes:
Cᵀ = op(B)ᵀ op(A)ᵀ, so B goes first and every leading dimension is the row length of the stored array.

SciPy's OpenBLAS is a thread pool separate from NumPy's; the GEMMs inside compiled kernels go through it, and
:func:`set_threads` sets its size per call (see ``compiled.py`` for the policy).  Every such path calls
:func:`set_threads` before its first GEMM, which also imports SciPy's BLAS on first use.  The large products the
kernel pool splits by rows (weight gradients, dense layers) call NumPy's bundled OpenBLAS instead where there is
one, single-threaded per call (:func:`numpy_blas`, :func:`cblas_gemm`): it ran them 5–20% faster (float32).
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import os

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

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


# ---- NumPy's own OpenBLAS, for the products the kernel pool splits ---------------------------------------------
_numpy_blas = None


def numpy_blas():
    """(sgemm address, dgemm address, set_num_threads, get_num_threads) of the OpenBLAS that NumPy's wheels bundle
    (scipy-openblas64: ILP64 CBLAS, symbols ``scipy_cblas_?gemm64_``), or None for any other BLAS (conda's MKL,
    Accelerate), which :func:`gemm` then stands in for.  On the weight-gradient shapes, one call per pool thread,
    it ran 5–20% faster than SciPy's in float32 (a newer OpenBLAS) and the same in float64.  The address is passed
    to compiled code at run time (:func:`cblas_gemm`), so cached kernels never bake in a library that may be gone."""
    global _numpy_blas
    if _numpy_blas is None:
        _numpy_blas = _find_numpy_blas() or False
    return _numpy_blas or None


def _find_numpy_blas():
    base = os.path.dirname(np.__file__)
    names = ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", "scipy_openblas_set_num_threads64_",
             "scipy_openblas_get_num_threads64_")
    for root in (os.path.join(os.path.dirname(base), "numpy.libs"), os.path.join(base, ".dylibs")):
        for path in sorted(glob.glob(os.path.join(root, "*openblas*"))):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            fns = [getattr(lib, name, None) for name in names]
            if all(f is not None for f in fns):
                sgemm, dgemm, set_n, get_n = fns
                set_n.argtypes, set_n.restype = [ctypes.c_int], None
                get_n.argtypes, get_n.restype = [], ctypes.c_int
                addr = [ctypes.cast(f, ctypes.c_void_p).value for f in (sgemm, dgemm)]
                return addr[0], addr[1], set_n, get_n
    return None


_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


@intrinsic
def cblas_gemm(typingctx, fn, ta, tb, m, n, k, A, a_off, lda, B, ldb, C, c_off, ldc):
    """C[c_off:] (m × n, row stride ldc) ← op(A[a_off:]) @ op(B) through the ILP64 CBLAS ``?gemm`` at address
    ``fn`` (row-major; alpha 1, beta 0): the same operands as :func:`gemm_raw`."""
    sig = types.void(fn, ta, tb, m, n, k, A, a_off, lda, B, ldb, C, c_off, ldc)

    def codegen(context, builder, sig, args):
        fn_, ta_, tb_, m_, n_, k_, A_, a_off_, lda_, B_, ldb_, C_, c_off_, ldc_ = args
        ft = context.get_value_type(sig.args[6].dtype)
        i32, i64, ptr = ir.IntType(32), ir.IntType(64), ft.as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, ft, ptr, i64, ptr, i64, ft, ptr, i64])
        callee = builder.inttoptr(fn_, fnty.as_pointer())

        def data(ty, val, off=None):
            p = context.make_array(ty)(context, builder, val).data
            return p if off is None else builder.gep(p, [off])

        def trans(flag):
            return builder.select(flag, ir.Constant(i32, _TRANS), ir.Constant(i32, _NO_TRANS))

        builder.call(callee, [ir.Constant(i32, _ROW_MAJOR), trans(ta_), trans(tb_), m_, n_, k_, ir.Constant(ft, 1.0),
                              data(sig.args[6], A_, a_off_), lda_, data(sig.args[9], B_), ldb_, ir.Constant(ft, 0.0),
                              data(sig.args[11], C_, c_off_), ldc_])
        return context.get_dummy_value()

    return sig, codegen
