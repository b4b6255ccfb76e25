"""Adam's update as one fused pass over a parameter (private): the loop behind :class:`lstm.optim.Adam` when the
compiled backend is available.

The optimizer's NumPy code (``Adam._update``) is the reference.  It makes ~15 whole-array passes per parameter
and step (each NumPy operation reads and writes the array again); this loop reads θ, g, m, v once and writes θ, m,
v once, doing the *same* floating-point operations in the *same* order with the same constants, each rounded to
the parameter's dtype as NumPy rounds a Python float against a float32 array.  It is compiled without fast-math
(no fused multiply-adds, no reassociation), so its results are bit-identical to the NumPy path (tested).

Per element, in NumPy's order (ω = the lerp weight 1 − β₁):

    θ ← θ·(1 − ηλ)                          decoupled weight decay (AdamW)
    g ← ±g  (+ θ·λ for Adam's L2 term)
    m ← m + (g − m)·ω          if ω < 0.5, else   m ← g − (g − m)·(1 − ω)       (torch's two-sided lerp)
    v ← v·β₂ + (g·(1 − β₂))·g
    v̂ ← max(v̂, v)              amsgrad
    θ ← θ + (m·(−η/(1 − β₁ᵗ))) / (√v̂ / √(1 − β₂ᵗ) + ε)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._pool import claim, finish


@njit(cache=True, nogil=True, error_model="numpy")
def _moments(p, g, m, v, decay, sign, wd, lerp_w, lerp_low, beta2, one_minus_beta2):
    """(θ, m, v) of one element after the decay, gradient and moment updates.  Conditional expressions, not
    branches, so the loops around it vectorise (a branch per option measured 11× slower)."""
    p = p * decay                                   # exact when decay = 1
    g = g * sign                                    # ±g, exact
    g = g + p * wd if wd != 0 else g                # not g + p·0: an infinite θ would make g NaN
    t = g - m
    m = m + t * lerp_w if lerp_low else g - t * lerp_w
    return p, m, v * beta2 + (g * one_minus_beta2) * g


@njit(cache=True, nogil=True, error_model="numpy")
def _update_span(param, grad, m, v, vmax, amsgrad, sign, decay, wd, lerp_w, lerp_low, beta2, one_minus_beta2,
                 neg_step_size, bc2_sqrt, eps):
    """The update over whole arrays (one chunk's slices: indices from 0, so the loops vectorise)."""
    if amsgrad:
        for j in range(param.shape[0]):
            p, mj, vj = _moments(param[j], grad[j], m[j], v[j], decay, sign, wd, lerp_w, lerp_low, beta2,
                                    one_minus_beta2)
            m[j] = mj
            v[j] = vj
            top = vmax[j]
            top = vj if vj > top or vj != vj else top          # np.maximum: NaN wins from either side
            vmax[j] = top
            param[j] = p + (mj * neg_step_size) / (np.sqrt(top) / bc2_sqrt + eps)
    else:
        for j in range(param.shape[0]):
            p, mj, vj = _moments(param[j], grad[j], m[j], v[j], decay, sign, wd, lerp_w, lerp_low, beta2,
                                    one_minus_beta2)
            m[j] = mj
            v[j] = vj
            param[j] = p + (mj * neg_step_size) / (np.sqrt(vj) / bc2_sqrt + eps)


@njit(cache=True, nogil=True, error_model="numpy")
def adam_worker(ctl, gen, chunks, param, grad, m, v, vmax, amsgrad, sign, decay, wd, lerp_w, lerp_low,
                beta2, one_minus_beta2, neg_step_size, bc2_sqrt, eps):
    """Update the 1-D arrays in place over ``chunks`` blocks claimed by the threads of :mod:`._pool`.

    ``vmax`` (empty without ``amsgrad``); ``decay``: 1, or 1 − ηλ for decoupled decay; ``sign``: −1 to maximise;
    ``wd`` ≠ 0: Adam's L2 term; ``lerp_low``: ω < 0.5, then ``lerp_w`` = ω, else ``lerp_w`` = 1 − ω.  Every scalar
    has the arrays' dtype."""
    n = param.shape[0]
    per = ((n + chunks - 1) // chunks + 15) // 16 * 16          # whole cache lines per block
    while True:
        c = claim(ctl, gen, chunks)
        if c < 0:
            return
        lo, hi = min(n, c * per), min(n, c * per + per)
        _update_span(param[lo:hi], grad[lo:hi], m[lo:hi], v[lo:hi], vmax[lo:hi], amsgrad, sign, decay, wd, lerp_w,
                     lerp_low, beta2, one_minus_beta2, neg_step_size, bc2_sqrt, eps)
        finish(ctl)
