"""Top-activating contexts: where in the text a unit is most strongly on (or off), with the text around it.

For a unit's values v (T,), pick the k steps with the largest v (or smallest, ``sign=-1``), never two within
``min_gap`` steps of each other (a greedy non-maximum suppression, so one long run counts once), and cut
``before`` tokens of left context and ``after`` of right context around each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Context:
    step: int
    value: float
    before: str
    token: str
    after: str

    def as_dict(self) -> dict:
        return {"step": self.step, "value": self.value, "before": self.before, "token": self.token,
                "after": self.after}


def top_steps(values: np.ndarray, k: int = 5, min_gap: int = 10, sign: int = 1) -> list[int]:
    """Indices of up to k peaks of ``sign · values``, pairwise at least ``min_gap`` apart, best first."""
    v = np.asarray(values, dtype=np.float64).ravel() * (1 if sign >= 0 else -1)
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    chosen: list[int] = []
    for t in np.argsort(-v, kind="stable"):
        if all(abs(int(t) - c) >= min_gap for c in chosen):
            chosen.append(int(t))
            if len(chosen) == k:
                break
    return chosen


def top_contexts(values: np.ndarray, tokens, k: int = 5, before: int = 30, after: int = 10, min_gap: int | None = None,
                 sign: int = 1) -> list[Context]:
    """The k most activating steps of ``values`` (T,) with their surrounding text."""
    tokens = list(tokens)
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"values must be one unit's series (T,), e.g. trace.unit(0, 'h', 3); got shape {values.shape}")
    if before < 0 or after < 0:
        raise ValueError(f"before and after must be >= 0 (tokens of context), got before={before}, after={after}")
    if len(tokens) != len(values):
        raise ValueError(f"values and tokens must have the same length, got {len(values)} and {len(tokens)}")
    gap = max(1, after) if min_gap is None else min_gap
    out = []
    for t in top_steps(values, k, gap, sign):
        out.append(Context(step=t, value=float(values[t]), before="".join(tokens[max(0, t - before):t]),
                           token=tokens[t], after="".join(tokens[t + 1:t + 1 + after])))
    return out
