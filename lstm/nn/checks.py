"""Input checks shared by layers: one-line errors that say what was expected, what was given, how to fix it."""

from __future__ import annotations

import numpy as np

from .grad_mode import is_grad_enabled

NOT_KEPT = "nothing kept: the forward ran under no_grad()"


def kept_for_backward(arr: np.ndarray, given):
    """What a layer keeps of one forward input for its backward.

    Under :class:`lstm.nn.no_grad`: nothing (:data:`NOT_KEPT`).  Otherwise a private copy when ``arr`` is, or
    shares memory with, the caller's own array ``given`` — so that a change the caller makes between forward and
    backward cannot change the gradients (PyTorch refuses such a backward; here it stays correct) — and ``arr``
    itself when the forward made it (a cast or a conversion from a list).
    """
    if not is_grad_enabled():
        return NOT_KEPT
    if isinstance(given, np.ndarray) and np.may_share_memory(arr, given):
        return arr.copy()
    return arr


def take_kept(kept, layer: str, call: str):
    """The inputs a layer kept at its last forward, or a one-line RuntimeError saying why there are none."""
    if kept is None:
        raise RuntimeError(f"{layer}.backward called before forward; call {call} first")
    if kept is NOT_KEPT:
        raise RuntimeError(f"{layer}.backward after a forward call made under lstm.nn.no_grad(), which keeps nothing "
                           f"for backward: call {call} again outside no_grad() first")
    return kept


def as_float_array(x, dtype: np.dtype, what: str = "input") -> np.ndarray:
    """``x`` as a C-contiguous array of the layer's dtype, of ``x``'s own shape (a 0-d ``x`` stays 0-d).

    float32/float64 are cast to the layer's dtype; integers, booleans, float16 and anything else are refused
    (silently rounding them would hide a bug in the caller).  Values are not checked: NaN and inf propagate to the
    outputs and gradients, as in PyTorch (a check would cost a pass over every input).
    """
    arr = np.asarray(x)
    if arr.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"{what} must be float32 or float64, got dtype {arr.dtype}; convert it with np.asarray(x, dtype=np.float32)"
        )
    return np.ascontiguousarray(arr, dtype=dtype) if arr.ndim else arr.astype(dtype)   # (it makes 0-d arrays 1-d)


def describe(value) -> str:
    """What a caller passed, for an error message: "a tuple of 3 items", "ndarray of shape (2, 4)"."""
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"{type(value).__name__} of shape {np.shape(value)}"


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
