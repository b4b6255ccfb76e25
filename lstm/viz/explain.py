"""``lstm explain``: trace a language model on a text, find what its units do, write the report and figures.

    ex = explain(model, text, out="report.html", png="figures/")
    ex.features      # [{"feature": "in_string", "layer": 0, "kind": "c", "unit": 17, "r": 0.83}, ...]
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..inspect.contexts import top_contexts
from ..inspect.features import feature_units, python_features
from ..inspect.saturation import saturation, saturation_table
from ..inspect.traces import TextTrace, trace_text


# The structure Karpathy et al. (2015) found cells for; shown first when one of them is tracked.
CLASSIC = ("in_string", "indent", "bracket_depth")


@dataclass
class Explanation:
    trace: TextTrace
    saturation: list                 # rows per (layer, gate), see lstm.inspect.saturation.saturation_table
    features: list                   # interpretable units, best |r| first per feature
    initial: dict                    # the unit shown first: {"layer", "kind", "unit"}
    report: Path | None = None
    pngs: list = field(default_factory=list)


MIN_PYTHON_CHARS = 40          # below this, a correlation over the steps says nothing (r = ±1 from a few points)


def looks_like_python(text: str) -> bool:
    """True when ``text`` is Python source worth correlating units with: at least MIN_PYTHON_CHARS characters that
    parse as Python (a snippet cut mid-way is tried line by line from the top) with some structure — not only bare
    names and constants, which any word or number is."""
    if len(text.strip()) < MIN_PYTHON_CHARS:
        return False
    lines = text.splitlines()
    for cut in (len(lines), len(lines) - 1, len(lines) // 2):
        if cut <= 0:
            break
        try:
            tree = ast.parse("\n".join(lines[:cut]))
        except (SyntaxError, ValueError):
            continue
        return any(not (isinstance(s, ast.Expr) and isinstance(s.value, (ast.Name, ast.Constant))) for s in tree.body)
    return False


def parse_unit(spec: str, trace: TextTrace) -> dict:
    """'LAYER:KIND:UNIT' (e.g. 0:c:17) → {"layer", "kind", "unit"}, checked against the trace."""
    parts = spec.split(":")
    if len(parts) != 3:
        raise ValueError(f"--unit must look like LAYER:KIND:UNIT, e.g. 0:c:17; got {spec!r}")
    try:
        layer, kind, unit = int(parts[0]), parts[1], int(parts[2])
    except ValueError:
        raise ValueError(f"--unit must look like LAYER:KIND:UNIT with integer layer and unit, got {spec!r}") from None
    trace.unit(layer, kind, unit)          # raises a one-line ValueError when out of range
    return {"layer": layer, "kind": kind, "unit": unit}


def explain(model, text: str, *, out=None, png=None, max_tokens: int = 1000, features: str = "auto",
            unit: str | None = None, threshold: float = 0.3, title: str = "", meta: dict | None = None,
            top: int = 3) -> Explanation:
    """Trace ``model`` on ``text``; compute saturation and (for Python source read by a character model) feature
    correlations; write the HTML report to ``out`` and PNG figures into the folder ``png`` when given."""
    if features not in ("auto", "python", "none"):
        raise ValueError(f"features must be 'auto', 'python' or 'none', got {features!r}")
    if png is not None:                      # before writing anything: matplotlib present, the folder not a file
        from . import figures

        figures.pyplot()
        figures.check_dir(png)
    per_char = getattr(getattr(model, "vocab_", None), "level", "char") == "char"
    if features == "python" and not per_char:
        raise ValueError("features='python' marks Python structure per character; a word-level model's tokens are "
                         "words: use features='none'")
    tt = trace_text(model, text, max_tokens=max_tokens)
    sat_rows = saturation_table(saturation(tt)) if all(g in tt.values for g in "ifo") else []
    rows: list = []
    if features == "python" or (features == "auto" and per_char and looks_like_python(tt.text)):
        rows = feature_units(tt, python_features(tt.text), top=top)
    classic = [r for r in rows if r["feature"] in CLASSIC]
    if unit is not None:
        initial = parse_unit(unit, tt)
    elif rows:
        best = max(classic or rows, key=lambda r: abs(r["r"]))
        initial = {k: best[k] for k in ("layer", "kind", "unit")}
    else:
        kind = "c" if "c" in tt.values else "h"
        a = tt.values[kind][-1]                                        # (T, H) last layer
        initial = {"layer": tt.num_layers - 1, "kind": kind, "unit": int(np.argmax(a.std(axis=0)))}
    meta = dict(meta or {})
    meta.update({"layers": tt.num_layers, "hidden": tt.hidden_size, "tokens shown": tt.steps})
    ex = Explanation(trace=tt, saturation=sat_rows, features=rows, initial=initial)
    if out is not None:
        from .report import write_report

        ex.report = write_report(out, tt, title=title or "What the LSTM's units do", meta=meta, features=rows,
                                 initial=initial, threshold=threshold)
    if png is not None:
        ex.pngs = write_pngs(ex, png)
    return ex


def write_pngs(ex: Explanation, folder) -> list:
    """The report's figures as PNG: text coloured by the first unit and by each feature's best unit, that unit's
    top contexts, and gate saturation."""
    from . import figures

    folder = figures.ensure_dir(folder)
    tt, paths = ex.trace, []
    best: dict = {}                                   # feature -> its best row (rows come best first per feature)
    for r in ex.features:
        best.setdefault(r["feature"], r)
    shown = [ex.initial] + [{k: r[k] for k in ("layer", "kind", "unit")} for r in best.values()]
    seen = set()
    for u in shown:
        key = (u["layer"], u["kind"], u["unit"])
        if key in seen:
            continue
        seen.add(key)
        v = tt.unit(*key)
        mine = [r for r in ex.features if (r["layer"], r["kind"], r["unit"]) == key]
        top = max(mine, key=lambda r: abs(r["r"]), default=None)
        what = f" — {top['feature']} r = {top['r']:+.2f}" if top else ""
        name = f"L{key[0]}_{key[1]}{key[2]}"
        paths.append(figures.text_heatmap(tt.tokens, v, folder / f"unit_{name}.png", kind=key[1],
                                          title=f"layer {key[0]} {key[1]}[{key[2]}]{what}"))
    key = (ex.initial["layer"], ex.initial["kind"], ex.initial["unit"])
    v = tt.unit(*key)
    per_char = all(len(tok) <= 1 for tok in tt.tokens)
    ctx = top_contexts(v, tt.tokens, k=5, before=30 if per_char else 8, after=10 if per_char else 3)   # tokens
    paths.append(figures.contexts_figure(tt.tokens, v, ctx, folder / f"contexts_L{key[0]}_{key[1]}{key[2]}.png",
                                         kind=key[1], title=f"top contexts of layer {key[0]} {key[1]}[{key[2]}]"))
    if ex.saturation:
        paths.append(figures.saturation_figure(saturation(tt), folder / "saturation.png"))
    return paths
