"""Compiled (Numba) kernels: the same functions, signatures and results as :mod:`lstm.kernels.reference`.

Select with ``backend="numba"`` (``"auto"`` picks it when Numba is installed).  Results equal the reference to a
few ulp in float64 (tests use 1e-12) and to ~1e-6 relative in float32.

How the LSTM is fast (profile and numbers: ``benchmarks/bench_kernels.py``, ``benchmarks/KERNELS.md``):

- Python is entered once per kernel call, never per step.  Forward: the time loop; backward: the reverse loop
  (with δx and δb), then δ[W_ih | W_hh] over all T·B rows as one GEMM.
- Each step's product [x_t | h_{t-1}] [W_ih | W_hh]ᵀ (and δa_t W_hh, δa_t W_ih, the projection) runs in a
  register-blocked micro-kernel on weights packed once per call (:mod:`._microkernel`): ~100 GF/s on one core
  here (float32), against 20–79 GF/s for OpenBLAS called per step, which repacks W_hh every call.  The forward
  keeps x_t and h_{t-1} side by side in one buffer (T+1, B, I+P), so a step is one product, and its rows are
  the right-hand side of the weight gradient δaᵀ [x | h_{t-1}]: one GEMM of width I+P, 10–20% faster than two.
- Gates are kept gate-major (T, 4, B, H) so the gate math (branch-free vectorised σ/tanh, :mod:`._gates`)
  loops over all of a chunk's B·H units at once: with the copies around it, ~20% of the small forward pass
  and ~50% of the tiny one (the products are the rest).
- Without ``keep_cache`` (``lstm.no_grad()``) the forward keeps gates, cell states and [x_t | h_{t-1}] rows in
  rings one or two steps long, which stay in cache; without ``input_grad`` the backward skips δx = δa W_ih.
- Threads: the sequences of a batch are independent, so the batch is cut into 8-row chunks (4 below 16 rows;
  one per thread when the packed weights are too large to stay in L3), each running the whole time loop, shared
  by THREADS threads through a work-sharing pool (:mod:`._pool`) — no per-step barrier, and the caller never
  waits for a thread the OS has not scheduled.  GRU and RNN run the same way: their per-step product on the
  packed micro-kernel, their batch in row chunks on the pool.  The weight gradients and the GRU/RNN input
  projection are split by output rows over the same threads with single-threaded BLAS calls; SciPy's OpenBLAS
  pool is never woken (its spinning workers took a core from the next forward pass: the GRU forward after a
  2-thread SciPy projection waited ~2.5 ms for its helper).
- Buffers come from a pool kept between calls (:mod:`._workspace`): fresh ``mmap`` pages faulted by two threads
  at once cost more than the small forward pass itself, and every array starts on a cache line so neighbouring
  row chunks never share one.  The loops allocate nothing.

Compilation is lazy (first call) and cached on disk (``cache=True``), so only the first process ever compiles;
after an edit to any kernel source every cache is dropped (:func:`lstm.kernels.drop_stale_caches`), since kernels
compile in functions of their sibling modules.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np

from . import _workspace as workspace, reference as ref
from ._adam import adam_worker
from ._blas import numpy_blas, set_threads
from ._head import linear_cross_entropy_worker
from ._gru_rnn_loops import gru_backward_worker, gru_forward_worker, rnn_backward_worker, rnn_forward_worker
from ._lstm_loops import lstm_backward_worker, lstm_forward_worker, pack_gate_weights_worker
from ._microkernel import MR, pack_panels_worker, panel_width
from ._pool import Pool, row_bounds
from ._steal import new_steal
from ._reductions import softmax_cross_entropy_rows, sum_rows_by_id_worker, sum_squares as _sum_squares
from ._shared import matmul_rows_worker, sum_rows

LSTMParams, GRUParams, RNNParams = ref.LSTMParams, ref.GRUParams, ref.RNNParams

# A GEMM phase with at least this many multiply-adds is split over THREADS threads, smaller ones run on one.
PARALLEL_MACS = 1 << 21
THREADS = 2
# A time loop with at least this many multiply-adds (T·B·4H·(I + P)) splits its batch into chunks of CHUNK_ROWS
# rows shared by THREADS threads (see _chunks, _pool.py); smaller ones run on the calling thread.  The tiny grid
# size (2M) measured no faster on 2 threads than on 1 (two 4-row chunks side by side each run ~30% slower than
# alone, and the helper joins ~10 µs late).
PARALLEL_LOOP_MACS = 1 << 22
CHUNK_ROWS = 8
# Packed weights larger than this are streamed from memory at every step rather than from L3 (32 MB here, shared):
# then each thread takes one chunk of B/THREADS rows, so every weight panel it loads serves all of its rows.
STREAMED_WEIGHT_BYTES = 12 << 20
# A weight pack of at least this many values is split over the threads (a pack runs at ~0.45 ns per value: the
# character model's 1024 × 512 [W_ih | W_hh] 0.5 ms cold, ahead of every forward pass).
PARALLEL_PACK = 1 << 17
# Products split over the pool call NumPy's bundled OpenBLAS when there is one (see _blas.numpy_blas).
USE_NUMPY_BLAS = True
# A fused Adam update of at least this many elements is split over THREADS threads.
PARALLEL_ADAM = 1 << 16
_pools: dict[int, Pool] = {}


def _pool() -> Pool:
    if THREADS not in _pools:
        _pools[THREADS] = Pool(THREADS)
    return _pools[THREADS]


@dataclass
class LSTMCache(ref.LSTMCache):
    """The reference cache plus the buffers the compiled backward reads: i, f, g, o are views of ``act``."""

    act: np.ndarray | None = None      # (T, 4, B, Hp) gates i, f, g, o, units padded to Hp ≥ H
    tanh_c: np.ndarray | None = None   # (T, B, H)
    xh: np.ndarray | None = None       # (T+1, B, I+P) [x_t | h_{t-1}] per row; h is a view of its last P columns


@dataclass
class GRUCache(ref.GRUCache):
    act: np.ndarray | None = None      # (T, B, 3H) [r, z, n]; r, z, n are views of it


RNNCache = ref.RNNCache


# ---- helpers ---------------------------------------------------------------------------------------------------
def _dtype(x) -> np.dtype:
    dt = np.asarray(x).dtype
    return dt if dt in (np.float32, np.float64) else np.dtype(np.float64)


def _c(a, dt):
    return np.ascontiguousarray(a, dtype=dt)


_EMPTIES: dict = {}


def _empty(dt, ndim):
    """A (0, …, 0) array standing for an absent optional argument of a compiled loop (one per dtype and ndim)."""
    key = (dt, ndim)
    out = _EMPTIES.get(key)
    if out is None:
        out = _EMPTIES[key] = np.empty((0,) * ndim, dt)
    return out


def _kept(x, given):
    """x for a backward cache: a copy when it is the caller's own array (``given``), which the caller may change
    before backward (the reference caches copy too)."""
    return x.copy() if np.may_share_memory(x, given) else x


def _no_ids():
    """The (0, 0) ids of an input that is not a lookup."""
    return _empty(np.dtype(np.int64), 2)


def _lookup_input(ids, dt):
    """The LSTM loop's own input after a lookup: (T, B, 0), the table's rows coming in through ``tab``."""
    return np.empty(ids.shape + (0,), dt)


def _chunks(B, macs, weight_bytes=0) -> int:
    """Row chunks for a time loop: 1 (caller only) for small loops, else blocks of CHUNK_ROWS rows.

    More chunks than threads from 16 rows per thread on: a thread that the OS deschedules holds at most one
    chunk, which is what the others wait for at the end (see :mod:`._pool`).  Smaller chunks cost a little per
    row (small grid size, 2 threads, interleaved runs: 8-row chunks 0.78 ms, 4-row chunks 0.84 ms).  Batches of
    8–15 rows are cut into 4-row chunks (the micro-kernel tile).  With packed weights past
    ``STREAMED_WEIGHT_BYTES`` each chunk's pass over them comes from memory, so one chunk per thread: float64 at
    the large size (16 MB), 8-row chunks against 32-row: forward 412–427 against 340–356 ms, training 887–1050
    against 821–830 ms; float32 large (8 MB) and float64 charlm (4 MB) measured no different.
    """
    if THREADS > 1 and macs >= PARALLEL_LOOP_MACS and B >= 8:
        rows = CHUNK_ROWS if B >= 2 * CHUNK_ROWS else 4
        if weight_bytes > STREAMED_WEIGHT_BYTES:
            rows = max(rows, (B + THREADS - 1) // THREADS)
        return (B + rows - 1) // rows
    return 1


_PIECES: dict = {}


def _row_pieces(B, chunks):
    """(piece (B,) int64, count): the partial-sum slot of each batch row in a backward loop of ``chunks`` chunks —
    each chunk's rows cut into runs of MR from its first row, the only places rows change hands (:mod:`._steal`),
    so one thread at a time adds to a slot, always in the same order."""
    key = (B, chunks)
    if key not in _PIECES:
        piece, k = np.empty(B, np.int64), 0
        for c in range(chunks):
            r0, r1 = row_bounds(B, chunks, c)
            for r in range(r0, r1, MR):
                piece[r:min(r + MR, r1)] = k
                k += 1
        _PIECES[key] = piece, k
    return _PIECES[key]


def _packed(W, transpose, dt):
    """W packed into micro-kernel panels for S = A @ op(W), op(W) = Wᵀ if ``transpose`` (the forward's gate-major
    [W_ih | W_hh]ᵀ: :func:`._lstm_loops.pack_gate_weights`)."""
    K, N = (W.shape[1], W.shape[0]) if transpose else W.shape
    nr = panel_width(dt)
    Bp = workspace.empty(((N + nr - 1) // nr, K, nr), dt)
    _pool().run(pack_panels_worker, _pass_chunks(Bp.size), Bp.shape[0], W, transpose, N, N, Bp)
    return Bp


def _pass_chunks(size: int) -> int:
    """Chunks for a pass over ``size`` values (a weight pack, a sum by id): 2 per thread (the two cores' speeds
    drift apart within a call), 1 (the caller alone) below PARALLEL_PACK."""
    return 2 * THREADS if THREADS > 1 and size >= PARALLEL_PACK else 1


def _padded(N, dt) -> int:
    """N rounded up to whole micro-kernel panels (the width of every micro-kernel result)."""
    nr = panel_width(dt)
    return (N + nr - 1) // nr * nr


def _scratch(B, N, dt):
    """A (B, N rounded up to whole panels) buffer for micro-kernel results."""
    return workspace.empty((B, _padded(N, dt)), dt)


def _mask2(mask, T, B, dt):
    return _empty(dt, 2) if mask is None else _c(np.asarray(mask).reshape(T, B), dt)


def _state(v, shape, dt, padded=False):
    """A state (B, N) from ``v`` (zeros when None).  ``padded``: in a (B, N rounded up to whole panels) buffer,
    zero past N, for the micro-kernel to accumulate whole panels into (the GRU/RNN backward's δh)."""
    B, N = shape
    out = workspace.zeros((B, _padded(N, dt) if padded else N), dt)
    if v is not None:
        out[:, :N] = np.asarray(v, dtype=dt).reshape(shape)
    return out


def _project(x, W_ih, bias, G, dt):
    """act (T, B, G) = x W_ihᵀ + bias over all T·B rows at once, on the pool's threads."""
    T, B, I = x.shape
    act = workspace.empty((T, B, G), dt)
    _matmul_into(x.reshape(T * B, I), False, W_ih, True, act.reshape(T * B, G), bias)
    return act


def _bias_sum(dt, *parts):
    parts = [p for p in parts if p is not None]
    if not parts:
        return _empty(dt, 1)
    out = _c(parts[0], dt).copy()
    for p in parts[1:]:
        out += _c(p, dt)
    return out


def _input_side(dxa, dha, x, hs, W_ih, dt, input_grad):
    """dx (None without ``input_grad``), dW_ih, dW_hh from the δ pre-activations (T, B, G) of both sides."""
    T, B, I = x.shape
    G, P = dxa.shape[2], hs.shape[2]
    dxa2, dha2 = dxa.reshape(T * B, G), dha.reshape(T * B, G)
    dx = None
    if input_grad:
        dx = workspace.empty((T, B, I), dt)
        _matmul_into(dxa2, False, W_ih, False, dx.reshape(T * B, I))         # δx = δa_x W_ih
    dW_ih = workspace.empty((G, I), dt)
    _matmul_into(dxa2, True, x.reshape(T * B, I), False, dW_ih)               # δW_ih = δa_xᵀ x
    dW_hh = workspace.empty((G, P), dt)
    _matmul_into(dha2, True, hs[:T].reshape(T * B, P), False, dW_hh)          # δW_hh = δa_hᵀ h_{t-1}
    return dx, dW_ih, dW_hh


@contextmanager
def _blas_on_pool(dt):
    """The address of NumPy's OpenBLAS ``?gemm`` for ``dt`` (0: SciPy's, through :func:`._blas.gemm_raw`) for a
    pool worker to call, with that BLAS held to one thread meanwhile: the pool's threads make the calls."""
    nb = numpy_blas() if USE_NUMPY_BLAS else None
    if nb is None:
        set_threads(1)
        yield 0
        return
    before = nb[3]()
    if before != 1:
        nb[2](1)
    try:
        yield nb[0] if dt == np.float32 else nb[1]
    finally:
        if before != 1:
            nb[2](before)


def _product_chunks(C, k) -> int:
    """Row blocks for a product into C (m, n) over k: one per thread when it is worth sharing, else one."""
    m, n = C.shape
    return THREADS if m * n * k >= PARALLEL_MACS and m >= 2 * THREADS else 1


def _matmul_into(A, ta, B, tb, C, bias=None, split=None):
    """C = op(A) @ op(B) (+ bias on every row) on the pool's threads (:func:`._shared.matmul_rows_worker`),
    products below PARALLEL_MACS on the caller alone.  ``split`` (left, right): C's columns also copied into these
    two C-contiguous arrays, side by side."""
    chunks = _product_chunks(C, A.shape[0] if ta else A.shape[1])
    bias = _empty(C.dtype, 1) if bias is None or bias.shape[0] == 0 else bias
    left, right = (_empty(C.dtype, 2),) * 2 if split is None else split
    with _blas_on_pool(C.dtype) as fn:
        _pool().run(matmul_rows_worker, chunks, ta, tb, A, B, C, fn, bias, left, right)


def matmul(A, B, ta=False, tb=False):
    """op(A) @ op(B) for 2-D float32/float64 arrays of one dtype (op = transpose where ``ta``/``tb``), as
    :func:`lstm.kernels.reference.matmul`, on the kernels' threads: the output rows are split over THREADS
    threads, each a single-threaded BLAS call (NumPy's bundled OpenBLAS, held to one thread meanwhile, else
    SciPy's).  For the layers around the recurrent ones (the language model's
    output layer: three products of ~80M multiply-adds per training step), which NumPy's BLAS would run on one
    thread while training (see :mod:`lstm.train.trainer`) or with a second pool of spinning threads."""
    dt = _dtype(A)
    A, B = _c(A, dt), _c(B, dt)
    m = A.shape[1] if ta else A.shape[0]
    n = B.shape[0] if tb else B.shape[1]
    k = A.shape[0] if ta else A.shape[1]
    if min(m, n, k) == 0:
        return np.zeros((m, n), dt)
    out = workspace.empty((m, n), dt)
    _matmul_into(A, ta, B, tb, out)
    return out


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, decay, weight_decay, maximize, lerp_weight,
                beta2, step_size, bias_correction2_sqrt, eps):
    """One Adam step for one parameter, in place, as a single fused pass (:mod:`._adam`); bit-identical to the
    NumPy code of :meth:`lstm.optim.Adam._update`, whose scalars these are.  Arrays C-contiguous, of one dtype;
    ``max_exp_avg_sq`` None without amsgrad.  Parameters of ≥ PARALLEL_ADAM elements are split over the threads."""
    dt = param.dtype.type
    low = abs(lerp_weight) < 0.5
    vmax = np.empty(0, param.dtype) if max_exp_avg_sq is None else max_exp_avg_sq.reshape(-1)
    chunks = 2 * THREADS if param.size >= PARALLEL_ADAM else 1
    with np.errstate(over="ignore"):          # an lr beyond float32 is inf here, as in torch; the loss tells
        scalars = (dt(-1 if maximize else 1), dt(decay), dt(weight_decay),
                   dt(lerp_weight if low else 1.0 - lerp_weight), low, dt(beta2), dt(1 - beta2), dt(-step_size),
                   dt(bias_correction2_sqrt), dt(eps))
    _pool().run(adam_worker, chunks, param.reshape(-1), grad.reshape(-1), exp_avg.reshape(-1), exp_avg_sq.reshape(-1),
                vmax, max_exp_avg_sq is not None, *scalars)


