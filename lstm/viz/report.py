"""The self-contained HTML report of a model reading a text: one file, no network, opens from disk.

What the page shows (all from the layer's trace; see :mod:`lstm.inspect`):

- the text, each token coloured by the chosen unit (:mod:`lstm.viz.colours`); hovering shows the exact float32;
- a unit picker: layer, kind (i, f, g, o, c, h) and unit number, plus the unit's value over time;
- top-activating contexts of the unit (most positive and most negative);
- select/match (LSTMVis): drag across a span → the units ≥ θ throughout it → other spans where they are on;
- gate saturation per layer (Karpathy et al. 2015): a table and a scatter per gate (click a dot to pick a unit);
- interpretable units, when features are given (e.g. inside-a-string for Python source), with their r.

Data travels as JSON inside the page, gate values as base64 float32 (layers × T × H per kind).
"""

from __future__ import annotations

import base64
import html
import json
import math

import numpy as np

from ..inspect.saturation import saturation, saturation_table
from .report_assets import CSS, JS

RANGES = {"i": (0, 1), "f": (0, 1), "o": (0, 1), "r": (0, 1), "z": (0, 1), "g": (-1, 1), "h": (-1, 1), "n": (-1, 1)}


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def _json_safe(v):
    """A meta value as the page's JSON can carry it: str, int, bool, None and finite floats as they are, anything
    else (a path, a NumPy scalar, NaN) as its text (JSON has no NaN: the page's JSON.parse would fail)."""
    if v is None or isinstance(v, (str, bool, int)) or (isinstance(v, float) and math.isfinite(v)):
        return v
    return str(v)


def report_data(trace, *, title: str = "", meta: dict | None = None, features: list | None = None,
                initial: dict | None = None, threshold: float = 0.3, context: tuple = (5, 30, 10)) -> dict:
    """The JSON the page's script reads (also handy for tests)."""
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number (the page's data is JSON), got {threshold}")
    values = trace.values
    kinds = [k for k in ("i", "f", "g", "o", "c", "h", "r", "z", "n") if k in values]
    L, T, H = values[kinds[0]].shape
    if len(trace.tokens) != T:
        raise ValueError(f"the trace must hold one token per step, got {len(trace.tokens)} tokens for {T} steps")
    if initial is None:
        initial = {"layer": 0, "kind": "c" if "c" in values else "h", "unit": 0}
    if not isinstance(initial, dict) or set(initial) != {"layer", "kind", "unit"}:
        raise ValueError(f"initial must be a dict with keys layer, kind and unit, e.g. {{'layer': 0, 'kind': 'h', "
                         f"'unit': 3}}; got {initial!r}")
    trace.unit(initial["layer"], initial["kind"], initial["unit"])      # a one-line error when it is not in the trace
    initial = {"layer": int(initial["layer"]), "kind": str(initial["kind"]), "unit": int(initial["unit"])}
    k, before, after = context
    if not (isinstance(k, int) and k >= 1 and isinstance(before, int) and before >= 0 and isinstance(after, int)
            and after >= 0):
        raise ValueError(f"context must be (k >= 1, before >= 0, after >= 0) integers, got {context!r}")
    sat = None
    if all(g in values for g in ("i", "f", "o")):
        s = saturation(values)
        sat = {"table": saturation_table(s),
               "units": {g: {"left": d["left"].round(4).tolist(), "right": d["right"].round(4).tolist()}
                         for g, d in s.items()}}
    meta = {str(mk): _json_safe(mv) for mk, mv in (meta or {}).items()}
    return {"title": title, "meta": meta, "tokens": list(trace.tokens), "steps": T, "hidden": H, "layers": L,
            "kinds": kinds, "widths": {kk: int(values[kk].shape[2]) for kk in kinds},
            "values": {kk: _b64(values[kk]) for kk in kinds}, "ranges": RANGES,
            "initial": initial, "threshold": threshold, "saturation": sat, "features": features or [],
            "contexts": {"k": k, "before": before, "after": after}}


def render_html(data: dict) -> str:
    """The page: markup, the inlined CSS and script, and ``data`` as JSON."""
    # no "<" at all inside the script element: neither "</script>" nor "<!--<script>" (from a file name, a token)
    # can end it early or keep it open past its end
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    meta = " · ".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in data["meta"].items())
    title = html.escape(data["title"] or "LSTM gates")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{CSS}</style></head>
<body>
<header><h1>{title}</h1><div class="meta">{meta}</div></header>
<main>
<div>
<section><h2>Text coloured by one unit</h2>
<div class="controls">
  <label>layer <select id="layer"></select></label>
  <span class="kinds" id="kinds"></span>
  <label>unit <button class="small" id="prev">−</button> <input type="number" id="unit" min="0" value="0">
    <button class="small" id="next">+</button></label>
  <span class="muted">colour: <span class="legend" style="background:linear-gradient(90deg,#b2182b,#fff,#2166ac)"></span>
  negative · 0 · positive</span>
</div>
<p><b id="unit-label"></b></p>
<div id="text"></div>
<svg id="spark" viewBox="0 0 1000 90" preserveAspectRatio="none"></svg>
<div class="muted">the unit over all steps; hover a character for its exact value; drag across characters to select a span</div>
</section>
<section><h2>Top-activating contexts</h2><div id="contexts" class="list"></div></section>
</div>
<div>
<section><h2>Select → units on → match</h2>
<div class="controls"><label>on if ≥ <input type="number" id="threshold" step="0.05" value="{data['threshold']}"></label>
<label>match share <input type="number" id="share" step="0.1" min="0.1" max="1" value="1"></label>
<button class="small" id="match">find other spans</button></div>
<p id="sel-info" class="muted"></p><div id="sel-units" class="list"></div><div id="matches" class="list"></div></section>
<section><h2>Interpretable units</h2><table id="features"></table>
<div class="muted">Pearson r between the unit and the feature over the whole text; click a row to show the unit</div></section>
<section><h2>Gate saturation</h2><table id="sat-table"></table><div id="sat-plots"></div>
<div class="muted">fraction of steps each gate is &lt; 0.1 or &gt; 0.9 (Karpathy, Johnson &amp; Fei-Fei 2015); click a dot</div></section>
</div>
</main>
<div id="tooltip"></div>
<script id="lstm-data" type="application/json">{payload}</script>
<script>{JS}</script>
</body></html>
"""


def write_report(path, trace, **kwargs):
    """Build the page for ``trace`` (a :class:`lstm.inspect.traces.TextTrace`) and write it atomically."""
    from pathlib import Path

    from ..io.safefile import write_atomic

    path = Path(path)
    write_atomic(path, render_html(report_data(trace, **kwargs)).encode("utf-8"))
    return path
