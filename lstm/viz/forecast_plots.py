"""PNG plots of forecasts and backtests (matplotlib, imported on use; no global backend is switched).

- :func:`plot_forecast`: the history, the point forecast and the quantile band (e.g. 0.1–0.9).
- :func:`plot_backtest`: the series with every window's forecasts (top) and each model's error per window (bottom);
  its legends sit outside the panels, on the right, so they never hide a line or a bar.

Figures are drawn on an Agg canvas and written atomically (temporary file + rename); each function returns the path.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

COLOURS = {"lstm": "#d62728", "naive": "#7f7f7f", "seasonal_naive": "#1f77b4", "drift": "#2ca02c"}


def _figure(width: float, height: float, rows: int = 1, ratios=None):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("forecast plots need matplotlib: pip install 'lstm[viz]' (or pip install matplotlib)") \
            from None
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, gridspec_kw={"height_ratios": ratios} if ratios else None)
    return fig, np.atleast_1d(axes)


def _save(fig, path) -> Path:
    from ..io.safefile import write_atomic

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"plots are written as PNG: give a path ending in .png, got {path}")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    write_atomic(path, buf.getvalue())
    return path


def _ticks(ax, labels: list[str], n_max: int = 10, start: int = 0) -> None:
    """Label about ``n_max`` evenly spaced positions from ``start`` on with their time labels."""
    if len(labels) <= start:
        return
    step = max(1, int(np.ceil((len(labels) - start) / n_max)))
    pos = list(range(start, len(labels), step))
    ax.set_xticks(pos)
    ax.set_xticklabels([labels[p] for p in pos], rotation=30, ha="right", fontsize=8)


def plot_forecast(path, history, forecast, *, lower=None, upper=None, labels=None, interval: str = "",
                  title: str = "", ylabel: str = "", show_last: int | None = None) -> Path:
    """History (n,) then the forecast (h,) with an optional band [lower, upper] (h,) each.

    ``labels``: n + h time labels for the x axis; ``show_last``: draw only the last k history points.
    """
    history = np.asarray(history, dtype=np.float64)
    forecast = np.asarray(forecast, dtype=np.float64)
    if history.ndim != 1 or history.size == 0 or forecast.ndim != 1:
        raise ValueError(f"history must be a non-empty series (n,) and forecast a series (h,), got shapes "
                         f"{history.shape} and {forecast.shape}")
    n, h = len(history), len(forecast)
    if (lower is None) != (upper is None):
        raise ValueError("give both lower and upper for an interval band, or neither")
    if lower is not None and not (np.shape(lower) == np.shape(upper) == (h,)):
        raise ValueError(f"lower and upper must each hold one value per forecast step, shape ({h},), got "
                         f"{np.shape(lower)} and {np.shape(upper)}")
    if labels is not None and len(labels) != n + h:
        raise ValueError(f"labels must hold n + h = {n} + {h} = {n + h} time labels (history, then forecast), "
                         f"got {len(labels)}")
    if show_last is not None and int(show_last) < 1:
        raise ValueError(f"show_last must be a positive number of history points, got {show_last}")
    start = 0 if show_last is None else max(0, n - int(show_last))
    fig, (ax,) = _figure(9, 4)
    t_hist = np.arange(start, n)
    t_fut = np.arange(n, n + h)
    ax.plot(t_hist, history[start:], color="black", lw=1.3, label="history")
    ax.plot(np.r_[n - 1, t_fut], np.r_[history[-1], forecast], color=COLOURS["lstm"], lw=1.6, label="forecast")
    if lower is not None and upper is not None:
        ax.fill_between(t_fut, np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64),
                        color=COLOURS["lstm"], alpha=0.2, lw=0, label=f"interval {interval}".strip())
    ax.axvline(n - 0.5, color="grey", lw=0.8, ls=":")
    if labels is not None:
        _ticks(ax, list(labels), 10, start)
    ax.set_xlim(start - 0.5, n + h - 0.5)
    ax.set_title(title or f"{h}-step forecast")
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_backtest(path, y, result, *, labels=None, metric: str = "mase", title: str = "",
                  ylabel: str = "") -> Path:
    """The series with every window's forecasts (model solid with its band, baselines dashed) and a bar chart of
    ``metric`` per window and model.  ``result`` is a :class:`lstm.forecast.BacktestResult`."""
    return _save(backtest_figure(y, result, labels=labels, metric=metric, title=title, ylabel=ylabel), path)


def backtest_figure(y, result, *, labels=None, metric: str = "mase", title: str = "", ylabel: str = ""):
    """The matplotlib Figure that :func:`plot_backtest` writes (laid out, not saved)."""
    y = np.asarray(y, dtype=np.float64)
    h = result.horizon
    first = result.cutoffs[0]
    start = max(0, first - 3 * h)
    fig, (ax, bx) = _figure(11, 6.5, rows=2, ratios=[2.2, 1])
    ax.plot(np.arange(start, len(y)), y[start:], color="black", lw=1.2, label="actual")
    for w, c in enumerate(result.cutoffs):
        t = np.arange(c, c + h)
        for name, preds in result.forecasts.items():
            is_model = name == result.model_name
            if not is_model and name != "seasonal_naive":
                continue                                   # keep the top panel readable
            ax.plot(t, preds[w], color=COLOURS.get(name, "purple"), lw=1.5 if is_model else 1.0,
                    ls="-" if is_model else "--", label=name.replace("_", " ") if w == 0 else None)
        if result.interval is not None:
            lo, hi, j_lo, j_hi = result.interval
            q = result.quantiles[w]
            ax.fill_between(t, q[:, j_lo], q[:, j_hi], color=COLOURS["lstm"], alpha=0.15, lw=0,
                            label=f"{lo:g}–{hi:g} interval" if w == 0 else None)
        ax.axvline(c - 0.5, color="grey", lw=0.6, ls=":")
    if labels is not None:
        labels = list(labels)
        pos = [c for c in result.cutoffs]
        ax.set_xticks(pos)
        ax.set_xticklabels([labels[p] for p in pos], rotation=30, ha="right", fontsize=8)
    ax.set_title(title or f"rolling-origin backtest: {len(result.cutoffs)} windows of {h} steps")
    ax.set_ylabel(ylabel)
    ax.legend(**_BESIDE)
    ax.grid(alpha=0.3)
    names = list(result.window_metrics)
    W = len(result.cutoffs)
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        vals = [row[metric] for row in result.window_metrics[name]]
        bx.bar(np.arange(W) + (k - (len(names) - 1) / 2) * width, vals, width, color=COLOURS.get(name, "purple"),
               label=name.replace("_", " "))
    bx.set_xticks(np.arange(W))
    bx.set_xticklabels([f"window {w + 1}" + (f"\n{labels[c]}" if labels is not None else "")
                        for w, c in enumerate(result.cutoffs)], fontsize=8)
    bx.set_ylabel(metric.upper())
    bx.legend(**_BESIDE)
    bx.grid(alpha=0.3, axis="y")
    fig.tight_layout()                                     # makes room for the legends beside the panels
    return fig


_BESIDE = dict(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8, frameon=False)
