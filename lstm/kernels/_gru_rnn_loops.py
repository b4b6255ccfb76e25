"""Numba loops of the compiled GRU and RNN kernels (private; see ``compiled.py`` for the wrappers).

``act`` enters holding the hoisted input projection x W_ihᵀ + b and leaves holding the activations
(GRU: [r, z, n]; RNN: unchanged, the backward needs only h); the only product per step is with W_hh,
on the weight packed once per call (:mod:`._microkernel`), and the batch rows are cut into chunks that each run
the whole time loop on a thread of :mod:`._pool` (as ``_lstm_loops.py`` explains): each ``*_rows`` function runs
rows [r0, r1), and its ``*_worker`` the row blocks a thread claims, then rows taken over from the other thread
(:func:`._steal.next_rows`).  ``Wp`` is
W_hhᵀ packed (the forward's h W_hhᵀ), ``Wb`` W_hh packed (the backward's δa W_hh); results come in whole panels,
so the scratch ``S`` (B, ≥G) and the backward's δh (B, ≥H) are padded to them.  σ and tanh are the LSTM's
(:mod:`._gates`: the exp-free rational form in float32, ~1e-16-accurate in float64).
"""

from __future__ import annotations

from numba import njit

from ._microkernel import ACCUMULATE, MR, matmul_packed
from ._shared import JIT
from ._steal import NONE, give_rows, next_rows
from ._gates import gate_sigmoid, gate_tanh
from ._vmath import one_like


@njit(**JIT)
def _emit(hs, y, mask, t, r0, r1):
    """y_t = m ⊙ h_t for rows [r0, r1), and at padded steps carry h_{t-1} into h_t."""
    P = hs.shape[2]
    has_mask = mask.shape[0] > 0
    for b in range(r0, r1):
        hn, yt = hs[t + 1, b], y[t, b]
        if has_mask:
            m = mask[t, b]
            for k in range(P):
                yt[k] = hn[k] * m
            if not m > 0:
                hp = hs[t, b]
                for k in range(P):
                    hn[k] = hp[k]
        else:
            for k in range(P):
                yt[k] = hn[k]


@njit(**JIT)
def _gru_row(a, w, hp, hnew, hn_row, b_hn, H):
    """GRU gate math for one sequence at one step (H passed in: that keeps the loop vectorised)."""
    one = one_like(a)
    for j in range(H):
        r = gate_sigmoid(a[j] + w[j])
        z = gate_sigmoid(a[H + j] + w[H + j])
        hnv = w[2 * H + j] + b_hn[j]
        n = gate_tanh(a[2 * H + j] + r * hnv)
        a[j] = r
        a[H + j] = z
        a[2 * H + j] = n
        hn_row[j] = hnv
        hnew[j] = (one - z) * n + z * hp[j]


@njit(**JIT)
def _gru_row_backward(a, hp, hn_row, dyt, dhb, dx_row, dh_row, m, km, H):
    one = one_like(a)
    for j in range(H):
        r, z, n = a[j], a[H + j], a[2 * H + j]
        carry = dhb[j]
        dhv = (dyt[j] + carry) * m
        dan = dhv * (one - z) * (one - n * n)
        daz = dhv * (hp[j] - n) * z * (one - z)
        dar = dan * hn_row[j] * r * (one - r)
        dx_row[j] = dar
        dx_row[H + j] = daz
        dx_row[2 * H + j] = dan
        dh_row[j] = dar
        dh_row[H + j] = daz
        dh_row[2 * H + j] = dan * r
        dhb[j] = dhv * z + carry * km


@njit(**JIT)
def gru_forward_rows(Wp, b_hn, mask, act, hs, hn, S, y, r0, r1, t0, steal):
    """Rows [r0, r1) through steps t0 … T − 1: act (T, B, 3H) enters as x W_ihᵀ + b_ih + [b_hr, b_hz, 0] and
    leaves as [r, z, n]; hn (T, B, H) receives h_{t-1} W_hnᵀ + b_hn; b_hn is zeros without bias."""
    T, H = act.shape[0], act.shape[2] // 3
    for t in range(t0, T):
        r1 = give_rows(steal, r0, r1, t, MR)                            # the upper rows to a thread with none left
        matmul_packed(hs[t], r0, r1, Wp, S)                             # S = h_{t-1} W_hhᵀ
        for b in range(r0, r1):
            _gru_row(act[t, b], S[b], hs[t, b], hs[t + 1, b], hn[t, b], b_hn, H)
        _emit(hs, y, mask, t, r0, r1)


