"""Decoding for the encoder–decoder: greedy search and beam search with a length penalty.

Both work on a batch of N sources at once and ask the network for one decoder step at a time::

    memory, state = net.start(src, src_len)                  # encoder outputs (+ projected keys, mask), (h, c)
    logits, state, weights = net.step(tokens, state, memory) # tokens (N,) → logits (N, V), weights (N, Ts) or None

A hypothesis y_1 … y_n (y_n = </s> when it finished) has log-probability ``logp = Σ_t log p(y_t | y_<t, x)`` in
float64, and is ranked by ``logp / lp(n)`` with the GNMT length penalty (Wu et al. 2016)::

    lp(n) = ((5 + n) / 6) ** alpha              alpha = 0: plain log-probability (the default)

Ids in ``banned`` (<unk>, <pad>, <s>) are never generated: their log-probability is set to −∞ after the softmax
(not renormalised, so a hypothesis' log-probability is exactly what teacher forcing gives).

**Greedy**: y_t = argmax_v log p(v | y_<t, x) until </s> or ``max_len`` tokens.

**Beam search** (width K): every source keeps up to K live hypotheses, ranked by the sum of log-probabilities.
At each step the best ``K − finished`` extensions of the live ones (over all vocabulary entries) are kept; an
extension ending in </s> is finished and keeps its slot, so the live beam shrinks until every slot is finished (or
``max_len`` is reached, when the still-live hypotheses become candidates too).  The answer is the best candidate
by ``logp / lp(n)``.  With K = 1 this is, step for step and bit for bit, greedy decoding.  For K > 1 the greedy
hypothesis is added to the candidates (``keep_greedy=True``, default), so a wider beam never returns a
hypothesis that scores lower than greedy's — plain beam search can, rarely, prune the greedy path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Hypothesis", "greedy_search", "beam_search", "length_penalty", "log_softmax"]


@dataclass
class Hypothesis:
    tokens: list[int]            # generated ids, without <s>; ends with </s> if finished
    logp: float                  # Σ log p(y_t | y_<t, x), float64
    score: float                 # logp / lp(len(tokens)) — what the search ranks by
    finished: bool
    weights: np.ndarray | None   # (len(tokens), Ts) attention weights, or None without attention


def length_penalty(n, alpha: float):
    """GNMT length penalty ((5 + n) / 6) ** alpha (1 when alpha = 0)."""
    return ((5.0 + np.asarray(n, dtype=np.float64)) / 6.0) ** alpha


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """(N, V) → (N, V) float64 log-probabilities."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _hyp(tokens, logp, alpha, finished, weights) -> Hypothesis:
    tokens = [int(t) for t in tokens]
    return Hypothesis(tokens, float(logp), float(logp / length_penalty(max(len(tokens), 1), alpha)), finished,
                      weights)


def greedy_search(net, src, src_len, *, bos: int, eos: int, max_len: int, alpha: float = 0.0,
                  banned=()) -> list[Hypothesis]:
    """The argmax token at every step, for N sources at once (never a ``banned`` id, e.g. <pad>)."""
    memory, state = net.start(src, src_len)
    N = len(src_len)
    tokens = np.full(N, bos, dtype=np.int64)
    out = np.zeros((N, max_len), dtype=np.int64)
    logp = np.zeros(N)
    length = np.zeros(N, dtype=np.int64)
    done = np.zeros(N, dtype=bool)
    weights = []
    for t in range(max_len):
        logits, state, w = net.step(tokens, state, memory)
        lp = log_softmax(logits)                              # (N, V)
        lp[:, list(banned)] = -np.inf
        nxt = np.argmax(lp, axis=1)                           # first index among ties
        live = ~done
        logp[live] += lp[live, nxt[live]]
        length[live] += 1
        out[:, t] = nxt
        if w is not None:
            weights.append(w)
        done |= nxt == eos
        if done.all():
            break
        tokens = nxt
    W = np.stack(weights, axis=1) if weights else None       # (N, steps, Ts)
    return [_hyp(out[n, :length[n]], logp[n], alpha, bool(out[n, length[n] - 1] == eos),
                 None if W is None else W[n, :length[n], :int(src_len[n])]) for n in range(N)]


