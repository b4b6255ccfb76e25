r"""Reference kernels: plain NumPy forward and backward through time for one layer and one direction.

This file is the specification.  It is written to read like the equations; compiled kernels must match it.

Shapes: T time, B batch, I input width, H hidden width, P recurrent-state width (P = H, or proj_size).
Every kernel runs forward in time over a time-major input ``x`` of shape (T, B, I).  The reverse direction of a
bidirectional layer is the same kernel on a time-reversed input (see :mod:`lstm.nn.recurrent`).

Variable lengths: ``mask`` (T, B, 1) is 1 at real steps and 0 at padded steps (which always come after a
sequence's last real step).  At a padded step the state is carried unchanged and the output is exactly zero:

    h_t = m_t ⊙ step(x_t, h_{t-1}) + (1 − m_t) ⊙ h_{t-1},      y_t = m_t ⊙ h_t

so the final state is the state at each sequence's last real step and padded steps contribute to no gradient.

Inputs by lookup (LSTM): with ``ids`` (T, B) integers, ``x`` is a table (V, I) of input vectors and step t of
sequence b reads x[ids[t, b]] — an embedding followed by the layer.  Backward then returns δx of the table,
δx[v] = Σ_{t,b: ids[t,b] = v} δx_t[b].  Here that is literally the lookup and the scatter; a compiled kernel may
instead project the V table rows once (x W_ihᵀ, V·I·4H multiply-adds instead of T·B·I·4H) and gather rows of it.

LSTM (gate order i, f, g, o as PyTorch packs them)::

    a_t = x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh                   (B, 4H)
    i_t = σ(a_i + p_i ⊙ c_{t-1})        (i_t = 1 − f_t when coupled)
    f_t = σ(a_f + p_f ⊙ c_{t-1})
    g_t = tanh(a_g)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    o_t = σ(a_o + p_o ⊙ c_t)
    h_t = o_t ⊙ tanh(c_t)               (h_t = (o_t ⊙ tanh(c_t)) W_hrᵀ with a projection)

(p are the optional peephole weights, ONNX semantics.)  Backward, with δ = ∂L/∂·::

    δm_t = δh_t (W_hr)          m_t = o_t ⊙ tanh(c_t) is the pre-projection output
    δo_t = δm_t ⊙ tanh(c_t)                         δa_o = δo_t ⊙ o_t(1 − o_t)
    δc_t = δc_{t+1}-carry + δm_t ⊙ o_t ⊙ (1 − tanh²c_t) + δa_o ⊙ p_o
    δi_t = δc_t ⊙ g_t     δg_t = δc_t ⊙ i_t     δf_t = δc_t ⊙ c_{t-1}   (coupled: δf_t −= δi_t, δi_t = 0)
    δa = [δi ⊙ i(1−i), δf ⊙ f(1−f), δg ⊙ (1−g²), δa_o]
    δc_{t-1}-carry = δc_t ⊙ f_t + δa_i ⊙ p_i + δa_f ⊙ p_f            (the constant error carousel)
    δh_{t-1} += δa W_hh;   δx_t = δa W_ih;   δW_ih = Σ δaᵀ x;   δW_hh = Σ δaᵀ h_{t-1};   δb = Σ δa

GRU (PyTorch's r, z, n formulation)::

    r_t = σ(x W_irᵀ + b_ir + h_{t-1} W_hrᵀ + b_hr)
    z_t = σ(x W_izᵀ + b_iz + h_{t-1} W_hzᵀ + b_hz)
    n_t = tanh(x W_inᵀ + b_in + r_t ⊙ (h_{t-1} W_hnᵀ + b_hn))
    h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}

RNN::

    h_t = φ(x W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh),   φ = tanh or relu
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def sigmoid(a: np.ndarray) -> np.ndarray:
    """σ(a) = 1 / (1 + e^{−a}), computed without overflow for large |a|."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(a.dtype, copy=False)


