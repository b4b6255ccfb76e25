"""Inverted dropout.

Training mode, with keep probability ``q = 1 - p`` and a fresh Bernoulli draw per forward::

    m = keep / q,   keep ~ Bernoulli(q) elementwise      (m: same shape as x; entries 0 or 1/q)
    y = x * m                                            E[y] = x
    dL/dx = dy * m                                       (the stored mask of the last forward)

Eval mode (``.eval()``) and ``p = 0``: ``y = x`` and ``dL/dx = dy``.  ``p = 1`` drops everything (``y = 0``).
"""

from __future__ import annotations

import numpy as np

from .linear import _as_float_input, _check_grad_output
from .module import Module, resolve_dtype, resolve_rng

__all__ = ["Dropout"]


class Dropout(Module):
    """Zero each element with probability ``p`` and scale the survivors by ``1/(1-p)`` (training mode only).

    ``seed`` (int or ``numpy.random.Generator``) fixes the sequence of masks: two instances built with the same int
    seed draw the same masks, forward after forward.  ``dtype=None`` (default) keeps the input's float32/float64 dtype;
    pass a dtype to cast inputs to it.  The mask of the last training forward is available as ``.mask``
    (``None`` after an identity forward).  No parameters.
    """

    def __init__(self, p: float = 0.5, seed=None, dtype=None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not (0.0 <= p <= 1.0):
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.dtype = None if dtype is None else resolve_dtype(dtype)
        self._rng = resolve_rng(seed)
        self.mask = None  # (same shape as x) entries 0 or 1/(1-p); None = identity
        self._shape = None  # output shape of the last forward
        self._out_dtype = None

    def __call__(self, x) -> np.ndarray:
        x = _as_float_input(x, self.dtype, "Dropout input")
        self._shape, self._out_dtype = x.shape, x.dtype
        if not self.training or self.p == 0.0:
            self.mask = None
            return x.copy()
        q = 1.0 - self.p
        # Draw uniforms in float64 whatever x's dtype, so a seed gives the same mask for float32 and float64 inputs.
        keep = self._rng.random(x.shape) < q
        scale = x.dtype.type(1.0 / q) if q > 0 else x.dtype.type(0.0)
        self.mask = keep.astype(x.dtype) * scale  # (same as x)
        return x * self.mask

    forward = __call__

    def backward(self, dy, accumulate: bool = False) -> np.ndarray:
        """``dL/dx = dy * mask`` (``dy`` in eval mode).  ``accumulate`` is accepted for a uniform layer API; there are
        no parameters to accumulate into."""
        if self._shape is None:
            raise RuntimeError("Dropout.backward called before forward; call layer(x) first")
        dy = _check_grad_output(dy, self._shape, self._out_dtype, "Dropout")
        return dy.copy() if self.mask is None else dy * self.mask

    def extra_repr(self) -> str:
        return f"p={self.p}"
