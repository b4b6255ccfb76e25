"""Row-wise softmax cross-entropy, the sum of squares and sums of rows by id, compiled (private; wrapped in
``compiled.py``).

Both run once per training step over arrays that NumPy would pass over several times: the language model's loss
on (B·T, V) logits took ~15 NumPy passes (max, subtract, exp, sum, log, gather, scale, scatter …), and gradient
clipping copied every gradient to float64 to take its norm.  Each is one pass here.  The loss sums each row's
exponentials in a fixed order (:func:`_sum8`), so its bits do not depend on how the compiler vectorised it; the sum
of squares, always compiled alone, uses ``reassoc`` so LLVM may split it over vector lanes.
"""

from __future__ import annotations

import math

from numba import njit

from ._pool import claim, finish, row_bounds
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


@njit(**JIT)
def sum_rows_by_id(src, ids, part, n0, n1):
    """part (V, G) = Σ src[n] over the rows n in [n0, n1) with ids[n] = v, added in order, for src (N, G) and
    ids (N,) in [0, V).  Whole rows: a block of columns at a time read src 4 KB apart and missed the TLB at
    every row (a (3200, 1024) sum by column blocks took ~4× as long as by rows)."""
    part[:] = 0
    for n in range(n0, n1):
        row, s = part[ids[n]], src[n]
        for j in range(src.shape[1]):
            row[j] += s[j]


@njit(**JIT)
def sum_rows_by_id_worker(ctl, gen, chunks, src, ids, parts):
    """:meth:`._pool.Pool.run` worker: block c of src's rows (:func:`._pool.row_bounds`) summed by id into
    parts[c] (chunks, V, G); the caller adds the parts in order, so the bits never depend on which thread took
    which block."""
    while True:
        c = claim(ctl, gen, chunks)
        if c < 0:
            return
        n0, n1 = row_bounds(src.shape[0], chunks, c)
        sum_rows_by_id(src, ids, parts[c], n0, n1)
        finish(ctl)
