"""Attention heatmaps: which source tokens each output token looked at, as a PNG or a self-contained HTML page.

``plot_attention(weights, source, target, path)`` draws ``weights`` (Tt, Ts) — row t is the softmax the decoder
used when it produced target token t, over the source tokens — as a grid with the source along the x axis and the
output along the y axis (matplotlib, imported on use; written atomically).  ``attention_html(...)`` gives the same
grid as an HTML page (no script, no network; hover a cell for its exact weight).  ``Seq2Seq.attention_trace(text)``
returns exactly the weights and the two token lists.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

__all__ = ["plot_attention", "attention_html", "write_attention_html"]


def _shown(token: str) -> str:
    return {" ": "␣", "\t": "→", "\n": "⏎"}.get(token, token)


def _check(weights, source_tokens, target_tokens) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape != (len(target_tokens), len(source_tokens)):
        raise ValueError(f"weights must have shape (target tokens, source tokens) = "
                         f"({len(target_tokens)}, {len(source_tokens)}), got {weights.shape}")
    bad = int(np.count_nonzero(~np.isfinite(weights)))
    if bad:
        raise ValueError(f"weights must be finite (softmax rows in [0, 1]), got {bad} NaN/inf value(s)")
    return weights


def plot_attention(weights, source_tokens, target_tokens, path, title: str = "") -> Path:
    """Write the heatmap PNG to ``path`` and return the path."""
    weights = _check(weights, source_tokens, target_tokens)
    if weights.size == 0:
        raise ValueError(f"a heatmap needs at least one source and one target token, got weights of shape "
                         f"{weights.shape}; use attention_html for an empty table")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("attention heatmaps need matplotlib: pip install 'lstm[viz]' (or pip install matplotlib)"
                          ) from None

    from ..io.safefile import write_atomic

    Tt, Ts = weights.shape
    fig = Figure(figsize=(min(2 + 0.32 * Ts, 30), min(1.5 + 0.32 * Tt, 30)))     # no pyplot: no backend switched
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    im = ax.imshow(weights, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(Ts))
    ax.set_xticklabels([_shown(t) for t in source_tokens], rotation=90 if max(map(len, source_tokens)) > 2 else 0)
    ax.set_yticks(range(Tt))
    ax.set_yticklabels([_shown(t) for t in target_tokens])
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02, label="attention weight")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    path = Path(path)
    write_atomic(path, buf.getvalue())
    return path


def attention_html(weights, source_tokens, target_tokens, title: str = "") -> str:
    """The heatmap as one self-contained HTML page: a table, each cell shaded by its weight (white 0 → blue 1)."""
    import html

    weights = _check(weights, source_tokens, target_tokens)
    esc = lambda t: html.escape(_shown(t))  # noqa: E731

    def cell(w: float) -> str:
        r, g, b = (int(round(255 + (c - 255) * w)) for c in (8, 48, 107))      # white → dark blue
        ink = "#fff" if w > 0.55 else "#000"
        return (f'<td title="{w:.6f}" style="background:rgb({r},{g},{b});color:{ink}">'
                f'{"" if w < 0.005 else f"{w:.2f}"}</td>')

    head = "".join(f"<th>{esc(t)}</th>" for t in source_tokens)
    rows = "".join(f"<tr><th>{esc(t)}</th>{''.join(cell(w) for w in row)}</tr>"
                   for t, row in zip(target_tokens, weights))
    title = html.escape(title or "Attention")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>'
            "body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ddd;min-width:2.2em;height:1.8em;text-align:center;font-size:12px}"
            "th{background:#f6f6f6;font-family:monospace;font-size:14px}</style></head><body>"
            f"<h1>{title}</h1><p>Row: an output token. Columns: the source tokens. Each row is the softmax the "
            "decoder used for that output (sums to 1); hover a cell for its exact value.</p>"
            f"<table><tr><th></th>{head}</tr>{rows}</table></body></html>")


def write_attention_html(path, weights, source_tokens, target_tokens, title: str = "") -> Path:
    """Write :func:`attention_html` to ``path`` atomically and return the path."""
    from ..io.safefile import write_atomic

    path = Path(path)
    write_atomic(path, attention_html(weights, source_tokens, target_tokens, title).encode("utf-8"))
    return path
