"""Gradient clipping on a ``{name: ndarray}`` gradient dict, in place (torch.nn.utils.clip_grad_norm_/_value_)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ..kernels import compiled_function
from . import _checks


def _grad_arrays(grads, fn: str) -> list[np.ndarray]:
    if not isinstance(grads, Mapping):
        raise TypeError(f"{fn} expects a dict {{name: np.ndarray}} of gradients, got {type(grads).__name__}")
    out = []
    for name, g in grads.items():
        if g is None:
            continue
        if not isinstance(g, np.ndarray):
            raise TypeError(f"{fn}: gradient {name!r} must be an np.ndarray (clipped in place), got {type(g).__name__}")
        if g.dtype not in (np.float32, np.float64):
            raise TypeError(f"{fn}: gradient {name!r} must be float32 or float64, got dtype {g.dtype}")
        out.append(g)
    return out


def _vector_norm(x: np.ndarray, p: float) -> float:
    """The p-norm of ``x`` viewed as one vector, accumulated in float64."""
    x = x.reshape(-1)
    if x.size == 0:
        return 0.0
    if p == math.inf:
        return float(np.max(np.abs(x)))
    if p == 2.0:
        squares = compiled_function("sum_squares")
        if squares is not None:        # one pass, no float64 copy of a float32 gradient
            return math.sqrt(squares(x))
        x = x.astype(np.float64, copy=False)
        return float(np.sqrt(np.dot(x, x)))
    if p == 1.0:
        return float(np.sum(np.abs(x), dtype=np.float64))
    return float(np.sum(np.abs(x.astype(np.float64, copy=False)) ** p) ** (1.0 / p))


def clip_grad_norm(grads: Mapping[str, np.ndarray], max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False) -> float:
    r"""Scale all gradients together so that their joint norm is at most ``max_norm``; returns the norm before.

    Exactly ``torch.nn.utils.clip_grad_norm_``: the total norm is the ``norm_type``-norm of the per-array norms
    (i.e. of all gradients concatenated into one vector), and every gradient is multiplied in place by

    .. math::

        c = \min\left(\frac{\text{max\_norm}}{\lVert g \rVert_p + 10^{-6}},\ 1\right)

    (when :math:`c = 1` nothing changes, so the multiplication is skipped; a NaN norm gives NaN gradients unless
    ``error_if_nonfinite``).
    ``norm_type`` is any ``p > 0`` or ``float('inf')`` (max-abs); the coefficient is computed in the gradients'
    dtype (float64 if any gradient is float64).  ``None`` values in the dict are skipped.
    """
    arrays = _grad_arrays(grads, "clip_grad_norm")
    max_norm = _checks.real("max_norm", max_norm, low=0.0)
    p = _checks.real("norm_type", norm_type, low=0.0, low_open=True, finite=False)
    _checks.boolean("error_if_nonfinite", error_if_nonfinite)
    if not arrays:
        return 0.0
    dtype = np.result_type(*arrays)
    norms = np.array([_vector_norm(g, p) for g in arrays], dtype=np.float64)
    total = np.asarray(_vector_norm(norms, p), dtype=dtype)[()]
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"the total norm of order {p} of the gradients is non-finite ({float(total)}), so it cannot be clipped; "
            "pass error_if_nonfinite=False to scale by it anyway"
        )
    coef = dtype.type(max_norm) / (total + dtype.type(1e-6))
    if coef >= 1.0:  # multiplying by 1 changes nothing (NaN stays NaN), so skip that pass over every gradient
        return float(total)
    with np.errstate(invalid="ignore"):  # inf * 0 -> NaN, silently, as in torch
        for g in arrays:
            g *= coef
    return float(total)


def clip_grad_value(grads: Mapping[str, np.ndarray], clip_value: float) -> None:
    r"""Clamp every gradient element into :math:`[-\text{clip\_value}, \text{clip\_value}]` in place
    (``torch.nn.utils.clip_grad_value_``; NaN stays NaN)."""
    arrays = _grad_arrays(grads, "clip_grad_value")
    c = _checks.real("clip_value", clip_value, low=0.0)
    for g in arrays:
        np.clip(g, -c, c, out=g)
