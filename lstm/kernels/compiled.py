"""Compiled (Numba) kernels: the same six functions, signatures and results as :mod:`lstm.kernels.reference`.

Select with ``backend="numba"`` (``"auto"`` picks it when Numba is installed).  Results equal the reference to a
few ulp in float64 (tests use 1e-12) and to ~1e-6 relative in float32.

How it is fast (numbers in ``benchmarks/bench_kernels.py``):

- Python is entered once per kernel call, never per step.  Each call is three phases: the input projection
  x W_ihᵀ for all T steps as one GEMM; the time loop (one GEMM with W_hh per step, written in place into the
  projection buffer, then the gate math); and after backward, δx, δW_ih, δW_hh, δb as GEMMs over all T·B rows.
- Gate math uses branch-free Cephes-style exp/sigmoid/tanh (:mod:`._vmath`) that LLVM vectorises; float64 keeps
  ~1-ulp accuracy, so no approximation changes results beyond rounding.
- Every GEMM goes through SciPy's OpenBLAS (:mod:`._blas`), one thread pool, whose size is set per phase: two
  threads only when a GEMM is big enough to gain from them; OpenBLAS threading on small per-step products was
  measured to cost more than it saves.
- Buffers are allocated once per call; the loops allocate nothing.

Compilation is lazy (first call) and cached on disk (``cache=True``), so only the first process ever compiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import reference as ref
from ._blas import set_threads
from ._gru_rnn_loops import gru_backward_loop, gru_forward_loop, rnn_backward_loop, rnn_forward_loop
from ._lstm_loops import lstm_backward_loop, lstm_forward_loop
from ._shared import matmul_tn, param_grads, project, sum_rows

LSTMParams, GRUParams, RNNParams = ref.LSTMParams, ref.GRUParams, ref.RNNParams

# A GEMM with at least this many multiply-adds runs on 2 BLAS threads, smaller ones on 1.
PARALLEL_MACS = 1 << 21
THREADS = 2


@dataclass
class LSTMCache(ref.LSTMCache):
    """The reference cache plus the buffers the compiled backward reads: i, f, g, o are views of ``act``."""

    act: np.ndarray | None = None      # (T, B, 4H) [i, f, g, o]
    tanh_c: np.ndarray | None = None   # (T, B, H)


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


def _empty(dt, ndim):
    return np.empty((0,) * ndim, dt)


def _threads(macs: int) -> None:
    set_threads(THREADS if macs >= PARALLEL_MACS else 1)


def _mask2(mask, T, B, dt):
    return _empty(dt, 2) if mask is None else _c(np.asarray(mask).reshape(T, B), dt)


def _state(v, shape, dt):
    return np.zeros(shape, dt) if v is None else np.array(v, dtype=dt, copy=True, order="C").reshape(shape)


def _project(x, W_ih, bias, G, dt):
    T, B, I = x.shape
    act = np.empty((T, B, G), dt)
    _threads(T * B * I * G)
    project(x.reshape(T * B, I), W_ih, bias, act.reshape(T * B, G))
    return act


def _bias_sum(dt, *parts):
    parts = [p for p in parts if p is not None]
    if not parts:
        return _empty(dt, 1)
    out = _c(parts[0], dt).copy()
    for p in parts[1:]:
        out += _c(p, dt)
    return out


def _input_side(dxa, dha, x, hs, W_ih, dt):
    """dx, dW_ih, dW_hh from the δ pre-activations (T, B, G) of both sides."""
    T, B, I = x.shape
    G, P = dxa.shape[2], hs.shape[2]
    dx = np.empty((T, B, I), dt)
    dW_ih = np.empty((G, I), dt)
    dW_hh = np.empty((G, P), dt)
    _threads(T * B * G * max(I, P))
    param_grads(dxa.reshape(T * B, G), dha.reshape(T * B, G), x.reshape(T * B, I), hs[:T].reshape(T * B, P),
                W_ih, dx.reshape(T * B, I), dW_ih, dW_hh)
    return dx, dW_ih, dW_hh


def _colsum(d, dt):
    out = np.empty(d.shape[-1], dt)
    sum_rows(d.reshape(-1, d.shape[-1]), out)
    return out


# ================================================================================================================
# LSTM
# ================================================================================================================
def lstm_forward(x, h0, c0, p: LSTMParams, mask=None):
    """As :func:`lstm.kernels.reference.lstm_forward`."""
    dt = _dtype(x)
    x = _c(x, dt)
    T, B, _ = x.shape
    W_ih, W_hh = _c(p.W_ih, dt), _c(p.W_hh, dt)
    G, P = W_hh.shape
    H = G // 4
    W_hr = _empty(dt, 2) if p.W_hr is None else _c(p.W_hr, dt)
    peep = np.zeros(3 * H, dt) if p.peephole is None else _c(p.peephole, dt)
    act = _project(x, W_ih, _bias_sum(dt, p.b_ih, p.b_hh), G, dt)
    hs = np.empty((T + 1, B, P), dt)
    hs[0] = h0
    cs = np.empty((T + 1, B, H), dt)
    cs[0] = c0
    tc = np.empty((T, B, H), dt)
    y = np.empty((T, B, P), dt)
    hpre = np.empty((B, H), dt) if p.W_hr is not None else _empty(dt, 2)
    _threads(B * G * P)
    lstm_forward_loop(W_hh, W_hr, peep, _mask2(mask, T, B, dt), bool(p.coupled), act, hs, cs, tc, y, hpre)
    cache = LSTMCache(x=x, h=hs, c=cs, i=act[:, :, :H], f=act[:, :, H:2 * H], g=act[:, :, 2 * H:3 * H],
                      o=act[:, :, 3 * H:], mask=mask, act=act, tanh_c=tc)
    return y, hs[T].copy(), cs[T].copy(), cache


def lstm_backward(p: LSTMParams, cache, dy, dh_T=None, dc_T=None):
    """As :func:`lstm.kernels.reference.lstm_backward`."""
    dt = _dtype(cache.x)
    x, hs, cs = _c(cache.x, dt), _c(cache.h, dt), _c(cache.c, dt)
    act = getattr(cache, "act", None)
    act = _c(np.concatenate([cache.i, cache.f, cache.g, cache.o], axis=-1) if act is None else act, dt)
    tc = getattr(cache, "tanh_c", None)
    tc = _c(np.tanh(cs[1:]) if tc is None else tc, dt)
    T, B, _ = x.shape
    W_ih, W_hh = _c(p.W_ih, dt), _c(p.W_hh, dt)
    G, P = W_hh.shape
    H = G // 4
    proj = p.W_hr is not None
    W_hr = _c(p.W_hr, dt) if proj else _empty(dt, 2)
    peep = np.zeros(3 * H, dt) if p.peephole is None else _c(p.peephole, dt)
    mask = cache.mask
    dh = _state(dh_T, (B, P), dt)
    dc = _state(dc_T, (B, H), dt)
    da = np.empty((T, B, G), dt)
    dhp = np.empty((T, B, P), dt) if proj else _empty(dt, 3)
    mbuf = np.empty((T, B, H), dt) if proj else _empty(dt, 3)
    dm = np.empty((B, H), dt)
    dpeep = np.zeros(3 * H, dt)
    keep_h = np.empty((B, P), dt) if mask is not None else _empty(dt, 2)
    keep_c = np.empty((B, H), dt) if mask is not None else _empty(dt, 2)
    _threads(B * G * P)
    lstm_backward_loop(W_hh, W_hr, peep, _mask2(mask, T, B, dt), bool(p.coupled), act, hs, cs, tc,
                       _c(dy, dt), dh, dc, da, dhp, mbuf, dm, dpeep, keep_h, keep_c)
    dx, dW_ih, dW_hh = _input_side(da, da, x, hs, W_ih, dt)
    db = _colsum(da, dt) if (p.b_ih is not None or p.b_hh is not None) else None
    dW_hr = None
    if proj:
        dW_hr = np.empty((P, H), dt)
        matmul_tn(dhp.reshape(T * B, P), mbuf.reshape(T * B, H), dW_hr)
    grads = {
        "W_ih": dW_ih, "W_hh": dW_hh,
        "b_ih": None if p.b_ih is None else db,
        "b_hh": None if p.b_hh is None else (db.copy() if p.b_ih is not None else db),
        "W_hr": dW_hr, "peephole": None if p.peephole is None else dpeep,
    }
    return dx, dh, dc, grads


# ================================================================================================================
# GRU
# ================================================================================================================
def gru_forward(x, h0, p: GRUParams, mask=None):
    """As :func:`lstm.kernels.reference.gru_forward`."""
    dt = _dtype(x)
    x = _c(x, dt)
    T, B, _ = x.shape
    W_ih, W_hh = _c(p.W_ih, dt), _c(p.W_hh, dt)
    G, H = W_hh.shape
    b_hh = None if p.b_hh is None else _c(p.b_hh, dt)
    b_rz = None if b_hh is None else np.concatenate([b_hh[:2 * H], np.zeros(H, dt)])
    b_hn = np.zeros(H, dt) if b_hh is None else b_hh[2 * H:].copy()
    act = _project(x, W_ih, _bias_sum(dt, p.b_ih, b_rz), G, dt)
    hs = np.empty((T + 1, B, H), dt)
    hs[0] = h0
    hn = np.empty((T, B, H), dt)
    y = np.empty((T, B, H), dt)
    _threads(B * G * H)
    gru_forward_loop(W_hh, b_hn, _mask2(mask, T, B, dt), act, hs, hn, np.empty((B, G), dt), y)
    cache = GRUCache(x=x, h=hs, r=act[:, :, :H], z=act[:, :, H:2 * H], n=act[:, :, 2 * H:], hn=hn, mask=mask,
                     act=act)
    return y, hs[T].copy(), cache


def gru_backward(p: GRUParams, cache, dy, dh_T=None):
    """As :func:`lstm.kernels.reference.gru_backward`."""
    dt = _dtype(cache.x)
    x, hs, hn = _c(cache.x, dt), _c(cache.h, dt), _c(cache.hn, dt)
    act = getattr(cache, "act", None)
    act = _c(np.concatenate([cache.r, cache.z, cache.n], axis=-1) if act is None else act, dt)
    T, B, _ = x.shape
    W_ih, W_hh = _c(p.W_ih, dt), _c(p.W_hh, dt)
    G, H = W_hh.shape
    dh = _state(dh_T, (B, H), dt)
    dxa = np.empty((T, B, G), dt)
    dha = np.empty((T, B, G), dt)
    _threads(B * G * H)
    gru_backward_loop(W_hh, _mask2(cache.mask, T, B, dt), act, hs, hn, _c(dy, dt), dh, dxa, dha)
    dx, dW_ih, dW_hh = _input_side(dxa, dha, x, hs, W_ih, dt)
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


def rnn_forward(x, h0, p: RNNParams, mask=None):
    """As :func:`lstm.kernels.reference.rnn_forward`."""
    dt = _dtype(x)
    x = _c(x, dt)
    T, B, _ = x.shape
    W_ih, W_hh = _c(p.W_ih, dt), _c(p.W_hh, dt)
    H = W_hh.shape[0]
    act = _project(x, W_ih, _bias_sum(dt, p.b_ih, p.b_hh), H, dt)
    hs = np.empty((T + 1, B, H), dt)
    hs[0] = h0
    y = np.empty((T, B, H), dt)
    _threads(B * H * H)
    rnn_forward_loop(W_hh, _mask2(mask, T, B, dt), _relu(p), act, hs, y)
    return y, hs[T].copy(), RNNCache(x=x, h=hs, mask=mask)


def rnn_backward(p: RNNParams, cache, dy, dh_T=None):
    """As :func:`lstm.kernels.reference.rnn_backward`."""
    dt = _dtype(cache.x)
    x, hs = _c(cache.x, dt), _c(cache.h, dt)
    T, B, _ = x.shape
    W_ih, W_hh = _c(p.W_ih, dt), _c(p.W_hh, dt)
    H = W_hh.shape[0]
    dh = _state(dh_T, (B, H), dt)
    da = np.empty((T, B, H), dt)
    _threads(B * H * H)
    rnn_backward_loop(W_hh, _mask2(cache.mask, T, B, dt), _relu(p), hs, _c(dy, dt), dh, da)
    dx, dW_ih, dW_hh = _input_side(da, da, x, hs, W_ih, dt)
    db = _colsum(da, dt) if (p.b_ih is not None or p.b_hh is not None) else None
    grads = {"W_ih": dW_ih, "W_hh": dW_hh,
             "b_ih": None if p.b_ih is None else db,
             "b_hh": None if p.b_hh is None else (db.copy() if p.b_ih is not None else db)}
    return dx, dh, grads
