"""Numba loops of the compiled LSTM kernel (private; the wrapper in ``compiled.py`` allocates and validates).

Layout: ``act`` (T, B, 4H) first receives the input projection x W_ihᵀ + b_ih + b_hh (one GEMM for all steps);
step t adds h_{t-1} W_hhᵀ in place (GEMM with beta = 1) and then overwrites the row with the activations
[i, f, g, o], so the gate cache costs no extra memory and the trace fields i, f, g, o are views of it.
``tc`` keeps tanh(c_t) for backward.  Absent peepholes are passed as zeros (x + 0·c is exactly x), which keeps the
inner loop free of branches so LLVM vectorises it; the mask is handled per sequence, outside the inner loop.
"""

from __future__ import annotations

from numba import njit

from ._blas import gemm
from ._shared import JIT
from ._vmath import one_like, sigmoid, tanh


@njit(**JIT)
def _cell_row(a, cp, cn, th_row, m_row, p_i, p_f, p_o, coupled, H):
    """Gate math for one sequence at one step: a (4H,) pre-activations in, [i, f, g, o] out (in place);
    cn = c_t, th_row = tanh(c_t), m_row = o ⊙ tanh(c_t).  A separate function so LLVM vectorises it alone."""
    one = one_like(a)
    for j in range(H):
        c_prev = cp[j]
        f = sigmoid(a[H + j] + p_f[j] * c_prev)
        i_sig = sigmoid(a[j] + p_i[j] * c_prev)
        i = one - f if coupled else i_sig
        g = tanh(a[2 * H + j])
        c = f * c_prev + i * g
        o = sigmoid(a[3 * H + j] + p_o[j] * c)
        th = tanh(c)
        a[j] = i
        a[H + j] = f
        a[2 * H + j] = g
        a[3 * H + j] = o
        cn[j] = c
        th_row[j] = th
        m_row[j] = o * th


@njit(**JIT)
def lstm_forward_loop(W_hh, W_hr, peep, mask, coupled, act, hs, cs, tc, y, hpre):
    """Time loop.  act holds the input projection on entry and [i, f, g, o] on exit; hs[0], cs[0] preset.

    hpre (B, H) is scratch for o ⊙ tanh(c) before the projection (unused without one).
    """
    T, B, G = act.shape
    H = G // 4
    P = hs.shape[2]
    has_proj = W_hr.shape[0] > 0
    has_mask = mask.shape[0] > 0
    p_i, p_f, p_o = peep[:H], peep[H:2 * H], peep[2 * H:]
    for t in range(T):
        a_t = act[t]
        gemm(hs[t], False, W_hh, True, a_t, True)                      # a_t += h_{t-1} W_hhᵀ
        for b in range(B):
            a = a_t[b]
            cp, cn, th_row = cs[t, b], cs[t + 1, b], tc[t, b]
            m_row = hpre[b] if has_proj else hs[t + 1, b]
            _cell_row(a, cp, cn, th_row, m_row, p_i, p_f, p_o, coupled, H)
        if has_proj:
            gemm(hpre, False, W_hr, True, hs[t + 1], False)             # h_t = m_t W_hrᵀ
        for b in range(B):
            hn, yt = hs[t + 1, b], y[t, b]
            if has_mask:
                m = mask[t, b]
                for k in range(P):
                    yt[k] = hn[k] * m
                if not m > 0:                                          # padded: carry the state
                    hp, cp, cn = hs[t, b], cs[t, b], cs[t + 1, b]
                    for k in range(P):
                        hn[k] = hp[k]
                    for j in range(H):
                        cn[j] = cp[j]
            else:
                for k in range(P):
                    yt[k] = hn[k]


@njit(**JIT)
def _cell_row_backward(a, d, cp, cn, th_row, dmb, dcb, mb, p_i, p_f, p_o, dp_i, dp_f, dp_o, coupled, has_proj, H):
    """Backward gate math for one sequence at one step (H passed in: that keeps the loop vectorised)."""
    one = one_like(a)
    zero = one - one
    for j in range(H):
        i, f, g, o = a[j], a[H + j], a[2 * H + j], a[3 * H + j]
        th = th_row[j]
        dmv = dmb[j]
        dao = dmv * th * o * (one - o)
        dcv = dcb[j] + dmv * o * (one - th * th) + dao * p_o[j]
        c_prev = cp[j]
        di = dcv * g
        df = dcv * c_prev
        df = df - di if coupled else df
        di = zero if coupled else di
        dai = di * i * (one - i)
        daf = df * f * (one - f)
        dag = dcv * i * (one - g * g)
        d[j] = dai
        d[H + j] = daf
        d[2 * H + j] = dag
        d[3 * H + j] = dao
        dcb[j] = dcv * f + dai * p_i[j] + daf * p_f[j]
        dp_i[j] += dai * c_prev
        dp_f[j] += daf * c_prev
        dp_o[j] += dao * cn[j]
        if has_proj:
            mb[j] = o * th


@njit(**JIT)
def lstm_backward_loop(W_hh, W_hr, peep, mask, coupled, act, hs, cs, tc, dy, dh, dc, da, dhp, mbuf, dm, dpeep,
                       keep_h, keep_c):
    """Reverse time loop.  dh (B, P), dc (B, H) hold the upstream final-state gradients on entry and δh0, δc0
    on exit; da (T, B, 4H) receives δ pre-activations; with a projection dhp (T, B, P) and mbuf (T, B, H) receive
    δh_t and m_t = o ⊙ tanh(c_t) for δW_hr = Σ δh_tᵀ m_t.  dm (B, H) is scratch; dpeep (3H,) accumulates."""
    T, B, G = act.shape
    H = G // 4
    P = hs.shape[2]
    has_proj = W_hr.shape[0] > 0
    has_mask = mask.shape[0] > 0
    one = one_like(act)
    p_i, p_f, p_o = peep[:H], peep[H:2 * H], peep[2 * H:]
    dp_i, dp_f, dp_o = dpeep[:H], dpeep[H:2 * H], dpeep[2 * H:]
    dht = dhp[0] if has_proj else dm
    for t in range(T - 1, -1, -1):
        if has_proj:
            dht = dhp[t]
        for b in range(B):                                             # δh_t = dy_t + carry (masked)
            dyt, dhb, dtb = dy[t, b], dh[b], dht[b]
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
            gemm(dht, False, W_hr, False, dm, False)                     # δm_t = δh_t W_hr
        for b in range(B):
            a, d = act[t, b], da[t, b]
            cp, cn, th_row, dmb, dcb = cs[t, b], cs[t + 1, b], tc[t, b], dm[b], dc[b]
            mb = mbuf[t, b] if has_proj else dmb
            _cell_row_backward(a, d, cp, cn, th_row, dmb, dcb, mb, p_i, p_f, p_o, dp_i, dp_f, dp_o, coupled,
                               has_proj, H)
        gemm(da[t], False, W_hh, False, dh, False)                      # δh_{t-1} = δa_t W_hh
        if has_mask:
            for b in range(B):
                dhb, dcb, kh, kc = dh[b], dc[b], keep_h[b], keep_c[b]
                for k in range(P):
                    dhb[k] += kh[k]
                for j in range(H):
                    dcb[j] += kc[j]
