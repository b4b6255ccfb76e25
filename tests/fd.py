"""Central finite differences for gradient checks (float64 only).

    numeric_grad(f, a)[i] = (f(a + eps e_i) - f(a - eps e_i)) / (2 eps)

``f`` takes no arguments and reads ``a`` (a parameter, or an input the closure feeds to the layer), so ``a`` is
perturbed **in place**, one entry at a time, and each entry is restored to its exact original value afterwards.
Truncation error is O(eps^2 f''') and rounding error O(1e-16 |f| / eps), about 1e-10 relative for eps = 1e-6.

Typical use, with a random projection ``R`` so that ``f`` depends on every output::

    y = layer(x); dx = layer.backward(R)                      # analytic
    num = numeric_grad(lambda: float(np.sum(layer(x) * R)), x)
    assert max_rel_error(dx, num) < 1e-7
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["numeric_grad", "max_rel_error"]


def numeric_grad(f: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d array by central differences; ``array`` (float64, writeable) is perturbed in place and restored."""
    if not isinstance(array, np.ndarray) or array.dtype != np.float64:
        got = getattr(array, "dtype", type(array).__name__)
        raise TypeError(f"numeric_grad needs a float64 ndarray to perturb in place, got {got}")
    if not array.flags.writeable:
        raise ValueError("numeric_grad needs a writeable array (it perturbs entries in place)")
    grad = np.zeros(array.shape, dtype=np.float64)
    for idx in np.ndindex(array.shape):
        orig = array[idx]
        try:
            array[idx] = orig + eps
            f_plus = float(f())
            array[idx] = orig - eps
            f_minus = float(f())
        finally:
            array[idx] = orig
        grad[idx] = (f_plus - f_minus) / (2.0 * eps)
    return grad


def max_rel_error(analytic, numeric) -> float:
    """``max |analytic - numeric| / max |numeric|``: error relative to the largest gradient entry."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"shapes differ: analytic {analytic.shape} vs numeric {numeric.shape}")
    if analytic.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(numeric))), float(np.max(np.abs(analytic))), 1e-300)
    return float(np.max(np.abs(analytic - numeric)) / scale)
