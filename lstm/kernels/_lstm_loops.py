"""Numba loops of the compiled LSTM kernel (private; the wrapper in ``compiled.py`` allocates and validates).

Layout: ``act`` (T, 4, B, Hp) — gate-major, H padded to whole micro-kernel panels — first receives the input
projection x W_ihᵀ + b_ih + b_hh for all steps; step t adds h_{t-1} W_hhᵀ in place (the packed-weight
micro-kernel, :mod:`._microkernel`) and the gate math overwrites it with the activations i, f, g, o, so the gate
cache costs no extra memory and the trace fields i, f, g, o are views of it.  Gate-major lets the gate loop run
over all of a chunk's B·H units at once (without peepholes), twice as fast per unit as over rows of H = 32.
``tc`` keeps tanh(c_t) for backward.  Absent peepholes are zeros (x + 0·c is exactly x), which keeps the inner
loop free of branches so LLVM vectorises it; the mask is handled per sequence, outside the inner loop.

Threads: the sequences of a batch are independent through the whole time loop, so the batch rows are split into
``chunks`` and each chunk runs the *entire* time loop for its rows — no synchronisation per step (a per-step
barrier, or a per-step BLAS call on 2 threads, costs 10–200 µs each on a shared machine).  Chunks are claimed by
whichever thread is free (:mod:`._pool`).  Every thread reads the whole packed weight (1 MB at the medium size,
the size of this machine's per-core L2).
"""

from __future__ import annotations

from numba import njit
from numba.extending import register_jitable

from ._gates import lstm_unit
from ._microkernel import BIAS, MR, STORE, matmul_packed, matmul_packed_blocks, pack_panels
from ._pool import claim_rows, row_bounds
from ._steal import NONE, OTHER, give_rows, next_rows
from ._shared import JIT, product_rows
from ._vmath import one_like


@njit(**JIT)
def pack_gate_weights(W_ih, W_hh, b, Wp, bias, p0=0, p1=-1):
    """The forward's weights in one call: Wp (n_panels, I+P, NR) ← [W_ih | W_hh]ᵀ packed gate-major (gate blocks
    of H columns padded to Hp, :func:`._microkernel.pack_panels`), and bias (4·Hp,) ← b (4H,) gate-major, zero in
    the padding and everywhere when b is empty (no bias).  Panels [p0, p1) only (all by default); the bias with
    panel 0."""
    I, G = W_ih.shape[1], W_hh.shape[0]
    H, Hp = G // 4, bias.shape[0] // 4
    pack_panels(W_ih, True, H, Hp, Wp[:, :I], p0, p1)
    pack_panels(W_hh, True, H, Hp, Wp[:, I:], p0, p1)
    if p0 == 0:
        for k in range(4):
            for u in range(Hp):
                bias[k * Hp + u] = b[k * H + u] if u < H and b.shape[0] > 0 else 0


@njit(**JIT)
def pack_gate_weights_worker(ctl, gen, chunks, n_panels, *args):
    """:meth:`._pool.Pool.run` worker: :func:`pack_gate_weights` (``*args`` = W_ih, W_hh, b, Wp, bias) by panel
    ranges."""
    p0, p1 = claim_rows(ctl, gen, chunks, n_panels, False)
    while p0 >= 0:
        pack_gate_weights(*args, p0, p1)
        p0, p1 = claim_rows(ctl, gen, chunks, n_panels, True)


