"""Row-wise softmax cross-entropy and the sum of squares, compiled (private; wrapped in ``compiled.py``).

Both run once per training step over arrays that NumPy would pass over several times: the language model's loss
on (B·T, V) logits took ~15 NumPy passes (max, subtract, exp, sum, log, gather, scale, scatter …), and gradient
clipping copied every gradient to float64 to take its norm.  Each is one pass here.  The loss sums each row's
exponentials in a fixed order (:func:`_sum8`), so its bits do not depend on how the compiler vectorised it; the sum
of squares, always compiled alone, uses ``reassoc`` so LLVM may split it over vector lanes.
"""

from __future__ import annotations

import math

from numba import njit

from ._shared import FASTMATH, JIT
from ._vmath import exp


@njit(**JIT)
def _sum8(v, n):
    """Σ v[:n] in a fixed order — eight interleaved partial sums, then a fixed tree — which vector code may
    compute lane by lane but never reorders.  A reduction left to ``reassoc`` is summed in whatever order the
    compiler picks, and that differed with the context the function was compiled in (called alone, or first
    compiled inside another worker): the same loss then came out ~1e-8 apart from one process to the next."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = v[0] - v[0]
    j = 0
    while j + 8 <= n:
        s0 += v[j]
        s1 += v[j + 1]
        s2 += v[j + 2]
        s3 += v[j + 3]
        s4 += v[j + 4]
        s5 += v[j + 5]
        s6 += v[j + 6]
        s7 += v[j + 7]
        j += 8
    s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    while j < n:
        s += v[j]
        j += 1
    return s


@njit(**JIT)
def softmax_cross_entropy_rows(z, t, scale, grad):
    """Softmax cross-entropy of each row of z (N, C) against class t[n] (t[n] < 0: the row does not count).

        p = softmax(z_n),   loss_n = logsumexp(z_n) − z_n[t_n]
        grad[n] = scale · (p − onehot(t_n))     (zeros for rows that do not count)

    Returns Σ loss_n over the counted rows, in float64 (the caller divides by its denominator and passes
    scale = 1 / denominator for a mean).  Row maximum subtracted first, so huge logits are safe.  ``grad`` may be
    z itself (the gradient then overwrites the logits)."""
    N, C = z.shape
    total = 0.0
    for n in range(N):
        row, g, y = z[n], grad[n], t[n]
        if y < 0:
            for j in range(C):
                g[j] = 0
            continue
        m = row[0]
        for j in range(1, C):
            m = max(m, row[j])
        zy = row[y]
        for j in range(C):
            g[j] = exp(row[j] - m)                # (C,) exp(z − max)
        s = _sum8(g, C)
        total += float(m - zy)                    # exact for a near-maximum target logit, however large
        total += math.log(s)
        k = scale / s
        for j in range(C):
            g[j] *= k
        g[y] -= scale
    return total


@njit(**{**JIT, "fastmath": FASTMATH | {"reassoc"}})
def sum_squares(x):
    """Σ x² over a 1-D array, accumulated in float64 (clipping's 2-norm without a float64 copy)."""
    s = 0.0
    for j in range(x.shape[0]):
        v = float(x[j])
        s += v * v
    return s
