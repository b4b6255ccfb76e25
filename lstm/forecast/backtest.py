"""Rolling-origin backtests: refit, forecast, score — on several windows, beside the naive baselines.

With n observations, horizon h, N windows and step s (default s = h), window w = 0..N−1 has the cutoff

    c_w = n − h − s·(N − 1 − w)

The model is fitted on y[:c_w] only and forecasts y[c_w : c_w + h]; the last window ends at the last observation.
Every baseline forecasts the same windows from the same history, and every metric (see :mod:`.metrics`) is computed
per window (MASE scaled by that window's own training history) and then averaged over the windows.  With quantile
forecasts, the coverage of the outermost interval (e.g. 0.1–0.9, nominal 80%) is pooled over all windows; it is
the interval of the levels the model was asked for (``quantiles``), not of a median it adds as its point forecast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._english import count
from .._values import whole
from .baselines import BASELINES
from .metrics import coverage, mase_scale, metrics_table

METRICS = ("mae", "rmse", "mape", "smape", "mase")


def rolling_origins(n: int, horizon: int, n_windows: int, step: int | None = None, min_train: int = 1) -> list[int]:
    """Cutoffs c_0 < ... < c_{N−1} (training sizes) of N rolling-origin windows; the last ends at n."""
    for name, v in (("horizon", horizon), ("n_windows", n_windows), ("step", step)):
        if not (whole(v) or (name == "step" and v is None)):
            raise ValueError(f"{name} must be a positive integer, got {v!r}" + (" (or None: the horizon)" if
                                                                                name == "step" else ""))
    h, N = int(horizon), int(n_windows)
    s = h if step is None else int(step)
    cutoffs = [n - h - s * (N - 1 - w) for w in range(N)]
    if cutoffs[0] < min_train:
        most = max(0, (n - h - min_train) // s + 1)
        left = f"only {count(cutoffs[0], 'row')}" if cutoffs[0] > 0 else "no rows"
        fewer = f"use at most {count(most, 'window')} or more data" if most else "use more data or a shorter horizon"
        need, leave = ("needs", "leaves") if N == 1 else ("need", "leave")
        raise ValueError(f"{count(N, 'backtest window')} of horizon {h} (step {s}) {need} {h + s * (N - 1)} of the "
                         f"{n} rows and {leave} {left} to train the first one; it needs at least {min_train}: {fewer}")
    return cutoffs


@dataclass
class BacktestResult:
    """Forecasts and scores of every model on every window (arrays in the series' own units)."""

    cutoffs: list[int]
    horizon: int
    season: int
    actuals: list[np.ndarray]
    forecasts: dict[str, list[np.ndarray]]                  # model name -> one (h,) forecast per window
    window_metrics: dict[str, list[dict]]                   # model name -> one metrics dict per window
    quantile_levels: list[float] | None = None
    quantiles: list[np.ndarray] | None = None               # one (h, Q) array per window (the LSTM's)
    requested_levels: list[float] | None = None             # the levels asked for (None: all of quantile_levels)
    model_name: str = "lstm"
    extra: dict = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        """Mean of each metric over the windows, per model."""
        out = {}
        for name, rows in self.window_metrics.items():
            out[name] = {k: float(np.mean([r[k] for r in rows])) for k in METRICS}
        return out

    @property
    def interval(self) -> tuple[float, float, int, int] | None:
        """(lo, hi, column of lo, column of hi): the outermost requested quantile levels and their columns in
        ``quantiles``; None without quantiles or with fewer than two requested levels."""
        if not self.quantiles or not self.quantile_levels:
            return None
        asked = [q for q in (self.requested_levels or self.quantile_levels) if q in self.quantile_levels]
        if len(asked) < 2:
            return None
        lo, hi = min(asked), max(asked)
        return lo, hi, self.quantile_levels.index(lo), self.quantile_levels.index(hi)

    @property
    def coverage(self) -> dict | None:
        """Empirical coverage of the outermost requested quantile interval, pooled over every window and step."""
        if self.interval is None:
            return None
        lo, hi, j_lo, j_hi = self.interval
        a = np.concatenate(self.actuals)
        q = np.concatenate(self.quantiles)                  # (N·h, Q)
        return {"interval": [lo, hi], "nominal": round(hi - lo, 10), "empirical": coverage(a, q[:, j_lo], q[:, j_hi]),
                "points": int(len(a))}

    def warnings(self) -> list[str]:
        """One line per baseline whose mean MASE beats the model's."""
        m = self.metrics
        ours = m[self.model_name]["mase"]
        out = []
        for name in BASELINES:
            if name in m and m[name]["mase"] < ours:
                out.append(f"warning: the {name.replace('_', ' ')} baseline beats the {self.model_name.upper()} "
                           f"on this backtest (MASE {m[name]['mase']:.3f} vs {ours:.3f}); tune the model or "
                           "prefer the baseline")
        return out

    def to_json(self) -> dict:
        """``{"metrics": {model: {mae, rmse, mape, smape, mase}, ...}}`` (+ ``"coverage"`` with quantiles);
        NaN (e.g. MAPE with a zero actual) becomes null."""
        def clean(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v

        obj = {"metrics": {name: {k: clean(v) for k, v in row.items()} for name, row in self.metrics.items()}}
        cov = self.coverage
        if cov is not None:
            obj["coverage"] = cov
        return obj


def backtest(make_model, y, X=None, *, horizon: int, n_windows: int, season: int = 1, step: int | None = None,
             min_train: int = 1, callback=None, model_name: str = "lstm") -> BacktestResult:
    """Rolling-origin evaluation of ``make_model()`` (a fresh, unfitted forecaster per window) and the baselines.

    The forecaster needs ``fit(y, X=None)`` and ``predict(horizon)``; if it has ``quantiles_`` after fitting, its
    ``predict_quantiles(horizon)`` (h, Q) is kept for the coverage (of the levels in its ``quantiles``, if set).
    ``callback(w, result_so_far)`` runs after each window (for progress lines).  ``season`` is the m of seasonal
    naive and MASE.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D series of shape (n,), got shape {y.shape}")
    if not np.isfinite(y).all():
        k = int(np.flatnonzero(~np.isfinite(y))[0])
        raise ValueError(f"y has a missing or infinite value at index {k}; fill it first (e.g. --fill ffill)")
    Xa = None if X is None else np.asarray(X, dtype=np.float64)
    if Xa is not None and len(Xa) != len(y):
        raise ValueError(f"X must have one row per value of y ({len(y)}), got shape {Xa.shape}")
    if not whole(season):
        raise ValueError(f"season must be a positive integer (1 for no season), got {season!r}")
    if season > 1 and whole(horizon) and len(y) - horizon <= season:
        raise ValueError(f"season m={season} needs more than {season} values before a backtest window (for MASE and "
                         f"the seasonal naive baseline), but {len(y)} rows leave {len(y) - horizon} before the last "
                         f"{count(horizon, 'step')}: use a smaller season or more data")
    cutoffs = rolling_origins(len(y), horizon, n_windows, step, min_train=max(min_train, season + 1))
    names = [model_name] + list(BASELINES)
    res = BacktestResult(cutoffs=cutoffs, horizon=int(horizon), season=int(season), actuals=[],
                         forecasts={k: [] for k in names}, window_metrics={k: [] for k in names},
                         model_name=model_name)
    for w, c in enumerate(cutoffs):
        hist, actual = y[:c], y[c:c + horizon]
        mase_scale(hist, season)                         # refuse a constant training window up front
        model = make_model()
        model.fit(hist, None if Xa is None else Xa[:c])
        if getattr(model, "quantiles_", None):
            q = model.predict_quantiles(horizon)         # (h, Q)
            res.quantile_levels = list(model.quantiles_)
            if getattr(model, "quantiles", None) is not None:
                res.requested_levels = sorted({round(float(v), 10) for v in model.quantiles})
            res.quantiles = (res.quantiles or []) + [q]
            point = q[:, model.quantiles_.index(0.5)] if 0.5 in model.quantiles_ else model.predict(horizon)
        else:
            point = model.predict(horizon)
        res.actuals.append(actual)
        preds = {model_name: np.asarray(point, dtype=np.float64)}
        if preds[model_name].shape != actual.shape:
            raise ValueError(f"the {model_name} forecast for window {w + 1} has shape {preds[model_name].shape}; "
                             f"expected {actual.shape}, one value per step of the horizon")
        if not np.isfinite(preds[model_name]).all():
            k = int(np.flatnonzero(~np.isfinite(preds[model_name]))[0])
            raise ValueError(f"the {model_name} forecast for window {w + 1} is {preds[model_name][k]} at step "
                             f"{k + 1}, not a finite number (did the fit diverge? lower the learning rate or try "
                             "another transform)")
        for name, fn in BASELINES.items():
            preds[name] = fn(hist, horizon, season)
        for name, p in preds.items():
            res.forecasts[name].append(p)
            res.window_metrics[name].append(metrics_table(actual, p, hist, season))
        if callback is not None:
            callback(w, res)
    return res