@njit(**JIT)
def _cell_span(ai, af, ag, ao, cp, cn, th_row, m_row, p_i, p_f, p_o, coupled, n):
    """Gate math for n units: pre-activations ai, af, ag, ao in, [i, f, g, o] out (in place); cn = c_t,
    th_row = tanh(c_t), m_row = o ⊙ tanh(c_t) (σ, tanh from :mod:`._gates`).  A separate function so LLVM
    vectorises it alone (n passed in).  The n units are one sequence's H units, or — without peepholes — the H
    units of several consecutive sequences at once: with exp-based σ/tanh a loop over 32 units ran at ~7 ns per
    unit, over 256 at ~3.4 ns (float32)."""
    one = one_like(ai)
    for j in range(n):
        i, f, g, o, c, th = lstm_unit(ai[j], af[j], ag[j], ao[j], cp[j], p_i[j], p_f[j], p_o[j], coupled, one)
        ai[j] = i
        af[j] = f
        ag[j] = g
        ao[j] = o
        cn[j] = c
        th_row[j] = th
        m_row[j] = o * th


@njit(**JIT)
def _forward_rows(x, ids, tab, Wp, bias, Wrp, peep, zflat, mask, coupled, act, xh, cs, tc, y, y_bt, m, S2, r0, r1,
                  t0, steal):
    """The whole time loop for batch rows [r0, r1).

    ``xh`` (T+1, B, I+P) holds [x_t | h_{t-1}] in row t: step t copies x_t in, runs one product
    a_t = [x_t | h_{t-1}] [W_ih | W_hh]ᵀ + b into act[t] (T, 4, B, Hp) — gate-major, H units padded to Hp — and
    the gate math overwrites it with i, f, g, o; h_t goes to the P columns of row t+1 (h_0 preset).  One product
    over I+P instead of two (x_t, then h_{t-1}) loads and stores each accumulator tile once per step, and after
    the loop the rows of ``xh`` are exactly the right-hand side of δ[W_ih | W_hh] = Σ_t δa_tᵀ [x_t | h_{t-1}] —
    one GEMM, not two narrower ones.  Projecting step by step (not all steps first) keeps act[t] in cache: at the
    large size act is 52 MB, and the all-steps-first order measured 69 GF/s against ~100 for the products alone.
    Wp: [W_ih | W_hh]ᵀ packed gate-major; Wrp: W_hrᵀ packed (empty without a projection); bias (4·Hp,)
    gate-major.  Inputs by lookup: ``ids`` (T, B) and ``tab`` (4, V, Hp) = the table's rows projected,
    x W_ihᵀ + b gate-major; then x is (T, B, 0), Wp packs W_hh alone, bias is zero, and step t adds rows
    tab[:, ids[t, b]] to h_{t-1} W_hhᵀ (ids and tab empty otherwise).  peep (3H,) or empty; zflat: ≥ B·H zeros
    standing in for absent peepholes.  m (B, H) receives o ⊙ tanh(c) where it is not written straight into xh or
    y (see ``direct`` below; h itself without a projection); S2 (B, ≥P) is scratch.  y is (T, B, P), or (B, T, P)
    with ``y_bt`` (a batch-first layer's output, written in place rather than transposed after the loop).  act,
    tc, cs and xh are indexed modulo their length: T (T+1) steps kept for backward, or rings of 1 (2) for
    inference.  The loop runs from step t0 (0 for a whole chunk, later for rows taken over, see :mod:`._steal`)."""
    T = x.shape[0]
    na, nc, nt, nx = act.shape[0], cs.shape[0], tc.shape[0], xh.shape[0]
    I = x.shape[2]
    H = cs.shape[2]
    Hp = act.shape[3]
    P = xh.shape[2] - I
    has_proj = Wrp.shape[0] > 0
    has_mask = mask.shape[0] > 0
    has_peep = peep.shape[0] > 0
    has_ids = ids.shape[0] > 0
    flat = Hp == H and not has_peep                                    # all rows' units in one gate loop
    # h_t = o ⊙ tanh(c_t) written by the gate math straight where it is read, not into m and copied twice: into
    # row t+1 of xh when that row is h alone (I = 0), else into a time-major y[t]; then one copy per row.
    direct = flat and not has_proj and not has_mask
    into_xh = direct and I == 0
    into_y = direct and not into_xh and not y_bt
    pv = peep if has_peep else zflat
    p_i, p_f, p_o = pv[:H], pv[H:2 * H], pv[2 * H:3 * H]
    src = S2 if has_proj else m
    for t in range(t0, T):
        r1 = give_rows(steal, r0, r1, t, MR)                          # the upper rows to a thread with none left
        ta, tc0, tc1, tx0, tx1 = t % na, t % nc, (t + 1) % nc, t % nx, (t + 1) % nx
        a, xt, xht = act[ta], x[t], xh[tx0]
        for b in range(r0, r1):
            xb, xhb = xt[b], xht[b]
            for k in range(I):
                xhb[k] = xb[k]
        matmul_packed_blocks(xht, r0, r1, Wp, a, BIAS, bias)          # a_t = [x_t | h_{t-1}] [W_ih | W_hh]ᵀ + b
        if has_ids:                                                    # (by lookup: h_{t-1} W_hhᵀ + tab[ids_t])
            it = ids[t]
            for k in range(4):
                ak, tk = a[k], tab[k]
                for b in range(r0, r1):
                    row, dst = tk[it[b]], ak[b]
                    for u in range(Hp):
                        dst[u] += row[u]
        if flat:
            lo, hi = r0 * H, r1 * H
            hd = xh[tx1].reshape(-1) if into_xh else (y[t].reshape(-1) if into_y else m.reshape(-1))
            _cell_span(a[0].reshape(-1)[lo:hi], a[1].reshape(-1)[lo:hi], a[2].reshape(-1)[lo:hi],
                       a[3].reshape(-1)[lo:hi], cs[tc0].reshape(-1)[lo:hi], cs[tc1].reshape(-1)[lo:hi],
                       tc[t % nt].reshape(-1)[lo:hi], hd[lo:hi], zflat, zflat, zflat, coupled, hi - lo)
        else:
            for b in range(r0, r1):
                _cell_span(a[0, b], a[1, b], a[2, b], a[3, b], cs[tc0, b], cs[tc1, b], tc[t % nt, b], m[b],
                           p_i, p_f, p_o, coupled, H)
        if has_proj:
            matmul_packed(m, r0, r1, Wrp, S2)                          # h_t = m_t W_hrᵀ
        if into_xh or into_y:
            for b in range(r0, r1):
                hn, yt = xh[tx1, b], (y[b, t] if y_bt else y[t, b])
                if into_xh:
                    for k in range(P):
                        yt[k] = hn[k]
                else:
                    for k in range(P):
                        hn[I + k] = yt[k]
            continue
        for b in range(r0, r1):
            s, hn, yt = src[b], xh[tx1, b], (y[b, t] if y_bt else y[t, b])
            for k in range(P):
                hn[I + k] = s[k]
            if has_mask:
                mk = mask[t, b]
                for k in range(P):
                    yt[k] = s[k] * mk
                if not mk > 0:                                         # padded: carry the state
                    hp, cp, cn = xht[b], cs[tc0, b], cs[tc1, b]
                    for k in range(P):
                        hn[I + k] = hp[I + k]
                    for j in range(H):
                        cn[j] = cp[j]
            else:
                for k in range(P):
                    yt[k] = s[k]


