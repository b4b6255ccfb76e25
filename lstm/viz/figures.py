"""PNG figures (matplotlib, imported on use): text coloured by a unit, gate saturation, top contexts, the
gradient-versus-lag plot and learning curves.  Every function writes its file atomically and returns the path.

Figures are ``matplotlib.figure.Figure`` objects rendered by the Agg canvas: no pyplot state, no global backend
switch (safe inside notebooks and GUIs)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from ..io.safefile import nearest_existing
from .colours import colour_scale, rgb_array


def pyplot():
    """(Figure, Rectangle, colormaps) from matplotlib, or an ImportError naming the extra to install."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle
    except ImportError:
        raise ImportError("PNG figures need matplotlib: pip install 'lstm[viz]' (or pip install matplotlib)") from None
    return Figure, Rectangle, matplotlib.colormaps


def _save(fig, path) -> Path:
    from ..io.safefile import write_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    path = Path(path)
    write_atomic(path, buf.getvalue())
    return path


def _layout(tokens, width: int) -> list[tuple[int, int, str]]:
    """(row, column, shown text) of each token: newlines break rows (shown as ⏎), long rows wrap at ``width``."""
    cells, row, col = [], 0, 0
    for tok in tokens:
        shown = "⏎" if tok == "\n" else tok.replace("\t", "→")
        if col + len(shown) > width and col > 0:
            row, col = row + 1, 0
        cells.append((row, col, shown))
        col += max(1, len(shown))
        if tok == "\n":
            row, col = row + 1, 0
    return cells


def text_heatmap(tokens, values, path, title: str = "", kind: str = "h", width: int = 100, fontsize: float = 8.5):
    """The text with each token's background coloured by ``values`` (T,) (the report's colour map).

    One image cell per character column (drawn with ``imshow``) and one monospaced string per row, sized so that
    DejaVu Sans Mono's advance (0.602 em) equals a cell: fast for thousands of characters.
    """
    Figure, *_ = pyplot()
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(tokens) != len(values):
        raise ValueError(f"values must be one value per token, shape ({len(tokens)},), got {values.shape}")
    colours = rgb_array(values, colour_scale(kind, values))             # (T, 3)
    cells = _layout(tokens, width)
    rows = (cells[-1][0] + 1) if cells else 1
    cols = max((c + max(1, len(s)) for _, c, s in cells), default=1)
    image = np.ones((rows, cols, 3))
    lines = [[" "] * cols for _ in range(rows)]
    for (r, c, s), col in zip(cells, colours):
        image[r, c:c + max(1, len(s))] = col
        for j, ch in enumerate(s):
            lines[r][c + j] = ch
    cw, rh = 0.602 * fontsize / 72, 1.55 * fontsize / 72                 # inches per column / row
    head = 0.3 if title else 0.05
    fig = Figure(figsize=(cols * cw + 0.1, rows * rh + head + 0.05))
    W, Hh = fig.get_size_inches()
    ax = fig.add_axes([0.05 / W, 0.05 / Hh, cols * cw / W, rows * rh / Hh])
    ax.imshow(image, aspect="auto", interpolation="nearest", extent=(0, cols, rows, 0))
    ax.axis("off")
    for r, chars in enumerate(lines):
        ax.text(0, r + 0.5, "".join(chars), family="DejaVu Sans Mono", fontsize=fontsize, va="center_baseline",
                ha="left", color="#111", parse_math=False)                # '$' is text, not mathtext
    if title:
        fig.text(0.05 / W, 1 - 0.05 / Hh, title, fontsize=10, va="top", ha="left")
    return _save(fig, path)


def _context_steps(tokens, cx) -> range:
    """The steps whose tokens make up ``cx.before``, ``cx.token`` and ``cx.after`` (a word token is many
    characters: the context's text is counted back to tokens)."""
    start, chars = cx.step, 0
    while start > 0 and chars < len(cx.before):
        start -= 1
        chars += len(tokens[start])
    end, chars = cx.step + 1, 0
    while end < len(tokens) and chars < len(cx.after):
        chars += len(tokens[end])
        end += 1
    return range(start, end)


def contexts_figure(tokens, values, contexts, path, title: str = "", kind: str = "h"):
    """Top-activating contexts, one line each: left context, the token (boxed), right context, coloured."""
    Figure, Rectangle, _ = pyplot()
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(tokens) != len(values):
        raise ValueError(f"values must be one value per token, shape ({len(tokens)},), got {values.shape}")
    scale = colour_scale(kind, values)
    n = max(1, len(contexts))
    rows = [[(t, "⏎" if tokens[t] == "\n" else tokens[t]) for t in _context_steps(tokens, cx)] for cx in contexts]
    width = max([60] + [sum(len(s) for _, s in seg) + 16 for seg in rows])   # columns: tokens + the value label
    fig = Figure(figsize=(9 * width / 60, 0.32 * n + 0.6))
    ax = fig.subplots()
    ax.axis("off")
    ax.set_xlim(0, width)
    ax.set_ylim(n, -0.5)
    for row, (cx, seg) in enumerate(zip(contexts, rows)):
        col = 0.0
        for t, s in seg:
            ax.add_patch(Rectangle((col, row - 0.4), len(s), 0.8, color=rgb_array(values[t], scale),
                                   linewidth=1.2 if t == cx.step else 0, ec="black" if t == cx.step else None))
            ax.text(col + 0.05, row + 0.25, s, family="monospace", fontsize=8.5, parse_math=False)
            col += len(s)
        ax.text(col + 1, row + 0.25, f"{cx.value:+.3f} @ {cx.step}", fontsize=8, color="#444")
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    return _save(fig, path)


