"""The baselines every forecast must beat, given the history y_1..y_n and a horizon h (k = 1..h)::

    naive            ŷ_{n+k} = y_n
    seasonal naive   ŷ_{n+k} = y_{n+k−m·⌈k/m⌉}          (the last observed value of the same season)
    drift            ŷ_{n+k} = y_n + k (y_n − y_1)/(n − 1)   (the line through the first and last values)

(Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, §5.2.)
"""

from __future__ import annotations

import numpy as np

from .._values import whole


def _history(y) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"the history must be a non-empty 1-D series, got shape {y.shape}")
    if not np.isfinite(y).all():
        k = int(np.flatnonzero(~np.isfinite(y))[0])
        raise ValueError(f"the history has a missing or infinite value at index {k}; fill it first")
    return y


def _horizon(horizon) -> int:
    if not whole(horizon):
        raise ValueError(f"horizon must be a positive integer (the number of steps to forecast), got {horizon!r}")
    return int(horizon)


def naive(y, horizon: int, m: int = 1) -> np.ndarray:
    y = _history(y)
    return np.full(_horizon(horizon), y[-1])


def seasonal_naive(y, horizon: int, m: int = 1) -> np.ndarray:
    y = _history(y)
    h = _horizon(horizon)
    if not whole(m):
        raise ValueError(f"the season m must be a positive integer (1 for no season), got {m!r}")
    m = int(m)
    if len(y) < m:
        raise ValueError(f"seasonal naive with season m={m} needs at least {m} past values, got {len(y)}")
    k = np.arange(1, h + 1)
    return y[len(y) - m + (k - 1) % m]


def drift(y, horizon: int, m: int = 1) -> np.ndarray:
    y = _history(y)
    slope = 0.0 if len(y) < 2 else (y[-1] - y[0]) / (len(y) - 1)
    return y[-1] + slope * np.arange(1, _horizon(horizon) + 1)


BASELINES = {"naive": naive, "seasonal_naive": seasonal_naive, "drift": drift}