@njit(**JIT)
def lstm_forward_worker(ctl, gen, chunks, x, ids, tab, Wp, bias, Wrp, peep, zflat, mask, coupled, act, xh, cs, tc, y,
                        y_bt, m, S2, steal):
    """Claims row chunks (see :mod:`._pool`) and runs the forward for each, then takes over rows still running
    elsewhere (:mod:`._steal`)."""
    B = xh.shape[1]
    r0, r1, t, kind = next_rows(ctl, gen, chunks, 0, B, 0, steal, NONE)
    while kind != NONE:
        _forward_rows(x, ids, tab, Wp, bias, Wrp, peep, zflat, mask, coupled, act, xh, cs, tc, y, y_bt, m, S2, r0,
                      r1, t, steal)
        r0, r1, t, kind = next_rows(ctl, gen, chunks, 0, B, 0, steal, kind)


@register_jitable(inline="always")
def _unit_backward(i, f, g, o, th, dm, dc, c_prev, p_i, p_f, p_o, coupled, one):
    """One unit, one step back: from δm = ∂L/∂(o ⊙ tanh c_t) and δc = ∂L/∂c_t carried from step t+1,

        δa_o = δm·tanh(c)·o(1−o);   δc_t = δc + δm·o·(1 − tanh²c) + δa_o·p_o
        δa_i = δc_t·g·i(1−i);   δa_f = δc_t·c_{t-1}·f(1−f);   δa_g = δc_t·i·(1−g²)
        (coupled, i = 1 − f: δa_f = δc_t·(c_{t-1} − g)·f(1−f), δa_i = 0);   δc_{t-1} = δc_t·f + δa_i·p_i + δa_f·p_f

    returns (δa_i, δa_f, δa_g, δa_o, δc_{t-1}).  Shared by both backward gate loops below."""
    zero = one - one
    dao = dm * th * o * (one - o)
    dcv = dc + dm * o * (one - th * th) + dao * p_o
    di = dcv * g
    df = dcv * c_prev
    df = df - di if coupled else df
    di = zero if coupled else di
    dai = di * i * (one - i)
    daf = df * f * (one - f)
    dag = dcv * i * (one - g * g)
    return dai, daf, dag, dao, dcv * f + dai * p_i + daf * p_f