def saturation_figure(sat: dict, path, title: str = "Gate saturation (Karpathy et al. 2015)", low: float = 0.1,
                      high: float = 0.9):
    """Per gate, each unit's fraction of steps right-saturated (> high) against left-saturated (< low), by layer;
    ``low`` and ``high`` label the axes: give the thresholds ``sat`` was computed with."""
    Figure, _, colormaps = pyplot()
    gates = list(sat)
    if not gates:
        raise ValueError("sat must hold at least one gate, e.g. saturation(trace); got an empty dict")
    fig = Figure(figsize=(3.4 * len(gates), 3.4))
    axes = fig.subplots(1, len(gates), squeeze=False)
    layers = sat[gates[0]]["left"].shape[0]
    colours = colormaps["viridis"](np.linspace(0.1, 0.85, max(layers, 1)))
    for ax, g in zip(axes[0], gates):
        for layer in range(layers):
            ax.scatter(sat[g]["left"][layer], sat[g]["right"][layer], s=10, alpha=0.7, color=colours[layer],
                       label=f"layer {layer}")
        ax.plot([0, 1], [1, 0], color="#bbb", lw=0.8)
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(f"fraction of steps left-saturated (< {low:g})")
        ax.set_ylabel(f"fraction of steps right-saturated (> {high:g})")
        ax.set_title({"i": "input gate", "f": "forget gate", "o": "output gate"}.get(g, g))
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def gradient_figure(study, path):
    """log ‖∂L/∂h_t‖ against lag, per model, at initialisation (dashed) and after training (solid); for a trained
    LSTM also ‖∂L/∂c_t‖ (dotted), the constant error carousel."""
    Figure, *_ = pyplot()
    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    colours = {"rnn": "#b2182b", "lstm": "#2166ac", "gru": "#4d9221"}
    for p in study.profiles:
        norms = np.where(p.norms > 0, p.norms, np.nan)
        ax.semilogy(p.lags, norms, ls="--" if p.label == "initialisation" else "-", color=colours.get(p.model),
                    label=f"{p.model.upper()} {p.label}")
        if p.cell_norms is not None and p.label == "trained":          # lag 0 has no path to c: skip it
            ax.semilogy(p.lags[1:], p.cell_norms[1:], ls=":", color=colours.get(p.model),
                        label=f"{p.model.upper()} {p.label}: ‖∂L/∂c_t‖")
    ax.set_xlabel("lag T − 1 − t (steps back from the loss)")
    ax.set_ylabel("‖∂L/∂h_t‖ (mean over sequences)")
    ax.set_title(f"Vanishing gradients: adding problem, T = {study.length}")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8)
    return _save(fig, path)


def learning_curves(results, path, title: str = ""):
    """Validation metric against training step for each result (a list of TaskResult), with the baseline."""
    Figure, *_ = pyplot()
    if not results:
        raise ValueError("learning_curves needs at least one TaskResult, got none")
    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    colours = {"rnn": "#b2182b", "lstm": "#2166ac", "gru": "#4d9221"}
    metric = results[0].baseline.metric
    for r in results:
        steps = [s for s, _ in r.curve]
        ys = [m[metric] for _, m in r.curve]
        label = f"{r.model.upper()} (test {metric.removeprefix('test_')} {r.metrics[metric]:.4g})"
        ax.plot(steps, ys, color=colours.get(r.model), label=label, marker="o", markersize=3)   # one point shows
    b = results[0].baseline
    ax.axhline(b.value, color="#777", ls=":", label=f"baseline {b.value:.4g}")
    if metric.endswith("mse") or metric.endswith("loss"):
        ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"validation {metric.removeprefix('test_')}")
    ax.set_title(title or f"{results[0].task}: equal budgets")
    ax.grid(True, alpha=0.25)
    ax.legend(fontsize=8)
    return _save(fig, path)


def check_dir(path, option: str = "--png") -> Path:
    """``path`` as a Path, or a one-line ValueError (naming ``option``) when no folder can be made and written
    there: it names a file, lies under one, or its nearest existing folder is not writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} must be a folder, but {path} is a file; give a folder name")
    parent = nearest_existing(path.absolute())
    if not parent.is_dir():
        raise ValueError(f"{option} {path}: {parent} is a file, not a folder; choose another {option}")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{option} {path}: cannot write in {parent}; choose a writable folder")
    return path


def ensure_dir(path) -> Path:
    """The folder ``path``, made (with its parents) when missing."""
    path = check_dir(path)
    os.makedirs(path, exist_ok=True)
    return path