def matmul(A: np.ndarray, B: np.ndarray, ta: bool = False, tb: bool = False) -> np.ndarray:
    """op(A) @ op(B) for 2-D arrays, op = transpose where ``ta``/``tb``: the dense products of the layers around
    the recurrent ones (:class:`lstm.nn.Linear`), which a backend may run on its own threads."""
    return (A.T if ta else A) @ (B.T if tb else B)


def _project_inputs(x: np.ndarray, W_ih: np.ndarray, b_ih: np.ndarray | None) -> np.ndarray:
    """x W_ihᵀ + b_ih for all steps at once: one GEMM, (T, B, I) -> (T, B, G)."""
    xw = x @ W_ih.T
    if b_ih is not None:
        xw += b_ih
    return xw


def _input_and_weight_grads(da: np.ndarray, x: np.ndarray, W_ih: np.ndarray, has_bias: bool, input_grad: bool):
    """From δa (T, B, G) of the input projection: δx (T, B, I) (None unless ``input_grad``), δW_ih (G, I),
    δb_ih (G,)."""
    dx = da @ W_ih if input_grad else None                       # (T, B, I)
    flat_da = da.reshape(-1, da.shape[-1])                       # (T·B, G)
    dW_ih = flat_da.T @ x.reshape(-1, x.shape[-1])               # (G, I)
    db_ih = flat_da.sum(axis=0) if has_bias else None            # (G,)
    return dx, dW_ih, db_ih


def lookup_rows(table: np.ndarray, ids: np.ndarray | None) -> np.ndarray:
    """table[ids]: the (T, B, I) inputs a lookup stands for (the table itself without ``ids``)."""
    return table if ids is None else table[ids]


def scatter_rows(dx: np.ndarray, ids: np.ndarray, n_rows: int) -> np.ndarray:
    """The gradient of :func:`lookup_rows` w.r.t. its table: out[v] = Σ_{s: ids[s] = v} dx[s], (n_rows, I)."""
    out = np.zeros((n_rows, dx.shape[-1]), dx.dtype)
    np.add.at(out, ids.reshape(-1), dx.reshape(-1, dx.shape[-1]))
    return out