@njit(**JIT)
def _cell_span_backward(ai, af, ag, ao, di, df, dg, do, cp, th, dm, dc, coupled, n):
    """Backward gate math for n units of a layer without peepholes or projection, the counterpart of
    :func:`_cell_span`: i, f, g, o, c_{t-1}, tanh(c_t), δm and δc_t in; δa_i, δa_f, δa_g, δa_o out into di, df,
    dg, do, and δc_{t-1} into dc (in place).  With all of a chunk's B·H units in one loop (gate-major, as the
    forward keeps them) it ran at 2.5 against 6.5 ns per unit over rows of H = 32 (1.6 against 3.8 at H = 64,
    copy into row-major δa included); no peephole loads and no branches in the loop."""
    one = one_like(ai)
    zero = one - one
    for j in range(n):
        dai, daf, dag, dao, dcp = _unit_backward(ai[j], af[j], ag[j], ao[j], th[j], dm[j], dc[j], cp[j],
                                                   zero, zero, zero, coupled, one)
        di[j] = dai
        df[j] = daf
        dg[j] = dag
        do[j] = dao
        dc[j] = dcp


@njit(**JIT)
def _cell_row_backward(ai, af, ag, ao, d, cp, cn, th_row, dmb, dcb, mb, p_i, p_f, p_o, dp_i, dp_f, dp_o, db, coupled,
                       has_proj, has_peep, H):
    """Backward gate math for one sequence at one step (H passed in: that keeps the loop vectorised); d (4H,)
    receives δa = [δa_i, δa_f, δa_g, δa_o], which db (4H,) also accumulates (δb = Σ δa while it is in a register);
    dcb (H,) holds δc_t on entry and δc_{t-1} on exit; peephole sums go to dp_*, m_t = o ⊙ tanh(c_t) to mb."""
    one = one_like(d)
    for j in range(H):
        o, th = ao[j], th_row[j]
        dai, daf, dag, dao, dcp = _unit_backward(ai[j], af[j], ag[j], o, th, dmb[j], dcb[j], cp[j], p_i[j],
                                                   p_f[j], p_o[j], coupled, one)
        d[j] = dai
        d[H + j] = daf
        d[2 * H + j] = dag
        d[3 * H + j] = dao
        db[j] += dai
        db[H + j] += daf
        db[2 * H + j] += dag
        db[3 * H + j] += dao
        dcb[j] = dcp
        if has_peep:
            c_prev = cp[j]
            dp_i[j] += dai * c_prev
            dp_f[j] += daf * c_prev
            dp_o[j] += dao * cn[j]
        if has_proj:
            mb[j] = o * th


