"""Input checks shared by layers: one-line errors that say what was expected, what was given, how to fix it."""

from __future__ import annotations

import numpy as np


def as_float_array(x, dtype: np.dtype, what: str = "input") -> np.ndarray:
    """``x`` as a C-contiguous array of the layer's dtype.

    float32/float64 are cast to the layer's dtype; integers, booleans, float16 and anything else are refused
    (silently rounding them would hide a bug in the caller).
    """
    arr = np.asarray(x)
    if arr.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"{what} must be float32 or float64, got dtype {arr.dtype}; convert it with np.asarray(x, dtype=np.float32)"
        )
    return np.ascontiguousarray(arr, dtype=dtype)


def check_shape(arr: np.ndarray, expected: tuple, what: str, hint: str = "") -> None:
    """Raise ValueError unless ``arr.shape == expected``."""
    if arr.shape != tuple(expected):
        raise ValueError(f"{what} must have shape {tuple(expected)}, got {arr.shape}{'; ' + hint if hint else ''}")


def check_lengths(lengths, batch: int, steps: int) -> np.ndarray | None:
    """Validate per-sequence lengths: integers, one per batch entry, each in [1, T]."""
    if lengths is None:
        return None
    arr = np.asarray(lengths)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and arr.size and np.all(arr == np.round(arr)):
            raise TypeError(f"lengths must be integers, got dtype {arr.dtype}; pass np.asarray(lengths, dtype=int)")
        raise TypeError(f"lengths must be an integer array of shape ({batch},), got dtype {arr.dtype}")
    if arr.shape != (batch,):
        raise ValueError(f"lengths must have one entry per sequence, shape ({batch},), got shape {arr.shape}")
    if arr.size and (arr.min() < 1 or arr.max() > steps):
        raise ValueError(
            f"every length must be between 1 and T={steps}, got min {arr.min()} and max {arr.max()}; "
            "drop empty sequences or pad the input to the longest one"
        )
    return arr.astype(np.int64)
