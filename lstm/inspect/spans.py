"""Select and match (Strobelt et al. 2018, "LSTMVis", §5): pick a span of text, list the units that are on
throughout it, then find other spans where those same units are on.

    on[t, u]      = h[t, u] ≥ θ                                  (T, H) binarised activations
    select(a, b)  = { u : on[t, u] for every t in [a, b) }       units on over the whole span, strongest first
    match(U)      = maximal runs of steps where every u ∈ U is on (at least ``min_share`` of U),
                    ranked by closeness of length to the query, then by mean activation of U over the run

The HTML report runs the same two functions in JavaScript (``lstm/viz/report_assets.py``); the browser test checks that
both give the same answer.
"""

from __future__ import annotations

import numpy as np


def _check_span(T: int, start: int, end: int) -> None:
    if not (0 <= start < end <= T):
        raise ValueError(f"span must satisfy 0 <= start < end <= T={T}, got [{start}, {end})")


def _check_values(h, threshold: float) -> np.ndarray:
    """``h`` as (T, H) doubles, or a one-line ValueError; ``threshold`` must be a number to compare with."""
    h = np.asarray(h, dtype=np.float64)        # compare as the report's JavaScript does (doubles)
    if h.ndim != 2:
        raise ValueError(f"h must be (T, H): one layer's values of one kind, e.g. trace.values['h'][0]; "
                         f"got shape {h.shape}")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold}")
    return h


def select_units(h: np.ndarray, start: int, end: int, threshold: float = 0.3) -> list[int]:
    """Units whose value is ≥ ``threshold`` at every step of [start, end), by decreasing mean over the span.

    ``h`` is (T, H): one layer's hidden states (or any trace kind).
    """
    h = _check_values(h, threshold)
    _check_span(h.shape[0], start, end)
    span = h[start:end]                                              # (L, H)
    on = (span >= threshold).all(axis=0)                             # (H,)
    units = np.flatnonzero(on)
    order = np.argsort(-span[:, units].mean(axis=0), kind="stable")
    return [int(u) for u in units[order]]


def match_spans(h: np.ndarray, units, threshold: float = 0.3, query: tuple | None = None, min_share: float = 1.0,
                top: int = 10) -> list[dict]:
    """Maximal runs of steps where at least ``min_share`` of ``units`` are ≥ ``threshold``.

    Ranked by |run length − query length| (when ``query`` = (start, end) is given; that span itself is left out),
    then by the units' mean value over the run.  Returns [{"start", "end", "score"}] (end exclusive).
    """
    h = _check_values(h, threshold)
    units = [int(u) for u in units]
    bad = [u for u in units if not 0 <= u < h.shape[1]]
    if bad:
        raise ValueError(f"units must be in [0, {h.shape[1] - 1}] (h has {h.shape[1]}), got {bad}")
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1] (the fraction of units that must be on), got {min_share}")
    if query is not None:
        _check_span(h.shape[0], *query)
    if not units:
        return []
    need = max(1, int(np.ceil(min_share * len(units) - 1e-9)))
    ok = (h[:, units] >= threshold).sum(axis=1) >= need              # (T,)
    runs, t, T = [], 0, len(ok)
    while t < T:
        if ok[t]:
            s = t
            while t < T and ok[t]:
                t += 1
            runs.append((s, t))
        else:
            t += 1
    qlen = None if query is None else query[1] - query[0]
    out = []
    for s, e in runs:
        if query is not None and s <= query[0] and e >= query[1]:
            continue                                                 # the selection's own run
        score = float(h[s:e, units].mean())
        out.append({"start": s, "end": e, "score": score, "dist": 0 if qlen is None else abs((e - s) - qlen)})
    out.sort(key=lambda r: (r["dist"], -r["score"], r["start"]))
    return [{"start": r["start"], "end": r["end"], "score": r["score"]} for r in out[:top]]
