"""Numba loops of the compiled GRU and RNN kernels (private; see ``compiled.py`` for the wrappers).

As for the LSTM, ``act`` enters holding the hoisted input projection and leaves holding the activations
(GRU: [r, z, n]; RNN: the pre-activation, unused after the forward call); the only GEMM per step is with W_hh.
"""

from __future__ import annotations

from numba import njit

from ._blas import gemm
from ._shared import JIT
from ._vmath import one_like, sigmoid, tanh


@njit(**JIT)
def _emit(hs, y, mask, t):
    """y_t = m ⊙ h_t, and at padded steps carry h_{t-1} into h_t."""
    B, P = hs.shape[1], hs.shape[2]
    has_mask = mask.shape[0] > 0
    for b in range(B):
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
        r = sigmoid(a[j] + w[j])
        z = sigmoid(a[H + j] + w[H + j])
        hnv = w[2 * H + j] + b_hn[j]
        n = tanh(a[2 * H + j] + r * hnv)
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
def gru_forward_loop(W_hh, b_hn, mask, act, hs, hn, hw, y):
    """act (T, B, 3H) enters as x W_ihᵀ + b_ih + [b_hr, b_hz, 0] and leaves as [r, z, n]; hn (T, B, H) receives
    h_{t-1} W_hnᵀ + b_hn; hw (B, 3H) is scratch; b_hn is zeros without bias."""
    T, B, G = act.shape
    H = G // 3
    for t in range(T):
        gemm(hs[t], False, W_hh, True, hw, False)
        for b in range(B):
            a, w, hp, hnew, hn_row = act[t, b], hw[b], hs[t, b], hs[t + 1, b], hn[t, b]
            _gru_row(a, w, hp, hnew, hn_row, b_hn, H)
        _emit(hs, y, mask, t)


@njit(**JIT)
def gru_backward_loop(W_hh, mask, act, hs, hn, dy, dh, dxa, dha):
    """dh (B, H) enters as δh_T and leaves as δh_0; dxa, dha (T, B, 3H) receive the δ of the input-side and
    hidden-side pre-activations (they differ in the n block by the factor r)."""
    T, B, G = act.shape
    H = G // 3
    has_mask = mask.shape[0] > 0
    one = one_like(act)
    for t in range(T - 1, -1, -1):
        for b in range(B):
            a, hp, hn_row, dyt, dhb = act[t, b], hs[t, b], hn[t, b], dy[t, b], dh[b]
            dx_row, dh_row = dxa[t, b], dha[t, b]
            m = mask[t, b] if has_mask else one
            km = one - m
            _gru_row_backward(a, hp, hn_row, dyt, dhb, dx_row, dh_row, m, km, H)
        gemm(dha[t], False, W_hh, False, dh, True)                      # δh_{t-1} += δa_h W_hh


@njit(**JIT)
def rnn_forward_loop(W_hh, mask, relu, act, hs, y):
    """act (T, B, H) enters as x W_ihᵀ + b_ih + b_hh; h_t = φ(act_t + h_{t-1} W_hhᵀ)."""
    T, B, H = act.shape
    zero = one_like(act) - one_like(act)
    for t in range(T):
        a_t = act[t]
        gemm(hs[t], False, W_hh, True, a_t, True)
        for b in range(B):
            a, hnew = a_t[b], hs[t + 1, b]
            for j in range(H):
                v = a[j]
                hnew[j] = (v if v > zero else zero) if relu else tanh(v)
        _emit(hs, y, mask, t)


@njit(**JIT)
def rnn_backward_loop(W_hh, mask, relu, hs, dy, dh, da):
    """dh (B, H) enters as δh_T and leaves as δh_0; da (T, B, H) receives δ pre-activations."""
    T, B, H = da.shape
    has_mask = mask.shape[0] > 0
    one = one_like(da)
    zero = one - one
    for t in range(T - 1, -1, -1):
        for b in range(B):
            h_row, dyt, dhb, d = hs[t + 1, b], dy[t, b], dh[b], da[t, b]
            m = mask[t, b] if has_mask else one
            km = one - m
            for j in range(H):
                carry = dhb[j]
                dhv = (dyt[j] + carry) * m
                h = h_row[j]
                d[j] = (dhv if h > zero else zero) if relu else dhv * (one - h * h)
                dhb[j] = carry * km
        gemm(da[t], False, W_hh, False, dh, True)                       # δh_{t-1} = δa W_hh (+ padded carry)