def softmax_cross_entropy(z, t, scale):
    """(Σ −log softmax(z_n)[t_n] over rows with t_n ≥ 0, grad) for logits z (N, C) and int64 targets t (N,):
    grad (N, C) = scale · (softmax(z_n) − onehot(t_n)), zero on rows with t_n < 0 — the plain case of
    :func:`lstm.nn.cross_entropy` (no class weights, no smoothing) in one compiled pass (:mod:`._reductions`)."""
    z, t = _c(z, _dtype(z)), _classes(t, z.shape[1])
    grad = np.empty_like(z)
    total = softmax_cross_entropy_rows(z, t, z.dtype.type(scale), grad)
    return total, grad


def _classes(t, C: int) -> np.ndarray:
    """Class ids as the loss kernels index rows with them: int64, each < C (< 0: the row does not count)."""
    t = _c(t, np.int64)
    if t.size and int(t.max()) >= C:
        raise ValueError(f"class id {int(t.max())} is out of range for {C} classes")
    return t


def linear_cross_entropy(x, W, b, t, scale):
    """(Σ loss, δx, δW, δb) of the softmax cross-entropy of z = x Wᵀ + b against classes t, for x (N, H), W (C, H),
    b (C,) or None, t (N,) int64 (t_n < 0: row n does not count): with δ = scale · (softmax(z_n) − onehot(t_n))
    (zero rows where t_n < 0), δx = δ W (N, H), δW = δᵀ x (C, H), δb = Σ_rows δ (None without b).  One pool call
    over blocks of rows, each block's logits in cache from its product to its gradients (:mod:`._head`); the sums
    of the blocks' δW and δb are added here.  What :func:`lstm.nn.losses.linear_cross_entropy` computes."""
    dt = _dtype(x)
    x, W = _c(x, dt), _c(W, dt)
    (N, H), C = x.shape, W.shape[0]
    chunks = 2 * THREADS if THREADS > 1 and N * C * H >= PARALLEL_MACS and N >= 8 * THREADS else 1
    bias = _empty(dt, 1) if b is None else _c(b, dt)
    z = workspace.empty((N, C), dt)
    dx = workspace.empty((N, H), dt)
    dWs = workspace.empty((chunks, C, H), dt)
    dbs = workspace.empty((chunks, C), dt)
    totals = np.zeros(chunks)
    with _blas_on_pool(dt) as fn:
        _pool().run(linear_cross_entropy_worker, chunks, x, W, bias, _classes(t, C), dt.type(scale), fn, z, dx,
                    dWs, dbs, totals)
    dW = dWs.sum(axis=0) if chunks > 1 else dWs[0]
    db = None if b is None else (dbs.sum(axis=0) if chunks > 1 else dbs[0])
    return float(totals.sum()), dx, dW, db


