r"""Register-blocked matrix product for the per-step recurrent GEMM, with the weight packed once per call (private).

Every time step multiplies a thin matrix (B rows) by the same weight: h_{t-1} W_hhᵀ forward, δa_t W_hh backward.
Called through BLAS, each call re-packs the whole weight: OpenBLAS measured 20 / 26 / 67 / 79 GF/s single-threaded
for the per-step products of the tiny / small / medium / large grid (8×128×32 … 64×2048×512, float32).  Here the
weight is packed once per kernel call into column panels and every step runs this kernel (same shapes: 100 / 110 /
111 / 108 GF/s; the core's float32 peak is ~112 GF/s, one 512-bit FMA per cycle at ~3.5 GHz):

    S[r, j] = S0[r, j] + Σ_k A[r, k] · Bp[j // NR, k, j % NR]        r ∈ [r0, r1),  j < n_panels·NR

S0 is 0 (STORE), S itself (ACCUMULATE: the LSTM adds h W_hhᵀ onto the input projection in place) or a bias row
(BIAS).  ``Bp`` (n_panels, K, NR) holds NR consecutive output columns per panel, each row k contiguous, zero-padded
past the real width, so results have whole panels of columns.  :func:`matmul_packed_blocks` writes the columns
gate-major instead (see its docstring).  The micro-kernel keeps an MR × NR tile of S in vector registers for the
whole k loop: per k it loads NV weight vectors and broadcasts MR scalars of A, i.e. MR·NV fused multiply-adds per
NV + MR loads.  It is emitted directly as LLVM IR with vector types (``<VL x float>``, ``llvm.fma``) because
Numba's loop vectoriser cannot keep accumulators in registers across the k loop (it cannot prove that the output
does not alias the weight).

Tile shape: NR = NV = 2 vectors of 16 float32 / 8 float64 (32 / 16 columns), MR = 4 rows: 8 accumulators, which
fits AVX2's 16 registers and leaves AVX-512 room.  Rows not a multiple of MR use the 1..3-row variants.  Chunks of
4, 8, 16 or 32 rows per call ran at the same speed (the hardware prefetcher streams the panels).

A single row (the streaming step, batch 1) has no rows to share a weight load, so :func:`matvec_packed` uses one
row of ROW_NV = 8 vectors (128 float32 / 64 float64 columns per panel): 8 independent accumulator chains cover
the FMA latency.  Measured for h W_hhᵀ + x W_ihᵀ at H = 64, I = 32 (96 KB of float32 weights, read from L2):
0.92 µs, against 1.1–1.7 µs for row dot products (horizontal reductions) and 1.18 µs with 2 vectors per row.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ._pool import claim_rows


MR = 4           # rows per register tile
NV = 2           # vectors per tile row
VL32, VL64 = 16, 8


def panel_width(dtype) -> int:
    """NR: output columns per packed panel for this dtype."""
    return NV * (VL32 if np.dtype(dtype) == np.float32 else VL64)


STORE, ACCUMULATE, BIAS = 0, 1, 2    # what the accumulators start from: 0, the current S, or a bias row


def _make_tile(mr: int, init: int, nv: int = NV):
    """An intrinsic computing one mr × NR tile (NR = nv vectors): S[s_off + r·lds + j] = S0 + Σ_k A[a_off + r·lda
    + k] · Bp[b_off + k·NR + j], where S0 is 0 (STORE), the current S (ACCUMULATE) or bias[bias_off + j] (BIAS)."""

    @intrinsic
    def tile(typingctx, A, a_off, lda, Bp, b_off, K, S, s_off, lds, bias, bias_off):
        sig = types.void(A, a_off, lda, Bp, b_off, K, S, s_off, lds, bias, bias_off)

        def codegen(context, builder, sig, args):
            A_, a_off_, lda_, Bp_, b_off_, K_, S_, s_off_, lds_, bias_, bias_off_ = args
            aty, bty, sty = sig.args[0], sig.args[3], sig.args[6]
            ft = context.get_value_type(aty.dtype)
            vl = VL32 if aty.dtype == types.float32 else VL64
            nr = nv * vl
            vt = ir.VectorType(ft, vl)
            i64 = ir.IntType(64)
            a_ptr = context.make_array(aty)(context, builder, A_).data
            b_ptr = context.make_array(bty)(context, builder, Bp_).data
            s_ptr = context.make_array(sty)(context, builder, S_).data
            a_base = builder.gep(a_ptr, [a_off_])
            b_base = builder.gep(b_ptr, [b_off_])
            s_base = builder.gep(s_ptr, [s_off_])
            zero_v = ir.Constant(vt, [ir.Constant(ft, 0.0)] * vl)
            el_align = 4 if aty.dtype == types.float32 else 8

            def vload(ptr, offset):
                ld = builder.load(builder.bitcast(builder.gep(ptr, [offset]), vt.as_pointer()))
                ld.align = el_align
                return ld

            starts = []
            for r in range(mr):
                row = []
                for v in range(nv):
                    if init == STORE:
                        row.append(zero_v)
                    elif init == ACCUMULATE:
                        off = builder.add(builder.mul(ir.Constant(i64, r), lds_), ir.Constant(i64, v * vl))
                        row.append(vload(s_base, off))
                    else:
                        b_ptr0 = context.make_array(sig.args[9])(context, builder, bias_).data
                        row.append(vload(b_ptr0, builder.add(bias_off_, ir.Constant(i64, v * vl))))
                starts.append(row)
            splat_mask = ir.Constant(ir.VectorType(ir.IntType(32), vl), [0] * vl)
            undef_v = ir.Constant(vt, ir.Undefined)
            fname = f"llvm.fma.v{vl}{'f32' if aty.dtype == types.float32 else 'f64'}"
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vt, [vt, vt, vt]), fname)

            pre = builder.basic_block           # after the start values are loaded
            loop = builder.append_basic_block("mk.loop")
            done = builder.append_basic_block("mk.done")
            has_k = builder.icmp_signed(">", K_, ir.Constant(i64, 0))
            builder.cbranch(has_k, loop, done)

            builder.position_at_end(loop)
            k = builder.phi(i64, "k")
            k.add_incoming(ir.Constant(i64, 0), pre)
            accs = []
            for r in range(mr):
                row = []
                for v in range(nv):
                    p = builder.phi(vt, f"acc{r}_{v}")
                    p.add_incoming(starts[r][v], pre)
                    row.append(p)
                accs.append(row)
            w_row = builder.gep(b_base, [builder.mul(k, ir.Constant(i64, nr))])
            ws = []
            for v in range(nv):
                wp = builder.bitcast(builder.gep(w_row, [ir.Constant(i64, v * vl)]), vt.as_pointer())
                ld = builder.load(wp)
                ld.align = 4 if aty.dtype == types.float32 else 8
                ws.append(ld)
            new = []
            for r in range(mr):
                a_idx = builder.add(builder.mul(ir.Constant(i64, r), lda_), k)
                av = builder.load(builder.gep(a_base, [a_idx]))
                bc = builder.shuffle_vector(builder.insert_element(undef_v, av, ir.Constant(ir.IntType(32), 0)),
                                            undef_v, splat_mask)
                new.append([builder.call(fma, [bc, ws[v], accs[r][v]]) for v in range(nv)])
            k_next = builder.add(k, ir.Constant(i64, 1))
            end = builder.basic_block
            k.add_incoming(k_next, end)
            for r in range(mr):
                for v in range(nv):
                    accs[r][v].add_incoming(new[r][v], end)
            builder.cbranch(builder.icmp_signed("<", k_next, K_), loop, done)

            builder.position_at_end(done)
            results = []
            for r in range(mr):
                for v in range(nv):
                    res = builder.phi(vt)
                    res.add_incoming(starts[r][v], pre)
                    res.add_incoming(new[r][v], end)
                    results.append(res)
            for r in range(mr):
                s_row = builder.gep(s_base, [builder.mul(ir.Constant(i64, r), lds_)])
                for v in range(nv):
                    res = results[r * nv + v]
                    sp = builder.bitcast(builder.gep(s_row, [ir.Constant(i64, v * vl)]), vt.as_pointer())
                    st = builder.store(res, sp)
                    st.align = 4 if aty.dtype == types.float32 else 8
            return context.get_dummy_value()

        return sig, codegen

    return tile


_TILES = {init: tuple(_make_tile(m, init) for m in (1, 2, 3, 4)) for init in (STORE, ACCUMULATE, BIAS)}
_s1, _s2, _s3, _s4 = _TILES[STORE]
_a1, _a2, _a3, _a4 = _TILES[ACCUMULATE]
_b1, _b2, _b3, _b4 = _TILES[BIAS]

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}

ROW_NV = 8                                   # vectors per panel for one row (matvec_packed)
_row_tile = _make_tile(1, BIAS, ROW_NV)


def row_panel_width(dtype) -> int:
    """Output columns per panel of :func:`matvec_packed`: 128 float32, 64 float64."""
    return ROW_NV * (VL32 if np.dtype(dtype) == np.float32 else VL64)


def row_nr(buf):
    """In compiled code: :func:`row_panel_width` for ``buf``'s dtype, a compile-time constant."""
    return row_panel_width(buf.dtype)