@njit(**JIT)
def _backward_rows(Wp, Wrp, Wip, peep, has_peep, mask, coupled, act, cs, tc, dy, dy_bt, dh, dc, da, dhp, mbuf, dm,
                   dpeep, db, piece, keep_h, keep_c, S, Sm, dx, dg4, r0, r1, t0, steal):
    """Reverse time loop for batch rows [r0, r1); act (T, 4, B, ≥H) holds i, f, g, o; dy (T, B, P), or (B, T, P)
    with ``dy_bt``.

    dh (B, P), dc (B, H) hold the upstream final-state gradients on entry and δh0, δc0 on exit; da (T, B, 4H)
    receives δ pre-activations; with a projection dhp (T, B, P) and mbuf (T, B, H) receive δh_t and
    m_t = o ⊙ tanh(c_t) for δW_hr = Σ δh_tᵀ m_t.  Wp: W_hh packed (δa W_hh); Wrp: W_hr packed (δh W_hr); Wip: W_ih
    packed, for dx (T, B, ≥I) = δa W_ih (both empty: δx not wanted).  dm (B, H), S (B, ≥P), Sm (B, ≥H) are
    scratch, and so is dg4 (4, B, H), where a layer without peepholes or projection gets its δa gate-major from
    :func:`_cell_span_backward` before the copy into da; dpeep (pieces, 3H) (when ``has_peep``) and db (pieces,
    4H) accumulate, row b into piece[b].  A piece is a run of rows that one thread at a time runs (a chunk's
    tiles: see ``compiled._row_pieces``), whichever thread and from whichever step (:mod:`._steal`), so each
    partial sum adds the same terms in the same order and the sums come out the same bits every time.  The loop
    runs from step t0 down (T − 1 for a whole chunk, less for rows taken over, see :mod:`._steal`)."""
    H = cs.shape[2]
    P = dh.shape[1]
    has_proj = Wrp.shape[0] > 0
    has_mask = mask.shape[0] > 0
    plain = not has_proj and not has_peep
    flat = plain and act.shape[3] == H                                 # all rows' units in one gate loop
    need_dx = Wip.shape[0] > 0
    one = one_like(act)
    p_i, p_f, p_o = peep[:H], peep[H:2 * H], peep[2 * H:]
    dht = dhp[0] if has_proj else dm
    for t in range(t0, -1, -1):
        r1 = give_rows(steal, r0, r1, t, MR)                          # the upper rows to a thread with none left
        if has_proj:
            dht = dhp[t]
        for b in range(r0, r1):                                        # δh_t = dy_t + carry (masked)
            dyt, dhb, dtb = (dy[b, t] if dy_bt else dy[t, b]), dh[b], dht[b]
            if has_mask:
                m = mask[t, b]
                km = one - m
                kh, kc, dcb = keep_h[b], keep_c[b], dc[b]
                for k in range(P):
                    kh[k] = dhb[k] * km
                    dtb[k] = (dyt[k] + dhb[k]) * m
                for j in range(H):
                    kc[j] = dcb[j] * km
                    dcb[j] = dcb[j] * m
            else:
                for k in range(P):
                    dtb[k] = dyt[k] + dhb[k]
        if has_proj:
            matmul_packed(dht, r0, r1, Wrp, Sm)                        # δm_t = δh_t W_hr
        if flat:
            lo, hi = r0 * H, r1 * H
            a, g4 = act[t], dg4
            _cell_span_backward(a[0].reshape(-1)[lo:hi], a[1].reshape(-1)[lo:hi], a[2].reshape(-1)[lo:hi],
                                a[3].reshape(-1)[lo:hi], g4[0].reshape(-1)[lo:hi], g4[1].reshape(-1)[lo:hi],
                                g4[2].reshape(-1)[lo:hi], g4[3].reshape(-1)[lo:hi], cs[t].reshape(-1)[lo:hi],
                                tc[t].reshape(-1)[lo:hi], dm.reshape(-1)[lo:hi], dc.reshape(-1)[lo:hi], coupled,
                                hi - lo)
        elif plain:
            for b in range(r0, r1):
                _cell_span_backward(act[t, 0, b], act[t, 1, b], act[t, 2, b], act[t, 3, b], dg4[0, b], dg4[1, b],
                                    dg4[2, b], dg4[3, b], cs[t, b], tc[t, b], dm[b], dc[b], coupled, H)
        if plain:
            for b in range(r0, r1):                                    # gate-major δa into row b of da, and δb
                dab, dbb = da[t, b], db[piece[b]]
                for k in range(4):
                    src = dg4[k, b]
                    for j in range(H):
                        v = src[j]
                        dab[k * H + j] = v
                        dbb[k * H + j] += v
        else:
            for b in range(r0, r1):
                dmb = Sm[b] if has_proj else dm[b]
                mb = mbuf[t, b] if has_proj else dmb
                dpb = dpeep[piece[b]]
                _cell_row_backward(act[t, 0, b], act[t, 1, b], act[t, 2, b], act[t, 3, b], da[t, b], cs[t, b],
                                   cs[t + 1, b], tc[t, b], dmb, dc[b], mb, p_i, p_f, p_o, dpb[:H], dpb[H:2 * H],
                                   dpb[2 * H:], db[piece[b]], coupled, has_proj, has_peep, H)
        matmul_packed(da[t], r0, r1, Wp, S)                            # δh_{t-1} = δa_t W_hh
        if need_dx:
            matmul_packed(da[t], r0, r1, Wip, dx[t], STORE)            # δx_t = δa_t W_ih, while δa_t is hot
        for b in range(r0, r1):
            dhb, sb = dh[b], S[b]
            if has_mask:
                kh, kc, dcb = keep_h[b], keep_c[b], dc[b]
                for k in range(P):
                    dhb[k] = sb[k] + kh[k]
                for j in range(H):
                    dcb[j] += kc[j]
            else:
                for k in range(P):
                    dhb[k] = sb[k]