def sum_squares(x) -> float:
    """Σ x² of a float32/float64 array, accumulated in float64 without a float64 copy (clipping's 2-norm)."""
    return float(_sum_squares(np.ascontiguousarray(x).reshape(-1)))


def _sum_by_id(src, ids, V):
    """(V, G): row v = Σ src[n] over the rows n with ids[n] = v (src (N, G), ids (N,)) — the gradient of a table
    whose rows were gathered by ids.  Blocks of rows on the pool's threads, each into its own partial table, the
    partials added in block order: the same bits whichever thread took which block."""
    N, G = src.shape
    chunks = _pass_chunks(N * G)
    parts = workspace.empty((chunks, V, G), src.dtype)
    _pool().run(sum_rows_by_id_worker, chunks, src, ids, parts)
    out = parts[0]
    for k in range(1, chunks):
        out += parts[k]
    return out


def _colsum(d, dt):
    out = workspace.empty(d.shape[-1], dt)
    sum_rows(d.reshape(-1, d.shape[-1]), out)
    return out


# ================================================================================================================
# LSTM
# ================================================================================================================
def lstm_forward(x, h0, c0, p: LSTMParams, mask=None, keep_cache=True, ids=None, batch_major=False):
    """As :func:`lstm.kernels.reference.lstm_forward`; the loop writes a ``batch_major`` y (B, T, P) in place.
    Without ``keep_cache`` the per-step buffers (gates, cell states, [x_t | h_{t-1}] rows) are rings of one or two
    steps that stay in cache, instead of T steps kept for backward: 3–5% faster at the grid sizes, up to 10% at
    small (``benchmarks/KERNELS.md``).

    Inputs by lookup (``ids`` (T, B), x the table (V, I)): the V table rows are projected once, tab = x W_ihᵀ + b
    (V·I·4H multiply-adds instead of T·B·I·4H), and each step gathers its rows of tab and adds h_{t-1} W_hhᵀ; the
    loop's own input is then empty (I = 0)."""
    dt = _dtype(x)
    x = table = _c(x, dt)
    W_ih, b = _c(p.W_ih, dt), _bias_sum(dt, p.b_ih, p.b_hh)
    tab = _empty(dt, 3)
    if ids is not None:                                   # the table's rows projected, bias included
        ids = np.ascontiguousarray(ids, np.int64)
        tab = _lookup_table(table, W_ih, b, _padded(W_ih.shape[0] // 4, dt))
        x, W_ih, b = _lookup_input(ids, dt), _empty(dt, 2), _empty(dt, 1)   # [W_ih | W_hh] packs W_hh alone
    T, B, I = x.shape
    G, P = p.W_hh.shape
    H, nr = G // 4, panel_width(dt)
    Hp, proj = _padded(H, dt), p.W_hr is not None
    n = T if keep_cache else 1                            # steps kept (the loop indexes rings modulo their length)
    act = workspace.empty((n, 4, B, Hp), dt)              # gates i, f, g, o; units padded to whole panels
    xh = workspace.empty((n + 1, B, I + P), dt)           # row t: [x_t | h_{t-1}]
    xh[0, :, I:] = h0
    cs = workspace.empty((n + 1, B, H), dt)
    cs[0] = c0
    tc = workspace.empty((n, B, H), dt)
    Wp = workspace.empty((4 * Hp // nr, I + P, nr), dt)   # [W_ih | W_hh]ᵀ packed gate-major
    bias = workspace.empty(4 * Hp, dt)                    # b_ih + b_hh gate-major (padded like act)
    _pool().run(pack_gate_weights_worker, _pass_chunks(Wp.size), Wp.shape[0], W_ih, _c(p.W_hh, dt), b, Wp,
                bias)
    zflat = workspace.zeros(max(B * H, 3 * H), dt)        # zeros standing in for absent peepholes
    m = workspace.empty((B, H), dt)                       # o ⊙ tanh(c_t)
    y = workspace.empty((B, T, P) if batch_major else (T, B, P), dt)
    Wrp = _packed(_c(p.W_hr, dt), True, dt) if proj else _empty(dt, 3)
    peep = _empty(dt, 1) if p.peephole is None else _c(p.peephole, dt)
    args = (x, _no_ids() if ids is None else ids, tab, Wp, bias, Wrp, peep, zflat, _mask2(mask, T, B, dt),
            bool(p.coupled), act, xh, cs, tc, y, bool(batch_major), m, _scratch(B, P, dt) if proj else _empty(dt, 2))
    chunks = _chunks(B, T * B * G * (I + P), Wp.nbytes)
    _pool().run(lstm_forward_worker, chunks, *args, new_steal(chunks))
    h_T, c_T = xh[T % (n + 1), :, I:].copy(), cs[T % (n + 1)].copy()     # step T's row, as the loop indexes it
    if not keep_cache:
        return y, h_T, c_T, None
    table = table if ids is None else table.copy()        # the backward reads the table; x itself is in xh
    cache = LSTMCache(x=table, ids=ids, h=xh[:, :, I:], c=cs, i=act[:, 0, :, :H], f=act[:, 1, :, :H],
                      g=act[:, 2, :, :H], o=act[:, 3, :, :H], mask=mask, act=act, tanh_c=tc, xh=xh)
    return y, h_T, c_T, cache


def _weight_targets(out, W_ih, W_hh):
    """(δW_ih, δW_hh) arrays from ``out`` for the backward to write into — both or neither: C-contiguous, of the
    weights' shapes and dtypes — else (None, None)."""
    if not out:
        return None, None
    pair = out.get("W_ih"), out.get("W_hh")
    for a, w in zip(pair, (W_ih, W_hh)):
        if a is None or a.shape != w.shape or a.dtype != w.dtype or not a.flags.c_contiguous:
            return None, None
    return pair


def _lookup_table(table, W_ih, b, Hp):
    """tab (4, V, Hp): the table's rows projected, table W_ihᵀ + b (b (4H,) or empty), gate-major and padded like
    ``act``."""
    (V, _), H = table.shape, W_ih.shape[0] // 4
    tab = workspace.empty((4, V, Hp), table.dtype)
    if Hp > H:
        tab[:, :, H:] = 0
    for k in range(4):                                    # gate k's rows straight into its block
        np.matmul(table, W_ih[k * H:(k + 1) * H].T, out=tab[k, :, :H])
        if b.shape[0]:
            tab[k, :, :H] += b[k * H:(k + 1) * H]
    return tab


def _xh(cache, x, dt):
    """[x_t | h_{t-1}] rows (≥T, B, I+P): the forward pass's own buffer, or built from a cache without one (e.g.
    the reference backend's)."""
    xh = getattr(cache, "xh", None)
    if xh is not None:
        return xh
    T, I = x.shape[0], x.shape[2]
    hs = np.asarray(cache.h)
    out = workspace.empty((T, x.shape[1], I + hs.shape[2]), dt)
    out[:, :, :I] = x
    out[:, :, I:] = hs[:T]
    return out


def lstm_backward(p: LSTMParams, cache, dy, dh_T=None, dc_T=None, input_grad=True, batch_major=False, out=None):
    """As :func:`lstm.kernels.reference.lstm_backward`; the loop reads a ``batch_major`` dy (B, T, P) in place.
    After a forward by lookup, δa is summed per table row after the loop (δtab (V, 4H), :func:`_sum_by_id`), and
    δW_ih = δtabᵀ table, δtable = δtab W_ih replace the products over all T·B inputs.  δW_ih and δW_hh go straight
    into ``out``'s arrays when it has both (:func:`_weight_targets`).

    Two more keys of ``out`` let a stack of layers run one layer's weight-gradient product beside the next
    layer's loop, so that the threads' uneven ends of that product are evened out by the loop's hand-over of rows
    (``nn.recurrent``): with ``"defer": True`` the product into ``out``'s arrays is not run but returned as
    ``grads["pending"]``, and ``"then": pending`` runs such a product in this call, alongside the loop."""
    dt = _dtype(cache.x)
    x, cs, ids = _c(cache.x, dt), _c(cache.c, dt), cache.ids
    table = x
    if ids is not None:
        x = _lookup_input(ids, dt)
    act = getattr(cache, "act", None)
    act = _c(np.stack([cache.i, cache.f, cache.g, cache.o], axis=1) if act is None else act, dt)  # (T, 4, B, ≥H)
    xh = _xh(cache, x, dt)                                                                 # (≥T, B, I+P)
    tc = getattr(cache, "tanh_c", None)
    tc = _c(np.tanh(cs[1:]) if tc is None else tc, dt)
    T, B, I = x.shape
    W_ih, W_hh = _c(p.W_ih, dt), _c(p.W_hh, dt)
    G, P = W_hh.shape
    H = G // 4
    proj = p.W_hr is not None
    W_hr = _c(p.W_hr, dt) if proj else _empty(dt, 2)
    peep = np.zeros(3 * H, dt) if p.peephole is None else _c(p.peephole, dt)
    mask = cache.mask
    dh = _state(dh_T, (B, P), dt)
    dc = _state(dc_T, (B, H), dt)
    da = workspace.empty((T, B, G), dt)
    dhp = workspace.empty((T, B, P), dt) if proj else _empty(dt, 3)
    mbuf = workspace.empty((T, B, H), dt) if proj else _empty(dt, 3)
    dm = workspace.empty((B, H), dt)
    keep_h = workspace.empty((B, P), dt) if mask is not None else _empty(dt, 2)
    keep_c = workspace.empty((B, H), dt) if mask is not None else _empty(dt, 2)
    S, Sm = _scratch(B, P, dt), (_scratch(B, H, dt) if proj else _empty(dt, 2))
    dxp = workspace.empty((T, B, _padded(I, dt)), dt) if input_grad else _empty(dt, 3)
    packed = (_packed(W_hh, False, dt), _packed(W_hr, False, dt) if proj else _empty(dt, 3),
              _packed(W_ih, False, dt) if input_grad and ids is None else _empty(dt, 3))
    chunks = _chunks(B, T * B * G * (I + P), sum(w.nbytes for w in packed))
    piece, pieces = _row_pieces(B, chunks)               # partial sums: one per piece of rows (see _lstm_loops)
    dpeeps = workspace.zeros((pieces, _padded(3 * H, dt)), dt)[:, :3 * H]   # one cache-line-aligned row per piece
    dbs = workspace.zeros((pieces, _padded(G, dt)), dt)[:, :G]             # δb, likewise
    plain = not proj and p.peephole is None
    dg4 = workspace.empty((4, B, H), dt) if plain else _empty(dt, 3)       # gate-major δa of one step
    args = (*packed, peep, p.peephole is not None, _mask2(mask, T, B, dt), bool(p.coupled), act, cs, tc, _c(dy, dt),
            bool(batch_major), dh, dc, da, dhp, mbuf, dm, dpeeps, dbs, piece, keep_h, keep_c, S, Sm, dxp, dg4)
    then = (out or {}).get("then")                        # a product handed on by the layer above, run alongside
    products = 0 if then is None else _product_chunks(then[2], then[0].shape[0])
    with _blas_on_pool(dt) if products else nullcontext(0) as fn:
        A, Bm, C, left, right = then or (_empty(dt, 2),) * 5
        _pool().run(lstm_backward_worker, products + chunks, *args, new_steal(chunks), products, A, Bm, C, fn,
                    _empty(dt, 1), left, right)
    dx = None if not input_grad else dxp if dxp.shape[2] == I else np.ascontiguousarray(dxp[:, :, :I])
    o_ih, o_hh = _weight_targets(out, W_ih, W_hh)
    xh2 = xh[:T].reshape(T * B, I + P)
    pending = None
    if I == 0 and o_hh is not None:                       # δW_hh = δaᵀ h_{t-1}, straight into the layer's array
        _matmul_into(da.reshape(T * B, G), True, xh2, False, o_hh)
        dW_ih, dW_hh = None, o_hh
    else:                                                 # δ[W_ih | W_hh] in one product (its columns copied on)
        dW = workspace.empty((G, I + P), dt)
        split = None if o_hh is None else (o_ih, o_hh)
        if split and out.get("defer"):                    # handed on, to run beside the next layer's loop
            pending = (da.reshape(T * B, G), xh2, dW, o_ih, o_hh)
        else:
            _matmul_into(da.reshape(T * B, G), True, xh2, False, dW, split=split)
        dW_ih, dW_hh = (o_ih, o_hh) if split else (dW[:, :I], dW[:, I:])
    if ids is not None:                                   # δtab (V, 4H) → δW_ih = δtabᵀ table, δtable = δtab W_ih
        dtab = _sum_by_id(da.reshape(T * B, G), np.ascontiguousarray(ids, np.int64).reshape(-1), table.shape[0])
        dW_ih = workspace.empty((G, table.shape[1]), dt) if o_ih is None else o_ih
        _matmul_into(dtab, True, table, False, dW_ih)
        if input_grad:
            dx = workspace.empty(table.shape, dt)
            _matmul_into(dtab, False, W_ih, False, dx)
    db = None
    if p.b_ih is not None or p.b_hh is not None:
        db = dbs.sum(axis=0) if pieces > 1 else dbs[0]
    dW_hr = None
    if proj:
        dW_hr = workspace.empty((P, H), dt)
        _matmul_into(dhp.reshape(T * B, P), True, mbuf.reshape(T * B, H), False, dW_hr)
    grads = {
        "W_ih": dW_ih, "W_hh": dW_hh,
        "b_ih": None if p.b_ih is None else db,
        "b_hh": None if p.b_hh is None else (db.copy() if p.b_ih is not None else db),
        "W_hr": dW_hr, "peephole": None if p.peephole is None else dpeeps.sum(axis=0),
    }
    if pending is not None:
        grads["pending"] = pending
    return dx, dh, dc, grads


# ================================================================================================================
# GRU
# ================================================================================================================
def gru_forward(x, h0, p: GRUParams, mask=None, keep_cache=True):
    """As :func:`lstm.kernels.reference.gru_forward`."""
    dt = _dtype(x)
    given, x = x, _c(x, dt)
    T, B, _ = x.shape
    W_ih, W_hh = _c(p.W_ih, dt), _c(p.W_hh, dt)
    G, H = W_hh.shape
    b_hh = None if p.b_hh is None else _c(p.b_hh, dt)
    b_rz = None if b_hh is None else np.concatenate([b_hh[:2 * H], np.zeros(H, dt)])
    b_hn = np.zeros(H, dt) if b_hh is None else b_hh[2 * H:].copy()
    act = _project(x, W_ih, _bias_sum(dt, p.b_ih, b_rz), G, dt)
    hs = workspace.empty((T + 1, B, H), dt)
    hs[0] = h0
    hn = workspace.empty((T, B, H), dt)
    y = workspace.empty((T, B, H), dt)
    Wp = _packed(W_hh, True, dt)                          # W_hhᵀ in panels: S = h_{t-1} W_hhᵀ
    chunks = _chunks(B, T * B * G * H, Wp.nbytes)
    _pool().run(gru_forward_worker, chunks, B, 0, new_steal(chunks), Wp, b_hn, _mask2(mask, T, B, dt), act, hs, hn,
                _scratch(B, G, dt), y)
    cache = GRUCache(x=_kept(x, given), h=hs, r=act[:, :, :H], z=act[:, :, H:2 * H], n=act[:, :, 2 * H:], hn=hn,
                     mask=mask, act=act) if keep_cache else None
    return y, hs[T].copy(), cache


def gru_backward(p: GRUParams, cache, dy, dh_T=None, input_grad=True):
    """As :func:`lstm.kernels.reference.gru_backward`."""
    dt = _dtype(cache.x)
    x, hs, hn = _c(cache.x, dt), _c(cache.h, dt), _c(cache.hn, dt)
    act = getattr(cache, "act", None)
    act = _c(np.concatenate([cache.r, cache.z, cache.n], axis=-1) if act is None else act, dt)
    T, B, _ = x.shape
    W_ih, W_hh = _c(p.W_ih, dt), _c(p.W_hh, dt)
    G, H = W_hh.shape
    dh = _state(dh_T, (B, H), dt, padded=True)           # (B, H rounded up to whole panels)
    dxa = workspace.empty((T, B, G), dt)
    dha = workspace.empty((T, B, G), dt)
    Wb = _packed(W_hh, False, dt)                         # W_hh in panels: δh += δa_h W_hh
    chunks = _chunks(B, T * B * G * H, Wb.nbytes)
    _pool().run(gru_backward_worker, chunks, B, T - 1, new_steal(chunks), Wb, _mask2(cache.mask, T, B, dt), act, hs,
                hn, _c(dy, dt), dh, dxa, dha)
    dh = np.ascontiguousarray(dh[:, :H])
    dx, dW_ih, dW_hh = _input_side(dxa, dha, x, hs, W_ih, dt, input_grad)
    grads = {"W_ih": dW_ih, "W_hh": dW_hh,
             "b_ih": None if p.b_ih is None else _colsum(dxa, dt),
             "b_hh": None if p.b_hh is None else _colsum(dha, dt)}
    return dx, dh, grads


# ================================================================================================================
# RNN
# ================================================================================================================
def _relu(p) -> bool:
    if p.nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {p.nonlinearity!r}")
    return p.nonlinearity == "relu"


def rnn_forward(x, h0, p: RNNParams, mask=None, keep_cache=True):
    """As :func:`lstm.kernels.reference.rnn_forward`."""
    dt = _dtype(x)
    given, x = x, _c(x, dt)
    T, B, _ = x.shape
    W_ih, W_hh = _c(p.W_ih, dt), _c(p.W_hh, dt)
    H = W_hh.shape[0]
    act = _project(x, W_ih, _bias_sum(dt, p.b_ih, p.b_hh), H, dt)
    hs = workspace.empty((T + 1, B, H), dt)
    hs[0] = h0
    y = workspace.empty((T, B, H), dt)
    Wp = _packed(W_hh, True, dt)
    chunks = _chunks(B, T * B * H * H, Wp.nbytes)
    _pool().run(rnn_forward_worker, chunks, B, 0, new_steal(chunks), Wp, _mask2(mask, T, B, dt), _relu(p), act, hs,
                _scratch(B, H, dt), y)
    return y, hs[T].copy(), RNNCache(x=_kept(x, given), h=hs, mask=mask) if keep_cache else None


def rnn_backward(p: RNNParams, cache, dy, dh_T=None, input_grad=True):
    """As :func:`lstm.kernels.reference.rnn_backward`."""
    dt = _dtype(cache.x)
    x, hs = _c(cache.x, dt), _c(cache.h, dt)
    T, B, _ = x.shape
    W_ih, W_hh = _c(p.W_ih, dt), _c(p.W_hh, dt)
    H = W_hh.shape[0]
    dh = _state(dh_T, (B, H), dt, padded=True)
    da = workspace.empty((T, B, H), dt)
    Wb = _packed(W_hh, False, dt)
    chunks = _chunks(B, T * B * H * H, Wb.nbytes)
    _pool().run(rnn_backward_worker, chunks, B, T - 1, new_steal(chunks), Wb, _mask2(cache.mask, T, B, dt),
                _relu(p), hs, _c(dy, dt), dh, da)
    dh = np.ascontiguousarray(dh[:, :H])
    dx, dW_ih, dW_hh = _input_side(da, da, x, hs, W_ih, dt, input_grad)
    db = _colsum(da, dt) if (p.b_ih is not None or p.b_hh is not None) else None
    grads = {"W_ih": dW_ih, "W_hh": dW_hh,
             "b_ih": None if p.b_ih is None else db,
             "b_hh": None if p.b_hh is None else (db.copy() if p.b_ih is not None else db)}
    return dx, dh, grads