@njit(**JIT)
def gru_backward_rows(Wb, mask, act, hs, hn, dy, dh, dxa, dha, r0, r1, t0, steal):
    """Rows [r0, r1) back through steps t0 … 0: dh (B, ≥H) enters as δh_{t0+1} and leaves as δh_0; dxa, dha
    (T, B, 3H) receive the δ of the input-side and hidden-side pre-activations (they differ in the n block by the
    factor r)."""
    H = act.shape[2] // 3
    has_mask = mask.shape[0] > 0
    one = one_like(act)
    for t in range(t0, -1, -1):
        r1 = give_rows(steal, r0, r1, t, MR)
        for b in range(r0, r1):
            m = mask[t, b] if has_mask else one
            _gru_row_backward(act[t, b], hs[t, b], hn[t, b], dy[t, b], dh[b], dxa[t, b], dha[t, b], m, one - m, H)
        matmul_packed(dha[t], r0, r1, Wb, dh, ACCUMULATE)               # δh_{t-1} += δa_h W_hh


@njit(**JIT)
def rnn_forward_rows(Wp, mask, relu, act, hs, S, y, r0, r1, t0, steal):
    """Rows [r0, r1), steps t0 … T − 1: act (T, B, H) holds x W_ihᵀ + b_ih + b_hh; h_t = φ(act_t + h_{t-1} W_hhᵀ)."""
    T, H = act.shape[0], act.shape[2]
    zero = one_like(act) - one_like(act)
    for t in range(t0, T):
        r1 = give_rows(steal, r0, r1, t, MR)
        matmul_packed(hs[t], r0, r1, Wp, S)                             # S = h_{t-1} W_hhᵀ
        for b in range(r0, r1):
            a, s, hnew = act[t, b], S[b], hs[t + 1, b]
            for j in range(H):
                v = a[j] + s[j]
                hnew[j] = max(v, zero) if relu else gate_tanh(v)       # max keeps a NaN, as np.maximum
        _emit(hs, y, mask, t, r0, r1)


@njit(**JIT)
def rnn_backward_rows(Wb, mask, relu, hs, dy, dh, da, r0, r1, t0, steal):
    """Rows [r0, r1), steps t0 … 0: dh (B, ≥H) enters as δh_{t0+1} and leaves as δh_0; da (T, B, H) receives δ
    pre-activations."""
    H = da.shape[2]
    has_mask = mask.shape[0] > 0
    one = one_like(da)
    zero = one - one
    for t in range(t0, -1, -1):
        r1 = give_rows(steal, r0, r1, t, MR)
        for b in range(r0, r1):
            h_row, dyt, dhb, d = hs[t + 1, b], dy[t, b], dh[b], da[t, b]
            m = mask[t, b] if has_mask else one
            km = one - m
            for j in range(H):
                carry = dhb[j]
                dhv = (dyt[j] + carry) * m
                h = h_row[j]
                d[j] = (dhv if h > zero else zero) if relu else dhv * (one - h * h)
                dhb[j] = carry * km
        matmul_packed(da[t], r0, r1, Wb, dh, ACCUMULATE)                # δh_{t-1} = δa W_hh (+ padded carry)


# Each worker runs the row chunks it claims, then takes over rows still running on the other thread (:mod:`._steal`;
# rows are independent and each row's carried δh or h lives in arrays indexed by the row); ``start`` is the first
# step a chunk runs: 0 forward, T − 1 backward.
@njit(**JIT)
def gru_forward_worker(ctl, gen, chunks, B, start, steal, *args):
    r0, r1, t, kind = next_rows(ctl, gen, chunks, 0, B, start, steal, NONE)
    while kind != NONE:
        gru_forward_rows(*args, r0, r1, t, steal)
        r0, r1, t, kind = next_rows(ctl, gen, chunks, 0, B, start, steal, kind)


@njit(**JIT)
def gru_backward_worker(ctl, gen, chunks, B, start, steal, *args):
    r0, r1, t, kind = next_rows(ctl, gen, chunks, 0, B, start, steal, NONE)
    while kind != NONE:
        gru_backward_rows(*args, r0, r1, t, steal)
        r0, r1, t, kind = next_rows(ctl, gen, chunks, 0, B, start, steal, kind)


@njit(**JIT)
def rnn_forward_worker(ctl, gen, chunks, B, start, steal, *args):
    r0, r1, t, kind = next_rows(ctl, gen, chunks, 0, B, start, steal, NONE)
    while kind != NONE:
        rnn_forward_rows(*args, r0, r1, t, steal)
        r0, r1, t, kind = next_rows(ctl, gen, chunks, 0, B, start, steal, kind)


@njit(**JIT)
def rnn_backward_worker(ctl, gen, chunks, B, start, steal, *args):
    r0, r1, t, kind = next_rows(ctl, gen, chunks, 0, B, start, steal, NONE)
    while kind != NONE:
        rnn_backward_rows(*args, r0, r1, t, steal)
        r0, r1, t, kind = next_rows(ctl, gen, chunks, 0, B, start, steal, kind)
