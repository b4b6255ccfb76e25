"""Interpretable features of Python source, per character, and the units that track them.

Karpathy, Johnson & Fei-Fei (2015) found LSTM cells in a character model of Linux C source that turn on inside
quotes, count indentation or track bracket nesting.  Here the features are computed by a small scanner of
Python's lexical structure, as the state *after* reading each character (what a unit could know at that step):

    in_string[t]      1 inside a string literal ('…', "…", '''…''', \"\"\"…\"\"\"), opening quote included,
                      closing quote excluded
    in_comment[t]     1 from '#' to the end of the line (outside strings)
    bracket_depth[t]  open ( [ { minus closed, outside strings and comments (≥ 0)
    indent[t]         leading spaces of the current line (counted so far while still in the leading whitespace)
    column[t]         characters since the last newline

A unit tracks a feature when its activation over the text correlates with it: Pearson r over all steps,
    r = Σ (a_t − ā)(x_t − x̄) / √(Σ (a_t − ā)² Σ (x_t − x̄)²)
(for the 0/1 features this is the point-biserial correlation).
"""

from __future__ import annotations

import numpy as np

FEATURES = ("in_string", "in_comment", "bracket_depth", "indent", "column")


def python_features(text: str) -> dict:
    """{feature: (T,) float array} for each character of ``text`` (any text; unterminated strings run to the end)."""
    T = len(text)
    out = {name: np.zeros(T, dtype=np.float64) for name in FEATURES}
    quote = None             # the closing delimiter of the current string ('"', "'", '\"\"\"', "'''"), or None
    comment = False
    depth = 0
    indent, leading, col = 0, True, 0
    t = 0
    while t < T:
        ch = text[t]
        width = 1                                  # characters consumed at this step (3 for a triple quote)
        if ch == "\n":
            comment, leading, indent, col = False, True, 0, 0
            if quote is not None and len(quote) == 1:
                quote = None                       # an unterminated one-line string ends at the newline
        else:
            col += 1
            if leading:
                if ch == " ":
                    indent += 1
                elif ch == "\t":
                    indent += 4
                else:
                    leading = False
            if quote is not None:
                if ch == "\\" and t + 1 < T and text[t + 1] != "\n":
                    width = 2                      # an escape: the next character cannot close the string
                elif text.startswith(quote, t):
                    width = len(quote)
                    quote = None
            elif comment:
                pass
            elif ch == "#":
                comment = True
            elif ch in "\"'":
                quote = ch * 3 if text.startswith(ch * 3, t) else ch
                width = len(quote)
            elif ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth = max(0, depth - 1)
        for k in range(t, min(T, t + width)):
            closing = quote is None and k < t + width - 1 and width > 1 and ch != "\\"
            out["in_string"][k] = 1.0 if (quote is not None or closing) else 0.0
            out["in_comment"][k] = float(comment)
            out["bracket_depth"][k] = depth
            out["indent"][k] = indent
            out["column"][k] = col + (k - t)
        col += width - 1
        t += width
    return out


def correlations(values: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """Pearson r between each unit's series and ``feature``: values (T, H), feature (T,) → (H,) (0 where constant)."""
    a = np.asarray(values, dtype=np.float64)
    x = np.asarray(feature, dtype=np.float64)
    if a.shape[0] != x.shape[0]:
        raise ValueError(f"values and feature must have the same number of steps, got {a.shape[0]} and {x.shape[0]}")
    if x.shape[0] == 0:
        raise ValueError("values and feature need at least one step to correlate, got 0")
    a = a - a.mean(axis=0)
    x = x - x.mean()
    den = np.sqrt((a * a).sum(axis=0) * (x * x).sum())
    num = x @ a
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def feature_units(trace, features: dict, kinds=("c", "h"), top: int = 3) -> list[dict]:
    """For each non-constant feature, the ``top`` units (over layers and ``kinds``) with the largest |r|, best first.

    ``trace`` is a :class:`lstm.inspect.traces.TextTrace` (or its ``values`` dict {k: (layers, T, H)}).
    Returns rows {"feature", "layer", "kind", "unit", "r"}.
    """
    values = trace if isinstance(trace, dict) else trace.values
    if not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be a positive integer (units per feature), got {top!r}")
    rows = []
    for name, x in features.items():
        if np.ptp(x) == 0:
            continue                                     # a constant feature (e.g. no comment in the text)
        cands = []
        for kind in kinds:
            if kind not in values:
                continue
            for layer in range(values[kind].shape[0]):
                r = correlations(values[kind][layer], x)
                for u in np.argsort(-np.abs(r), kind="stable")[:top]:
                    cands.append({"feature": name, "layer": layer, "kind": kind, "unit": int(u), "r": float(r[u])})
        cands.sort(key=lambda c: -abs(c["r"]))
        rows.extend(cands[:top])
    return rows
