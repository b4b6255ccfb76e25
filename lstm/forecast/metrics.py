"""Point-forecast accuracy metrics and interval coverage.

With actuals y_t and forecasts ŷ_t over the h forecast steps, e_t = y_t − ŷ_t::

    MAE   = mean |e_t|
    RMSE  = sqrt(mean e_t²)
    MAPE  = 100 · mean |e_t / y_t|                      (undefined — NaN — if any y_t = 0)
    sMAPE = 100 · mean 2|e_t| / (|y_t| + |ŷ_t|)          (terms with y_t = ŷ_t = 0 count as 0)
    MASE  = MAE / mean_{t>m} |y_t − y_{t−m}|            denominator over the *training* series (Hyndman & Koehler
                                                         2006): below 1 = better than the in-sample seasonal naive

MASE needs a training series that is not constant at lag m; otherwise its scale is 0 and it is undefined, which is
reported as an error rather than a silent infinity.  A missing or infinite actual, forecast or training value is
refused (it would make every metric NaN or infinite without saying why).
"""

from __future__ import annotations

import numpy as np

from .._values import whole


def _finite(v: np.ndarray, what: str, verb: str = "have") -> np.ndarray:
    if not np.isfinite(v).all():
        k = int(np.flatnonzero(~np.isfinite(v.ravel()))[0])
        where = k if v.ndim <= 1 else tuple(int(i) for i in np.unravel_index(k, v.shape))
        raise ValueError(f"{what} {verb} a missing or infinite value at index {where} ({v.ravel()[k]}); every value "
                         "must be a finite number")
    return v


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(y_true, dtype=np.float64)
    b = np.asarray(y_pred, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"actuals and forecasts must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("need at least one actual value to score a forecast")
    return _finite(a, "actuals"), _finite(b, "forecasts")


def mae(y_true, y_pred) -> float:
    a, b = _pair(y_true, y_pred)
    return float(np.mean(np.abs(a - b)))


def rmse(y_true, y_pred) -> float:
    a, b = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((a - b) ** 2)))


def mape(y_true, y_pred) -> float:
    """Mean absolute percentage error in percent; NaN when an actual value is 0 (division by zero)."""
    a, b = _pair(y_true, y_pred)
    if (a == 0).any():
        return float("nan")
    return float(100.0 * np.mean(np.abs((a - b) / a)))


def smape(y_true, y_pred) -> float:
    """Symmetric MAPE in percent, in [0, 200]."""
    a, b = _pair(y_true, y_pred)
    den = np.abs(a) + np.abs(b)
    terms = np.where(den > 0, 2.0 * np.abs(a - b) / np.where(den > 0, den, 1.0), 0.0)
    return float(100.0 * np.mean(terms))


def mase_scale(y_train, m: int = 1) -> float:
    """The MASE denominator: mean |y_t − y_{t−m}| over the training series."""
    y = np.asarray(y_train, dtype=np.float64)
    if not whole(m):
        raise ValueError(f"the seasonal period m must be a positive integer (1 for no season), got {m!r}")
    m = int(m)
    if y.ndim != 1:
        raise ValueError(f"the training series must be 1-D (one value per time step), got shape {y.shape}")
    _finite(y, "the training series", "has")
    if len(y) <= m:
        raise ValueError(f"MASE with season m={m} needs more than {m} training values, got {len(y)}; "
                         "use a smaller --season or more data")
    scale = float(np.mean(np.abs(y[m:] - y[:-m])))
    if scale == 0.0:
        raise ValueError(f"MASE is undefined: the training series is constant at lag m={m} (every y_t equals "
                         f"y_(t-{m})), so the seasonal-naive scale is 0; there is nothing to forecast")
    return scale


def mase(y_true, y_pred, y_train, m: int = 1) -> float:
    return mae(y_true, y_pred) / mase_scale(y_train, m)


def metrics_table(y_true, y_pred, y_train, m: int = 1) -> dict[str, float]:
    """All five metrics for one forecast: {"mae", "rmse", "mape", "smape", "mase"}."""
    return {"mae": mae(y_true, y_pred), "rmse": rmse(y_true, y_pred), "mape": mape(y_true, y_pred),
            "smape": smape(y_true, y_pred), "mase": mase(y_true, y_pred, y_train, m)}


def coverage(y_true, lower, upper) -> float:
    """Fraction of actuals inside [lower, upper] (the empirical coverage of a prediction interval)."""
    a = np.asarray(y_true, dtype=np.float64)
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.asarray(upper, dtype=np.float64)
    if not (a.shape == lo.shape == hi.shape):
        raise ValueError(f"actuals and interval bounds must have the same shape, got {a.shape}, {lo.shape}, "
                         f"{hi.shape}")
    if a.size == 0:
        raise ValueError("need at least one actual value to measure the coverage of an interval")
    for v, what in ((a, "actuals"), (lo, "lower bounds"), (hi, "upper bounds")):
        _finite(v, what)
    if (lo > hi).any():
        k = int(np.flatnonzero((lo > hi).ravel())[0])
        raise ValueError(f"the interval has its lower bound above the upper bound at index {k} "
                         f"({lo.ravel()[k]:g} > {hi.ravel()[k]:g}); pass (actuals, lower, upper) in that order")
    return float(np.mean((a >= lo) & (a <= hi)))
