"""The GEMM phases every compiled kernel shares: the hoisted input projection and the weight gradients (private).

Only h_{t-1} W_hhᵀ is sequential.  The input side x W_ihᵀ + b for all T steps is one GEMM before the loop (GRU,
RNN), and after the backward loop δx, δW_ih, δW_hh and the bias gradients are GEMMs (or column sums) over all T·B
rows at once, all through :func:`matmul_rows_worker` on the kernel pool's threads.
"""

from __future__ import annotations

from numba import njit

from ._blas import cblas_gemm, gemm_raw
from ._pool import claim_rows

# No reassociation and no NaN/Inf assumptions, so float64 results stay within a few ulp of the NumPy reference;
# error_model="numpy" drops Python's ZeroDivisionError check, which otherwise blocks vectorisation of divisions.
FASTMATH = {"nsz", "contract", "arcp"}
JIT = dict(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True)


@njit(**JIT)
def sum_rows(d2, out):
    """out (G,) = Σ over rows of d2 (N, G)."""
    N, G = d2.shape
    for j in range(G):
        out[j] = 0
    for r in range(N):
        row = d2[r]
        for j in range(G):
            out[j] += row[j]


@njit(**JIT)
def matmul_rows_worker(ctl, gen, chunks, ta, tb, A, B, C, fn, bias, left, right):
    """C (m, n) = op(A) @ op(B) (+ bias (n,) on every row unless bias is empty) (op = transpose where
    ``ta``/``tb``; all C-contiguous), and unless ``left`` is empty C's columns copied on into two arrays, left
    (m, n1) ← C[:, :n1] and right (m, n − n1) ← C[:, n1:] (the LSTM's δW_ih and δW_hh, computed as one product of
    width I+P below, into the layer's gradient arrays), C's rows split into
    ``chunks`` blocks claimed by the threads of :mod:`._pool`, one single-threaded BLAS call per block: the CBLAS
    ``?gemm`` at address ``fn`` (NumPy's OpenBLAS, see :func:`._blas.numpy_blas`), or SciPy's when ``fn`` is 0.
    Neither library's own thread pool is woken: its workers kept spinning into the next forward pass, which then
    had one free core for its two threads (NumPy's OpenBLAS on its 2 threads for the language model's weight
    gradients: 141 against 107 ms per training step).

    The LSTM's weight gradients δ[W_ih | W_hh] = δaᵀ [x | h_{t-1}] are one such product over all T·B rows
    (``ta``): the two right-hand sides side by side in one (T·B, I+P) buffer make one product of width I+P, which
    ran 10–20% faster than two of widths I and P (OpenBLAS packs δaᵀ once)."""
    r0, r1 = claim_rows(ctl, gen, chunks, C.shape[0], False)
    while r0 >= 0:
        product_rows(ta, tb, A, B, C, fn, bias, left, right, r0, r1)
        r0, r1 = claim_rows(ctl, gen, chunks, C.shape[0], True)


@njit(**JIT)
def product_rows(ta, tb, A, B, C, fn, bias, left, right, r0, r1):
    """Rows [r0, r1) of :func:`matmul_rows_worker`'s product: one single-threaded BLAS call, then the bias and
    the column split while those rows are in cache."""
    n = C.shape[1]
    k = A.shape[0] if ta else A.shape[1]
    lda, ldb = A.shape[1], B.shape[1]
    a0 = r0 if ta else r0 * lda
    if fn != 0:
        cblas_gemm(fn, ta, tb, r1 - r0, n, k, A, a0, lda, B, ldb, C, r0 * n, n)
    else:
        gemm_raw(ta, tb, r1 - r0, n, k, A.reshape(-1)[a0:], lda, B.reshape(-1), ldb, C.reshape(-1)[r0 * n:], n)
    if bias.shape[0] > 0:                                           # + bias on every row
        for r in range(r0, r1):
            row = C[r]
            for j in range(n):
                row[j] += bias[j]
    if left.shape[0] > 0:                                           # the column split
        n1 = left.shape[1]
        for r in range(r0, r1):
            row, lr, rr = C[r], left[r], right[r]
            for j in range(n1):
                lr[j] = row[j]
            for j in range(n - n1):
                rr[j] = row[n1 + j]
