"""The GEMM phases every compiled kernel shares: the hoisted input projection and the weight gradients (private).

Only h_{t-1} W_hhᵀ is sequential.  The input side x W_ihᵀ for all T steps is one GEMM before the loop, and after
the backward loop δx, δW_ih, δW_hh and the bias gradients are GEMMs (or column sums) over all T·B rows at once.
"""

from __future__ import annotations

from numba import njit

from ._blas import cblas_gemm, gemm, gemm_raw
from ._pool import claim, finish

# No reassociation and no NaN/Inf assumptions, so float64 results stay within a few ulp of the NumPy reference;
# error_model="numpy" drops Python's ZeroDivisionError check, which otherwise blocks vectorisation of divisions.
FASTMATH = {"nsz", "contract", "arcp"}
JIT = dict(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True)


@njit(**JIT)
def project(x2, W_ih, bias, out2):
    """out2 (N, G) = x2 (N, I) @ W_ihᵀ + bias (bias may be empty)."""
    gemm(x2, False, W_ih, True, out2, False)
    if bias.shape[0] > 0:
        N, G = out2.shape
        for r in range(N):
            row = out2[r]
            for j in range(G):
                row[j] += bias[j]


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
def param_grads(dxa2, dha2, x2, h2, W_ih, dx2, dW_ih, dW_hh):
    """δx = δa_x W_ih, δW_ih = δa_xᵀ x, δW_hh = δa_hᵀ h_{t-1}, all rows (T·B) at once.

    dxa2/dha2 (T·B, G) are the δ of the input-side and hidden-side pre-activations (the same array for LSTM and
    RNN; GRU's differ in the n block); h2 (T·B, P) are the states h_{t-1}; dx2 with no rows: δx not wanted.
    """
    if dx2.shape[0] > 0:
        gemm(dxa2, False, W_ih, False, dx2, False)
    gemm(dxa2, True, x2, False, dW_ih, False)
    gemm(dha2, True, h2, False, dW_hh, False)


@njit(**JIT)
def matmul_tn(A, B, out):
    """out = Aᵀ @ B (used for δW_hr = Σ_t δh_tᵀ m_t over all T·B rows)."""
    gemm(A, True, B, False, out, False)


@njit(**JIT)
def matmul_rows_worker(ctl, gen, chunks, ta, tb, A, B, C, fn):
    """C (m, n) = op(A) @ op(B) (op = transpose where ``ta``/``tb``; all C-contiguous), C's rows split into
    ``chunks`` blocks claimed by the threads of :mod:`._pool`, one single-threaded BLAS call per block: the CBLAS
    ``?gemm`` at address ``fn`` (NumPy's OpenBLAS, see :func:`._blas.numpy_blas`), or SciPy's when ``fn`` is 0.
    Neither library's own thread pool is woken: its workers kept spinning into the next forward pass, which then
    had one free core for its two threads (NumPy's OpenBLAS on its 2 threads for the language model's weight
    gradients: 141 against 107 ms per training step).

    The LSTM's weight gradients δ[W_ih | W_hh] = δaᵀ [x | h_{t-1}] are one such product over all T·B rows
    (``ta``): the two right-hand sides side by side in one (T·B, I+P) buffer make one product of width I+P, which
    ran 10–20% faster than two of widths I and P (OpenBLAS packs δaᵀ once)."""
    m, n = C.shape
    k = A.shape[0] if ta else A.shape[1]
    lda, ldb = A.shape[1], B.shape[1]
    per = (m + chunks - 1) // chunks
    while True:
        c = claim(ctl, gen, chunks)
        if c < 0:
            return
        r0 = min(m, c * per)
        r1 = min(m, r0 + per)
        a0 = r0 if ta else r0 * lda
        if fn != 0:
            cblas_gemm(fn, ta, tb, r1 - r0, n, k, A, a0, lda, B, ldb, C, r0 * n, n)
        else:
            gemm_raw(ta, tb, r1 - r0, n, k, A.reshape(-1)[a0:], lda, B.reshape(-1), ldb, C.reshape(-1)[r0 * n:], n)
        finish(ctl)
