"""The one colour map shared by the HTML report (its JavaScript copies these lines) and the PNG figures.

A value v is shown on white → blue when positive and white → red when negative, with intensity
a = min(|v| / scale, 1):

    gates (i, f, o, r, z; values in [0, 1]):  scale = 1
    g, h, n (tanh, in [−1, 1]):                 scale = 1
    c (unbounded cell state):                   scale = max_t |c_t| over the unit's finite values (at least 1e−6)

    rgb = round(255 − a · (255 − BLUE))   if v ≥ 0,   BLUE = (33, 102, 172)   (#2166ac)
    rgb = round(255 − a · (255 − RED))    if v < 0,   RED  = (178, 24, 43)    (#b2182b)
"""

from __future__ import annotations

import numpy as np

BLUE = (33, 102, 172)
RED = (178, 24, 43)
UNBOUNDED = ("c",)


def colour_scale(kind: str, values: np.ndarray) -> float:
    """The scale a unit's values are divided by (1 for gates and tanh outputs, max |v| for the cell state)."""
    if kind in UNBOUNDED:
        a = np.abs(np.asarray(values, dtype=np.float64))
        a = a[np.isfinite(a)]                        # a NaN or inf step must not blank every other step
        return max(float(a.max()) if a.size else 0.0, 1e-6)
    return 1.0


def rgb(value: float, scale: float = 1.0) -> tuple[int, int, int]:
    """The (r, g, b) colour of ``value`` (ints 0..255), exactly as the report's ``colour()`` in JavaScript.

    Rounding is half-up (JavaScript's ``Math.round``), not NumPy's half-to-even.
    """
    a = min(abs(float(value)) / scale, 1.0)
    end = BLUE if value >= 0 else RED
    return tuple(int(np.floor(255.0 - a * (255.0 - e) + 0.5)) for e in end)


def rgb_array(values: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """(..., 3) floats in [0, 1] for matplotlib."""
    v = np.asarray(values, dtype=np.float64)
    a = np.minimum(np.abs(v) / scale, 1.0)[..., None]
    end = np.where(v[..., None] >= 0, np.array(BLUE, dtype=np.float64), np.array(RED, dtype=np.float64))
    return np.floor(255.0 - a * (255.0 - end) + 0.5) / 255.0
