"""An output layer and its softmax cross-entropy in one pass, gradients included (private).

A language model's training step ends with the logits z = x Wᵀ + b (N tokens × C classes), the loss and its
gradient δ = scale · (softmax(z) − onehot(t)), then δx = δ W, δW = δᵀ x and δb = Σ_rows δ.  As separate calls that
is three GEMMs on the pool, a loss pass on one thread and a bias pass over all N·C logits.  Here each thread
takes a block of rows and does all of it while the block's logits are in its cache: one pool call.  δW and δb are
partial sums per block (``dWs``, ``dbs``), which the caller adds.
"""

from __future__ import annotations

from numba import njit

from ._blas import cblas_gemm, gemm_raw
from ._pool import claim, finish, row_bounds
from ._reductions import softmax_cross_entropy_rows
from ._shared import JIT


@njit(**JIT)
def _gemm(fn, ta, tb, m, n, k, A, a_off, lda, B, b_off, ldb, C, c_off, ldc):
    """C[c_off:] (m × n, row stride ldc) ← op(A[a_off:]) @ op(B[b_off:]) on flat buffers: NumPy's OpenBLAS at
    address ``fn``, or SciPy's when ``fn`` is 0."""
    if fn != 0:
        cblas_gemm(fn, ta, tb, m, n, k, A, a_off, lda, B[b_off:], ldb, C, c_off, ldc)
    else:
        gemm_raw(ta, tb, m, n, k, A[a_off:], lda, B[b_off:], ldb, C[c_off:], ldc)


@njit(**JIT)
def linear_cross_entropy_worker(ctl, gen, chunks, x, W, b, t, scale, fn, z, dx, dWs, dbs, totals):
    """:meth:`._pool.Pool.run` worker over ``chunks`` blocks of the N rows of x (N, H), for W (C, H), b (C,) or
    empty, t (N,) (< 0: the row does not count) and the float ``scale`` (1/n for a mean).  Block c writes:

        z[rows] (N, C) scratch: the logits, then δ in place;   dx[rows] (N, H) = δ W
        dWs[c] (C, H) = δᵀ x[rows];   dbs[c] (C,) = Σ_rows δ;   totals[c] = Σ_rows loss (float64)"""
    N, H = x.shape
    C = W.shape[0]
    xf, Wf, zf, dxf, dWf = x.reshape(-1), W.reshape(-1), z.reshape(-1), dx.reshape(-1), dWs.reshape(-1)
    while True:
        c = claim(ctl, gen, chunks)
        if c < 0:
            return
        r0, r1 = row_bounds(N, chunks, c)
        n = r1 - r0
        db = dbs[c]
        db[:] = 0
        if n == 0:
            dWs[c] = 0
            totals[c] = 0.0
            finish(ctl)
            continue
        _gemm(fn, False, True, n, C, H, xf, r0 * H, H, Wf, 0, H, zf, r0 * C, C)        # z = x Wᵀ
        zb = z[r0:r1]
        if b.shape[0] > 0:
            for r in range(n):
                row = zb[r]
                for j in range(C):
                    row[j] += b[j]
        totals[c] = softmax_cross_entropy_rows(zb, t[r0:r1], scale, zb)              # z ← δ
        for r in range(n):
            row = zb[r]
            for j in range(C):
                db[j] += row[j]
        _gemm(fn, False, False, n, H, C, zf, r0 * C, C, Wf, 0, H, dxf, r0 * H, H)      # δx = δ W
        _gemm(fn, True, False, C, H, n, zf, r0 * C, C, xf, r0 * H, H, dWf, c * C * H, H)   # δW = δᵀ x
        finish(ctl)