def beam_search(net, src, src_len, *, beam: int, bos: int, eos: int, max_len: int, alpha: float = 0.0,
                keep_greedy: bool = True, banned=()) -> list[Hypothesis]:
    """Beam search of width ``beam`` for N sources at once (see the module docstring)."""
    if isinstance(beam, bool) or not isinstance(beam, (int, np.integer)) or beam < 1:
        raise ValueError(f"beam must be a positive integer, got {beam!r}")
    K = int(beam)
    N = len(src_len)
    memory, state = net.start(src, src_len)
    rows = np.repeat(np.arange(N), K)                         # row n·K + k belongs to source n
    memory, state = memory.take(rows), tuple(s[:, rows] for s in state)
    scores = np.full((N, K), -np.inf)
    scores[:, 0] = 0.0                                        # one live hypothesis (<s>) to start
    width = np.full(N, K, dtype=np.int64)                     # live slots left = K − finished
    seqs = np.zeros((N, K, 0), dtype=np.int64)
    attn = None
    tokens = np.full(N * K, bos, dtype=np.int64)
    candidates: list[list[Hypothesis]] = [[] for _ in range(N)]
    src_len = np.asarray(src_len)
    n_idx = np.arange(N)[:, None]
    for t in range(max_len):
        logits, state, w = net.step(tokens, state, memory)
        lp = log_softmax(logits)                              # (N·K, V)
        lp[:, list(banned)] = -np.inf
        V = lp.shape[1]
        cand = (scores[:, :, None] + lp.reshape(N, K, V)).reshape(N, K * V)   # dead slots stay −inf
        top = np.argsort(-cand, axis=1, kind="stable")[:, :K]  # (N, K) best first, ties → lower index
        top_score = np.take_along_axis(cand, top, axis=1)
        parent, token = top // V, top % V
        chosen = (np.arange(K)[None, :] < width[:, None]) & np.isfinite(top_score)
        is_eos = chosen & (token == eos)
        seqs = np.concatenate([seqs[n_idx, parent], token[:, :, None]], axis=2)      # (N, K, t+1)
        if w is not None:
            w = w.reshape(N, K, -1)[n_idx, parent][:, :, None, :]                     # (N, K, 1, Ts)
            attn = w if attn is None else np.concatenate([attn[n_idx, parent], w], axis=2)
        for n, k in zip(*np.nonzero(is_eos)):
            candidates[n].append(_hyp(seqs[n, k], top_score[n, k], alpha, True,
                                      None if attn is None else attn[n, k, :, :int(src_len[n])].copy()))
        live = chosen & ~is_eos
        width = width - is_eos.sum(axis=1)                     # K − finished, not the live count: a beam wider
                                                               # than the first step's choices must widen later
        order = np.argsort(~live, axis=1, kind="stable")       # live ones first, rank order kept
        live = np.take_along_axis(live, order, axis=1)
        scores = np.where(live, np.take_along_axis(top_score, order, axis=1), -np.inf)
        parent, token = np.take_along_axis(parent, order, axis=1), np.take_along_axis(token, order, axis=1)
        seqs = seqs[n_idx, order]
        if attn is not None:
            attn = attn[n_idx, order]
        if not live.any():
            break
        prev = (np.arange(N)[:, None] * K + parent).reshape(-1)   # the row each new slot continues
        state = tuple(s[:, prev] for s in state)
        tokens = token.reshape(-1)
    else:
        for n, k in zip(*np.nonzero(np.isfinite(scores))):  # out of steps: live hypotheses are candidates too
            candidates[n].append(_hyp(seqs[n, k], scores[n, k], alpha, False,
                                      None if attn is None else attn[n, k, :, :int(src_len[n])].copy()))
    if keep_greedy and K > 1:
        for n, g in enumerate(greedy_search(net, src, src_len, bos=bos, eos=eos, max_len=max_len, alpha=alpha,
                                               banned=banned)):
            candidates[n].append(g)
    # max() keeps the first of equal scores: beam results come before the greedy guard.
    return [max(c, key=lambda h: h.score) for c in candidates]
