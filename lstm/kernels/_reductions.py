"""Row-wise softmax cross-entropy and the sum of squares, compiled (private; wrapped in ``compiled.py``).

Both run once per training step over arrays that NumPy would pass over several times: the language model's loss
on (B·T, V) logits took ~15 NumPy passes (max, subtract, exp, sum, log, gather, scale, scatter …), and gradient
clipping copied every gradient to float64 to take its norm.  Each is one pass here.  Sums use ``reassoc`` so LLVM
may split them over vector lanes (NumPy's pairwise sums reorder too); everything else keeps the kernels' flags.
"""

from __future__ import annotations

import math

from numba import njit

from ._shared import FASTMATH
from ._vmath import exp

_JIT = dict(cache=True, fastmath=FASTMATH | {"reassoc"}, error_model="numpy", nogil=True)


@njit(**_JIT)
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
        s = row[0] - row[0]                       # 0 in the logits' dtype
        for j in range(C):
            e = exp(row[j] - m)                   # (C,) exp(z − max)
            g[j] = e
            s += e
        total += float(m - zy)                    # exact for a near-maximum target logit, however large
        total += math.log(s)
        k = scale / s
        for j in range(C):
            g[j] *= k
        g[y] -= scale
    return total


@njit(**_JIT)
def sum_squares(x):
    """Σ x² over a 1-D array, accumulated in float64 (clipping's 2-norm without a float64 copy)."""
    s = 0.0
    for j in range(x.shape[0]):
        v = float(x[j])
        s += v * v
    return s