@njit(**JIT)
def lstm_backward_worker(ctl, gen, n, Wp, Wrp, Wip, peep, has_peep, mask, coupled, act, cs, tc, dy, dy_bt, dh, dc,
                         da, dhp, mbuf, dm, dpeep, db, piece, keep_h, keep_c, S, Sm, dx, dg4, steal,
                         products, pA, pB, pC, fn, pbias, pleft, pright):
    """Claims chunks (see :mod:`._pool`) and runs the backward for each, then takes over rows still running
    elsewhere (:mod:`._steal`); dpeep and db hold one partial sum per piece of rows (see :func:`_backward_rows`).

    The first ``products`` of the n chunks are row blocks of a product handed on from the layer above, its
    weight gradient pC = pAᵀ pB (:func:`._shared.product_rows`, split on into pleft / pright), which needs
    nothing from this loop: a thread done with its block starts on the loop's rows, and the hand-over of rows at
    the end evens out what the blocks left uneven."""
    B, T = act.shape[2], act.shape[0]
    r0, r1, t, kind = next_rows(ctl, gen, n, products, B, T - 1, steal, NONE)
    while kind != NONE:
        if kind == OTHER:                                   # block r0 of the product handed on
            p0, p1 = row_bounds(pC.shape[0], products, r0)
            product_rows(True, False, pA, pB, pC, fn, pbias, pleft, pright, p0, p1)
        else:
            _backward_rows(Wp, Wrp, Wip, peep, has_peep, mask, coupled, act, cs, tc, dy, dy_bt, dh, dc, da, dhp,
                           mbuf, dm, dpeep, db, piece, keep_h, keep_c, S, Sm, dx, dg4, r0, r1, t, steal)
        r0, r1, t, kind = next_rows(ctl, gen, n, products, B, T - 1, steal, kind)