def _blend(m: np.ndarray | None, new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """m ⊙ new + (1 − m) ⊙ old: keep the old state at padded steps."""
    return new if m is None else np.where(m > 0, new, old)


# ================================================================================================================
# LSTM
# ================================================================================================================


@dataclass
class LSTMParams:
    """One layer, one direction.  Shapes: W_ih (4H, I), W_hh (4H, P), b_* (4H,), W_hr (P, H), peephole (3H,)."""

    W_ih: np.ndarray
    W_hh: np.ndarray
    b_ih: np.ndarray | None = None
    b_hh: np.ndarray | None = None
    W_hr: np.ndarray | None = None
    peephole: np.ndarray | None = None   # [p_i, p_f, p_o], each (H,)
    coupled: bool = False


@dataclass
class LSTMCache:
    """What backward needs, and what a trace shows.  All time-major."""

    x: np.ndarray          # (T, B, I)
    h: np.ndarray          # (T+1, B, P)   h[0] = h0, h[t+1] = state after step t
    c: np.ndarray          # (T+1, B, H)
    i: np.ndarray          # (T, B, H)
    f: np.ndarray          # (T, B, H)
    g: np.ndarray          # (T, B, H)
    o: np.ndarray          # (T, B, H)
    mask: np.ndarray | None  # (T, B, 1)
    ids: np.ndarray | None = None   # (T, B) when the input is a lookup: x is then the table (V, I)


def lstm_step(xw_t, h_prev, c_prev, p: LSTMParams):
    """One LSTM step from the precomputed input projection xw_t = x_t W_ihᵀ + b_ih (B, 4H).

    Returns (h_t, c_t, i, f, g, o).
    """
    H = c_prev.shape[-1]
    a = xw_t + h_prev @ p.W_hh.T                                 # (B, 4H)
    if p.b_hh is not None:
        a = a + p.b_hh
    a_i, a_f, a_g, a_o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
    if p.peephole is not None:
        p_i, p_f, p_o = p.peephole[:H], p.peephole[H:2 * H], p.peephole[2 * H:]
        a_i = a_i + p_i * c_prev
        a_f = a_f + p_f * c_prev
    f = sigmoid(a_f)
    i = 1.0 - f if p.coupled else sigmoid(a_i)
    g = np.tanh(a_g)
    c = f * c_prev + i * g
    if p.peephole is not None:
        a_o = a_o + p_o * c
    o = sigmoid(a_o)
    h = o * np.tanh(c)
    if p.W_hr is not None:
        h = h @ p.W_hr.T                                         # (B, P)
    return h, c, i, f, g, o


def lstm_forward(x, h0, c0, p: LSTMParams, mask=None, keep_cache=True, ids=None, batch_major=False):
    """Run T steps.  x (T, B, I), h0 (B, P), c0 (B, H), mask (T, B, 1) or None; or x a table (V, I) read
    through ``ids`` (T, B) (see "Inputs by lookup" above).

    Returns y (T, B, P), h_T (B, P), c_T (B, H), cache (None unless ``keep_cache``: inference, no backward; every
    forward kernel takes it, and a backend may then skip keeping per-step values).  With ``batch_major`` y is
    (B, T, P), as a batch-first layer returns it (a backend may write it so and save the transposing copy).
    """
    table, x = x, lookup_rows(x, ids)
    T, B, _ = x.shape
    H = c0.shape[-1]
    dt = x.dtype
    xw = _project_inputs(x, p.W_ih, p.b_ih)                      # (T, B, 4H)
    hs = np.empty((T + 1,) + h0.shape, dt); hs[0] = h0
    cs = np.empty((T + 1, B, H), dt); cs[0] = c0
    gates = {k: np.empty((T, B, H), dt) for k in "ifgo"}
    y = np.empty((T,) + h0.shape, dt)
    for t in range(T):
        m = None if mask is None else mask[t]
        h, c, i, f, g, o = lstm_step(xw[t], hs[t], cs[t], p)
        hs[t + 1] = _blend(m, h, hs[t])
        cs[t + 1] = _blend(m, c, cs[t])
        y[t] = h if m is None else h * m
        for k, v in zip("ifgo", (i, f, g, o)):
            gates[k][t] = v
    cache = LSTMCache(x=table.copy(), h=hs, c=cs, mask=mask, ids=ids, **gates) if keep_cache else None
    return (y.transpose(1, 0, 2).copy() if batch_major else y), hs[T].copy(), cs[T].copy(), cache


def lstm_backward(p: LSTMParams, cache: LSTMCache, dy, dh_T=None, dc_T=None, input_grad=True, batch_major=False,
                  out=None):
    """Backpropagation through time.  dy (T, B, P), or (B, T, P) with ``batch_major``; dh_T (B, P), dc_T (B, H)
    upstream into the final state.  ``out``: {"W_ih": array, "W_hh": array} that a backend may write those two
    gradients into and return (the compiled one does; here they are ignored) — a layer's own gradient arrays.

    Returns dx (T, B, I), dh0 (B, P), dc0 (B, H), grads {W_ih, W_hh, b_ih, b_hh, W_hr, peephole} (None if unused).
    dx is None without ``input_grad`` (every backward kernel takes it: the input is data, not a layer's output, so
    δx = δa W_ih need not be computed — a third of the backward loop's products at the medium size).  After a
    forward by lookup, dx is the table's gradient (V, I).
    """
    x, hs, cs, mask = lookup_rows(cache.x, cache.ids), cache.h, cache.c, cache.mask
    T, B, _ = x.shape
    H = cs.shape[-1]
    dt = x.dtype
    dy = dy.transpose(1, 0, 2) if batch_major else dy                           # (T, B, P)
    dh = np.zeros_like(hs[0]) if dh_T is None else dh_T.astype(dt, copy=True)   # (B, P) carry
    dc = np.zeros_like(cs[0]) if dc_T is None else dc_T.astype(dt, copy=True)   # (B, H) carry
    da = np.zeros((T, B, 4 * H), dt)                                             # δ pre-activations
    dW_hh = np.zeros_like(p.W_hh)
    dW_hr = None if p.W_hr is None else np.zeros_like(p.W_hr)
    dpeep = None if p.peephole is None else np.zeros_like(p.peephole)
    for t in reversed(range(T)):
        m = None if mask is None else mask[t]
        i, f, g, o = cache.i[t], cache.f[t], cache.g[t], cache.o[t]
        c_prev, c_t, h_prev = cs[t], cs[t + 1], hs[t]
        dh_t = dy[t] + dh                                        # output gradient + carry from t+1
        if m is not None:                                        # padded: gradient goes straight to h_{t-1}
            dh_keep, dc_keep = dh * (1 - m), dc * (1 - m)
            dh_t, dc = dh_t * m, dc * m
        tanh_c = np.tanh(c_t)
        if p.W_hr is not None:
            dW_hr += dh_t.T @ (o * tanh_c)                       # (P, H)
            dh_t = dh_t @ p.W_hr                                 # (B, H) = δm_t
        do = dh_t * tanh_c
        da_o = do * o * (1 - o)
        dc = dc + dh_t * o * (1 - tanh_c ** 2)
        if p.peephole is not None:
            dc = dc + da_o * p.peephole[2 * H:]
        di, dg, df = dc * g, dc * i, dc * c_prev
        if p.coupled:
            df, di = df - di, np.zeros_like(di)
        da_i = di * i * (1 - i)
        da_f = df * f * (1 - f)
        da_g = dg * (1 - g ** 2)
        da[t] = np.concatenate([da_i, da_f, da_g, da_o], axis=1)
        dc = dc * f                                              # the constant error carousel
        if p.peephole is not None:
            dc = dc + da_i * p.peephole[:H] + da_f * p.peephole[H:2 * H]
            dpeep += np.concatenate([(da_i * c_prev).sum(0), (da_f * c_prev).sum(0), (da_o * c_t).sum(0)])
        dW_hh += da[t].T @ h_prev
        dh = da[t] @ p.W_hh
        if m is not None:
            dh, dc = dh + dh_keep, dc + dc_keep
    dx, dW_ih, db_ih = _input_and_weight_grads(da, x, p.W_ih, p.b_ih is not None, input_grad)
    if dx is not None and cache.ids is not None:
        dx = scatter_rows(dx, cache.ids, cache.x.shape[0])      # (V, I)
    grads = {
        "W_ih": dW_ih, "W_hh": dW_hh,
        "b_ih": db_ih, "b_hh": None if p.b_hh is None else da.sum(axis=(0, 1)),
        "W_hr": dW_hr, "peephole": dpeep,
    }
    return dx, dh, dc, grads


# ================================================================================================================
# GRU
# ================================================================================================================


@dataclass
class GRUParams:
    """One layer, one direction.  W_ih (3H, I), W_hh (3H, H), b_* (3H,), gate order r, z, n."""

    W_ih: np.ndarray
    W_hh: np.ndarray
    b_ih: np.ndarray | None = None
    b_hh: np.ndarray | None = None


@dataclass
class GRUCache:
    x: np.ndarray          # (T, B, I)
    h: np.ndarray          # (T+1, B, H)
    r: np.ndarray          # (T, B, H)
    z: np.ndarray          # (T, B, H)
    n: np.ndarray          # (T, B, H)
    hn: np.ndarray         # (T, B, H)  h_{t-1} W_hnᵀ + b_hn, the part r gates
    mask: np.ndarray | None


def gru_step(xw_t, h_prev, p: GRUParams):
    """One GRU step from xw_t = x_t W_ihᵀ + b_ih (B, 3H).  Returns (h_t, r, z, n, hn)."""
    H = h_prev.shape[-1]
    hw = h_prev @ p.W_hh.T                                       # (B, 3H)
    if p.b_hh is not None:
        hw = hw + p.b_hh
    r = sigmoid(xw_t[:, :H] + hw[:, :H])
    z = sigmoid(xw_t[:, H:2 * H] + hw[:, H:2 * H])
    hn = hw[:, 2 * H:]
    n = np.tanh(xw_t[:, 2 * H:] + r * hn)
    h = (1 - z) * n + z * h_prev
    return h, r, z, n, hn


def gru_forward(x, h0, p: GRUParams, mask=None, keep_cache=True):
    """x (T, B, I), h0 (B, H).  Returns y (T, B, H), h_T (B, H), cache (None unless ``keep_cache``)."""
    T, B, _ = x.shape
    dt = x.dtype
    xw = _project_inputs(x, p.W_ih, p.b_ih)                      # (T, B, 3H)
    hs = np.empty((T + 1,) + h0.shape, dt); hs[0] = h0
    parts = {k: np.empty((T,) + h0.shape, dt) for k in ("r", "z", "n", "hn")}
    y = np.empty((T,) + h0.shape, dt)
    for t in range(T):
        m = None if mask is None else mask[t]
        h, r, z, n, hn = gru_step(xw[t], hs[t], p)
        hs[t + 1] = _blend(m, h, hs[t])
        y[t] = h if m is None else h * m
        for k, v in zip(("r", "z", "n", "hn"), (r, z, n, hn)):
            parts[k][t] = v
    return y, hs[T].copy(), GRUCache(x=x.copy(), h=hs, mask=mask, **parts) if keep_cache else None


def gru_backward(p: GRUParams, cache: GRUCache, dy, dh_T=None, input_grad=True):
    """Returns dx (T, B, I) (None without ``input_grad``), dh0 (B, H), grads {W_ih, W_hh, b_ih, b_hh}.

    δn = δh ⊙ (1 − z);  δz = δh ⊙ (h_{t-1} − n);  δa_n = δn ⊙ (1 − n²);  δr = δa_n ⊙ hn
    δ(x-side) = [δr ⊙ r(1−r), δz ⊙ z(1−z), δa_n];   δ(h-side) = [same r, same z, δa_n ⊙ r]
    δh_{t-1} = δh ⊙ z + δ(h-side) W_hh
    """
    x, hs, mask = cache.x, cache.h, cache.mask
    T, B, _ = x.shape
    H = hs.shape[-1]
    dt = x.dtype
    dh = np.zeros_like(hs[0]) if dh_T is None else dh_T.astype(dt, copy=True)
    dxa = np.zeros((T, B, 3 * H), dt)                            # δ of x-side pre-activations
    dha = np.zeros((T, B, 3 * H), dt)                            # δ of h-side pre-activations
    dW_hh = np.zeros_like(p.W_hh)
    for t in reversed(range(T)):
        m = None if mask is None else mask[t]
        r, z, n, hn, h_prev = cache.r[t], cache.z[t], cache.n[t], cache.hn[t], hs[t]
        dh_t = dy[t] + dh
        if m is not None:
            dh_keep = dh * (1 - m)
            dh_t = dh_t * m
        da_n = dh_t * (1 - z) * (1 - n ** 2)
        da_z = dh_t * (h_prev - n) * z * (1 - z)
        da_r = da_n * hn * r * (1 - r)
        dxa[t] = np.concatenate([da_r, da_z, da_n], axis=1)
        dha[t] = np.concatenate([da_r, da_z, da_n * r], axis=1)
        dW_hh += dha[t].T @ h_prev
        dh = dh_t * z + dha[t] @ p.W_hh
        if m is not None:
            dh = dh + dh_keep
    dx, dW_ih, db_ih = _input_and_weight_grads(dxa, x, p.W_ih, p.b_ih is not None, input_grad)
    grads = {"W_ih": dW_ih, "W_hh": dW_hh, "b_ih": db_ih,
             "b_hh": None if p.b_hh is None else dha.sum(axis=(0, 1))}
    return dx, dh, grads


# ================================================================================================================
# RNN
# ================================================================================================================


@dataclass
class RNNParams:
    """One layer, one direction.  W_ih (H, I), W_hh (H, H), b_* (H,), nonlinearity 'tanh' or 'relu'."""

    W_ih: np.ndarray
    W_hh: np.ndarray
    b_ih: np.ndarray | None = None
    b_hh: np.ndarray | None = None
    nonlinearity: str = "tanh"


@dataclass
class RNNCache:
    x: np.ndarray          # (T, B, I)
    h: np.ndarray          # (T+1, B, H)
    mask: np.ndarray | None


def rnn_step(xw_t, h_prev, p: RNNParams):
    """One step from xw_t = x_t W_ihᵀ + b_ih (B, H): h_t = φ(xw_t + h_{t-1} W_hhᵀ + b_hh)."""
    a = xw_t + h_prev @ p.W_hh.T
    if p.b_hh is not None:
        a = a + p.b_hh
    return np.tanh(a) if p.nonlinearity == "tanh" else np.maximum(a, 0)


def rnn_forward(x, h0, p: RNNParams, mask=None, keep_cache=True):
    """x (T, B, I), h0 (B, H).  Returns y (T, B, H), h_T (B, H), cache (None unless ``keep_cache``)."""
    T = x.shape[0]
    xw = _project_inputs(x, p.W_ih, p.b_ih)                      # (T, B, H)
    hs = np.empty((T + 1,) + h0.shape, x.dtype); hs[0] = h0
    y = np.empty((T,) + h0.shape, x.dtype)
    for t in range(T):
        m = None if mask is None else mask[t]
        h = rnn_step(xw[t], hs[t], p)
        hs[t + 1] = _blend(m, h, hs[t])
        y[t] = h if m is None else h * m
    return y, hs[T].copy(), RNNCache(x=x.copy(), h=hs, mask=mask) if keep_cache else None


def rnn_backward(p: RNNParams, cache: RNNCache, dy, dh_T=None, input_grad=True):
    """δa_t = δh_t ⊙ φ'(a_t);  δh_{t-1} = δa_t W_hh — the product of T such factors is the vanishing gradient.

    Returns dx (T, B, I) (None without ``input_grad``), dh0 (B, H), grads {W_ih, W_hh, b_ih, b_hh}.
    """
    x, hs, mask = cache.x, cache.h, cache.mask
    T = x.shape[0]
    dh = np.zeros_like(hs[0]) if dh_T is None else dh_T.astype(x.dtype, copy=True)
    da = np.zeros((T,) + hs.shape[1:], x.dtype)
    dW_hh = np.zeros_like(p.W_hh)
    for t in reversed(range(T)):
        m = None if mask is None else mask[t]
        h_t, h_prev = hs[t + 1], hs[t]
        dh_t = dy[t] + dh
        if m is not None:
            dh_keep = dh * (1 - m)
            dh_t = dh_t * m
        da[t] = dh_t * (1 - h_t ** 2) if p.nonlinearity == "tanh" else dh_t * (h_t > 0)
        dW_hh += da[t].T @ h_prev
        dh = da[t] @ p.W_hh
        if m is not None:
            dh = dh + dh_keep
    dx, dW_ih, db_ih = _input_and_weight_grads(da, x, p.W_ih, p.b_ih is not None, input_grad)
    grads = {"W_ih": dW_ih, "W_hh": dW_hh, "b_ih": db_ih,
             "b_hh": None if p.b_hh is None else da.sum(axis=(0, 1))}
    return dx, dh, grads