@overload(row_nr)
def _row_nr_typed(buf):
    nr = ROW_NV * (VL32 if buf.dtype == types.float32 else VL64)
    return lambda buf: nr


@njit(**_JIT)
def matvec_packed(buf, a_off, K, w_off, n_panels, s_off):
    """One row, everything in the flat array ``buf``: s = bias + a · Wᵀ, i.e. for j < n_panels·NR

        buf[s_off + j] = buf[w_off + j] + Σ_{k<K} buf[a_off + k] · Wp[j // NR, k, j % NR]

    where the block at ``w_off`` is the padded bias (n_panels·NR,) followed by the panels Wp (n_panels, K, NR)
    (:func:`pack_row_panels`).  NR = :func:`row_panel_width`; results come in whole panels (padding columns are 0).
    """
    NR = row_nr(buf)
    p_off = w_off + n_panels * NR
    for p in range(n_panels):
        _row_tile(buf, a_off, 0, buf, p_off + p * K * NR, K, buf, s_off + p * NR, 0, buf, w_off + p * NR)


def pack_row_panels(W, bias, out):
    """Lay out W (N, K) and bias (N,) or None for :func:`matvec_packed` in ``out`` (packed_size(N, K) values)."""
    N, K = W.shape
    NR = row_panel_width(out.dtype)
    n = -(-N // NR)
    out[:n * NR] = 0
    if bias is not None:
        out[:N] = bias
    pack_panels(np.ascontiguousarray(W, out.dtype), True, N, N, out[n * NR:n * NR * (K + 1)].reshape(n, K, NR))


def packed_size(N: int, K: int, dtype) -> int:
    """Values :func:`pack_row_panels` writes for W (N, K): a padded bias plus n_panels · K · NR weights."""
    NR = row_panel_width(dtype)
    return -(-N // NR) * NR * (K + 1)


# Rows of W read side by side by the transposed pack.  All NR = 32 at once share L1 sets when a row is a power of
# two long (2 KB: K = 512 float32), and each line was fetched again for every use: 1.24 against 0.40 ns per value
# for W (1024, 512); 8 rows (one 64-byte line of a panel row in float64, half in float32) avoid that at every
# shape measured, and 16 conflict again at K = 512 float64.
PACK_ROWS = 8


@njit(**_JIT)
def pack_panels(W, transpose, H, Hp, Bp, p0=0, p1=-1):
    """Pack a weight for :func:`matmul_packed`: Bp (n_panels, K, NR) ← the columns of op(W) (K, N), zero-padded.

    op(W) = Wᵀ when ``transpose`` (W is (N, K), e.g. W_hh for h W_hhᵀ), else W (K, N) (e.g. W_hh for δa W_hh).
    The N columns are taken as blocks of H (the gates); each block is padded to Hp columns, so packed column
    k·Hp + u holds column k·H + u (u < H) and zero otherwise.  H = Hp = N packs plainly.  Only panels [p0, p1)
    are written (all by default), so threads can share a large pack (:func:`pack_panels_worker`).
    """
    n_panels, K, NR = Bp.shape
    p1 = n_panels if p1 < 0 else p1
    N = W.shape[0] if transpose else W.shape[1]
    src = np.empty((n_panels, NR), np.int64)           # column of op(W) behind each panel column, -1 for padding
    first = np.empty(n_panels, np.int64)               # a panel's first column if its NR columns are consecutive
    for p in range(p0, p1):
        for c in range(NR):
            jp = p * NR + c
            k, u = jp // Hp, jp % Hp
            j = k * H + u
            src[p, c] = j if u < H and j < N else -1
        first[p] = src[p, 0] if src[p, 0] >= 0 and src[p, NR - 1] == src[p, 0] + NR - 1 else -1
    if transpose:                                      # gather each panel row from rows of W, PACK_ROWS at a time
        for p in range(p0, p1):
            sp = src[p]
            for c0 in range(0, NR, PACK_ROWS):
                for kk in range(K):
                    out = Bp[p, kk]
                    for c in range(c0, c0 + PACK_ROWS):
                        j = sp[c]
                        out[c] = W[j, kk] if j >= 0 else 0
    else:                                              # W read once, row by row, into every panel's row kk
        for kk in range(K):
            w = W[kk]
            for p in range(p0, p1):
                out, j0 = Bp[p, kk], first[p]
                if j0 >= 0:
                    for c in range(NR):
                        out[c] = w[j0 + c]
                else:
                    sp = src[p]
                    for c in range(NR):
                        j = sp[c]
                        out[c] = w[j] if j >= 0 else 0


@njit(**_JIT)
def pack_panels_worker(ctl, gen, chunks, n_panels, *args):
    """:meth:`._pool.Pool.run` worker: :func:`pack_panels` (``*args`` = W, transpose, H, Hp, Bp) by panel ranges."""
    p0, p1 = claim_rows(ctl, gen, chunks, n_panels, False)
    while p0 >= 0:
        pack_panels(*args, p0, p1)
        p0, p1 = claim_rows(ctl, gen, chunks, n_panels, True)


@njit(**_JIT)
def matmul_packed(A, r0, r1, Bp, S, init=STORE, bias=None):
    """S[r0:r1, :] (=, += or = bias +) A[r0:r1, :K] @ (packed weight) for init STORE, ACCUMULATE or BIAS.

    A (rows, K) and S (rows, n_panels·NR) are C-contiguous 2-D; bias (n_panels·NR,) is used with BIAS only.
    """
    matmul_packed_blocks(A, r0, r1, Bp, S.reshape(1, S.shape[0], S.shape[1]), init, bias)


@njit(**_JIT)
def matmul_packed_blocks(A, r0, r1, Bp, S3, init=STORE, bias=None):
    """As :func:`matmul_packed` into a block-major result S3 (n_blocks, rows, Hp): packed column k·Hp + u goes to
    S3[k, r, u] (Hp a multiple of NR, or n_blocks = 1).  The LSTM keeps its gates this way, (4, B, Hp) per step,
    so the gate math runs over B·H contiguous values per gate instead of B rows of H."""
    n_panels, K, NR = Bp.shape
    rows, Hp = S3.shape[1], S3.shape[2]
    lda = A.shape[1]
    bv = S3[0, 0] if bias is None else bias
    for p in range(n_panels):
        b_off = p * K * NR
        k, off = (p * NR) // Hp, (p * NR) % Hp
        base = k * rows * Hp + off
        c0 = p * NR
        r = r0
        while r + 4 <= r1:
            if init == STORE:
                _s4(A, r * lda, lda, Bp, b_off, K, S3, base + r * Hp, Hp, bv, c0)
            elif init == ACCUMULATE:
                _a4(A, r * lda, lda, Bp, b_off, K, S3, base + r * Hp, Hp, bv, c0)
            else:
                _b4(A, r * lda, lda, Bp, b_off, K, S3, base + r * Hp, Hp, bv, c0)
            r += 4
        left = r1 - r
        if left == 0:
            continue
        ao, so = r * lda, base + r * Hp
        if init == STORE:
            if left == 3:
                _s3(A, ao, lda, Bp, b_off, K, S3, so, Hp, bv, c0)
            elif left == 2:
                _s2(A, ao, lda, Bp, b_off, K, S3, so, Hp, bv, c0)
            else:
                _s1(A, ao, lda, Bp, b_off, K, S3, so, Hp, bv, c0)
        elif init == ACCUMULATE:
            if left == 3:
                _a3(A, ao, lda, Bp, b_off, K, S3, so, Hp, bv, c0)
            elif left == 2:
                _a2(A, ao, lda, Bp, b_off, K, S3, so, Hp, bv, c0)
            else:
                _a1(A, ao, lda, Bp, b_off, K, S3, so, Hp, bv, c0)
        else:
            if left == 3:
                _b3(A, ao, lda, Bp, b_off, K, S3, so, Hp, bv, c0)
            elif left == 2:
                _b2(A, ao, lda, Bp, b_off, K, S3, so, Hp, bv, c0)
            else:
                _b1(A, ao, lda, Bp, b_off, K, S3, so, Hp, bv, c0)
