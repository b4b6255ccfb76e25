"""Fully connected (affine) layer.

Forward, for an input of any leading shape ``(..., in)``::

    y = x W^T + b                     W: (out, in), b: (out,), y: (..., out)

Backward, with ``dy = dL/dy`` of shape ``(..., out)`` and the leading axes flattened to ``M`` rows::

    dL/dW = dy^T x                    (out, M) @ (M, in) -> (out, in)
    dL/db = sum_rows dy               (out,)
    dL/dx = dy W                      (..., out) @ (out, in) -> (..., in)
"""

from __future__ import annotations

import math

import numpy as np

from .._values import whole
from ..kernels import get_backend, reference
from .checks import as_float_array, kept_for_backward, take_kept
from .module import Module, resolve_dtype, resolve_rng, write_grad

__all__ = ["Linear"]

# Products with at least this many multiply-adds run on the kernel backend's threads (``matmul`` of
# :mod:`lstm.kernels.compiled`: two threads, no second BLAS pool); smaller ones are plain NumPy (the reference).
BACKEND_MACS = 1 << 21


def _matmul(A, B, ta=False, tb=False):
    """op(A) @ op(B) for 2-D A, B (op = transpose where ``ta``/``tb``)."""
    m, k = A.shape[::-1] if ta else A.shape
    n = B.shape[0] if tb else B.shape[1]
    backend = get_backend("auto") if m * n * k >= BACKEND_MACS else reference
    return backend.matmul(A, B, ta, tb)


def _as_float_input(x, dtype, what: str) -> np.ndarray:
    """``x`` as a C-contiguous array of ``dtype`` (None: keep its own float32/float64 dtype).

    Same policy as :func:`lstm.nn.checks.as_float_array`: float32/float64 are cast; bool, integers, float16 and
    anything else are refused with a one-line TypeError (silently promoting them usually hides a bug).
    """
    arr = np.asarray(x)
    return as_float_array(arr, arr.dtype if dtype is None else dtype, what)


def _check_grad_output(dy, expected_shape: tuple, dtype, what: str) -> np.ndarray:
    """The upstream gradient as an array of ``dtype`` with exactly the shape of the forward output."""
    dy = _as_float_input(dy, dtype, f"{what}.backward: dy")
    if dy.shape != tuple(expected_shape):
        raise ValueError(
            f"{what}.backward: dy must have the shape of the forward output {tuple(expected_shape)}, got {dy.shape}; "
            f"pass the gradient of the loss with respect to the last forward output"
        )
    return dy


class Linear(Module):
    """``y = x W^T + b`` over the last axis, for inputs of shape ``(..., in_features)``.

    Parameters (PyTorch names, shapes and initialisation)::

        weight: (out_features, in_features)  ~ U(-1/sqrt(in_features), 1/sqrt(in_features))
        bias:   (out_features,)              ~ U(-1/sqrt(in_features), 1/sqrt(in_features))   (if bias=True)

    ``backward(dy, accumulate=False)`` writes ``grads["weight"]`` (and ``grads["bias"]``) -- overwriting, or adding
    with ``accumulate=True`` -- and returns ``dL/dx`` with the input's shape.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=np.float32, seed=None) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not whole(value):
                raise ValueError(f"Linear: {name} must be a positive int, got {value!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.dtype = resolve_dtype(dtype)
        rng = resolve_rng(seed)
        bound = 1.0 / math.sqrt(self.in_features)
        # Same law as torch.nn.Linear.reset_parameters (kaiming_uniform(a=sqrt(5)) reduces to U(-1/sqrt(in), ..)).
        self.register_parameter(
            "weight", rng.uniform(-bound, bound, (self.out_features, self.in_features)).astype(self.dtype)
        )
        self.use_bias = bool(bias)
        if self.use_bias:
            self.register_parameter("bias", rng.uniform(-bound, bound, self.out_features).astype(self.dtype))
        self._x = None  # input of the last forward, (..., in)

    @property
    def bias(self) -> np.ndarray | None:
        return self._params.get("bias")

    def __call__(self, x) -> np.ndarray:
        given = x
        x = _as_float_input(x, self.dtype, "Linear input")
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear expects input of shape (..., {self.in_features}), got {x.shape}; "
                f"the last axis must hold the in_features={self.in_features} features"
            )
        self._x = kept_for_backward(x, given)
        x2 = x.reshape(-1, self.in_features)  # (M, in)
        y = _matmul(x2, self.weight, tb=True).reshape(x.shape[:-1] + (self.out_features,))  # (..., out)
        if self.use_bias:
            y += self.bias
        return y

    forward = __call__

    def backward(self, dy, accumulate: bool = False) -> np.ndarray:
        x = take_kept(self._x, "Linear", "layer(x)")
        dy = _check_grad_output(dy, x.shape[:-1] + (self.out_features,), self.dtype, "Linear")
        x2 = x.reshape(-1, self.in_features)  # (M, in)
        dy2 = dy.reshape(-1, self.out_features)  # (M, out)
        write_grad(self._grads["weight"], _matmul(dy2, x2, ta=True), accumulate)  # (out, in)
        if self.use_bias:
            write_grad(self._grads["bias"], dy2.sum(axis=0), accumulate)  # (out,)
        return _matmul(dy2, self.weight).reshape(x.shape)  # (..., in)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.use_bias}, "
            f"dtype={self.dtype.name}"
        )
