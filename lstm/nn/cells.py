"""One-step cells: :class:`LSTMCell`, :class:`GRUCell`, :class:`RNNCell` (PyTorch's ``nn.*Cell`` contract).

A cell is one time step with its own parameters (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``); the
user owns the loop.  It runs the same kernels as the layers with T = 1, so the math is written once::

    h, c = lstm_cell(x, (h, c))            x (B, I) or (I,);  h (B, H), c (B, H)
    dx, (dh, dc) = lstm_cell.backward((dh_next, dc_next))
    h = gru_cell(x, h);   dx, dh = gru_cell.backward(dh_next)
"""

from __future__ import annotations

import numpy as np

from ..kernels import get_backend, reference as ref
from .checks import as_float_array, check_shape, describe
from .module import Module, resolve_dtype, resolve_rng, write_grad

_STEMS = {"W_ih": "weight_ih", "W_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh",
          "peephole": "weight_peephole"}


class _Cell(Module):
    gates = 1
    n_states = 1

    def __init__(self, input_size, hidden_size, bias=True, *, dtype=np.float32, seed=None, backend="auto",
                 extra_shapes=None):
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bool(bias)
        self.dtype = resolve_dtype(dtype)
        get_backend(backend)  # validate the name now, not at the first forward call
        self.backend = backend
        rng = resolve_rng(seed)
        bound = 1.0 / np.sqrt(self.hidden_size)
        G, H = self.gates * self.hidden_size, self.hidden_size
        shapes = {"weight_ih": (G, self.input_size), "weight_hh": (G, H)}
        if self.bias:
            shapes.update(bias_ih=(G,), bias_hh=(G,))
        shapes.update(extra_shapes or {})
        for name, shape in shapes.items():
            self.register_parameter(name, rng.uniform(-bound, bound, size=shape).astype(self.dtype))
        self._last = None

    def _arrays(self) -> dict:
        return {key: self._params.get(stem) for key, stem in _STEMS.items()}

    def _prepare(self, x, state):
        x = as_float_array(x, self.dtype, "input x")
        unbatched = x.ndim == 1
        if unbatched:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ValueError(f"input x must have shape (B, {self.input_size}) or ({self.input_size},), got {x.shape}")
        B, H = x.shape[0], self.hidden_size
        if state is None:
            parts = (None,) * self.n_states
        elif self.n_states == 1:
            parts = (state,)
        else:
            if not isinstance(state, (tuple, list)) or len(state) != self.n_states:
                raise ValueError(f"state must be a pair (h, c) of arrays of shape (B, hidden_size) (None for zeros), "
                                 f"got {describe(state)}")
            parts = tuple(state)
        states = []
        for name, s in zip("hc", parts):
            if s is None:
                states.append(np.zeros((B, H), self.dtype))
                continue
            s = as_float_array(s, self.dtype, f"state {name}")
            s = s[None, :] if unbatched and s.ndim == 1 else s
            check_shape(s, (B, H), f"state {name}")
            states.append(s)
        return x, tuple(states), unbatched

    def backward(self, dstate, accumulate: bool = False):
        """Gradients of the last step: returns (dx, dstate_prev) and writes ``grads``."""
        if self._last is None:
            raise RuntimeError("backward() needs a forward call first: run the cell before cell.backward(...)")
        p, cache, unbatched, B = self._last
        if self.n_states > 1 and dstate is not None and (not isinstance(dstate, (tuple, list)) or len(dstate) != 2):
            raise ValueError(f"dstate must be a pair (dh, dc) of arrays of shape (B, hidden_size) (None for a zero "
                             f"one), got {describe(dstate)}")
        parts = (dstate,) if self.n_states == 1 else (tuple(dstate) if dstate is not None else (None, None))
        d = []
        for name, s in zip("hc", parts):
            if s is None:
                d.append(np.zeros((B, self.hidden_size), self.dtype))
                continue
            s = as_float_array(s, self.dtype, f"d{name}")
            s = s[None, :] if unbatched and s.ndim == 1 else s
            check_shape(s, (B, self.hidden_size), f"d{name}")
            d.append(s)
        # The step's output *is* its new state, so the whole upstream gradient enters through dstate.
        dy = np.zeros((1, B, self.hidden_size), self.dtype)
        dx, dprev, grads = self._backward_kernel(p, cache, dy, d)
        for key, value in grads.items():
            if value is not None:
                write_grad(self._grads[_STEMS[key]], value, accumulate)
        dx = dx[0]
        if unbatched:
            dx, dprev = dx[0], tuple(s[0] for s in dprev)
        return dx, (dprev if self.n_states > 1 else dprev[0])

    def __call__(self, x, state=None):
        x, states, unbatched = self._prepare(x, state)
        p = self._params_for_kernel()
        new, cache = self._forward_kernel(x[None], states, p)
        self._last = (p, cache, unbatched, x.shape[0])
        if unbatched:
            new = tuple(s[0] for s in new)
        return new if self.n_states > 1 else new[0]

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class LSTMCell(_Cell):
    """One LSTM step (equations in :mod:`lstm.kernels.reference`); ``peephole``/``coupled``/``forget_bias`` as in
    :class:`lstm.nn.LSTM`."""

    gates = 4
    n_states = 2

    def __init__(self, input_size, hidden_size, bias=True, *, peephole=False, coupled=False, forget_bias=0.0,
                 dtype=np.float32, seed=None, backend="auto"):
        extra = {"weight_peephole": (3 * hidden_size,)} if peephole else None
        super().__init__(input_size, hidden_size, bias, dtype=dtype, seed=seed, backend=backend, extra_shapes=extra)
        self.peephole, self.coupled, self.forget_bias = bool(peephole), bool(coupled), float(forget_bias)
        H = self.hidden_size
        if self.forget_bias and self.bias:
            self._params["bias_ih"][H:2 * H] += self.forget_bias

    def _params_for_kernel(self):
        return ref.LSTMParams(**self._arrays(), coupled=self.coupled)

    def _forward_kernel(self, x, states, p):
        _, h, c, cache = get_backend(self.backend).lstm_forward(x, states[0], states[1], p)
        return (h, c), cache

    def _backward_kernel(self, p, cache, dy, d):
        dx, dh, dc, g = get_backend(self.backend).lstm_backward(p, cache, dy, d[0], d[1])
        return dx, (dh, dc), g


class GRUCell(_Cell):
    """One GRU step, PyTorch's r, z, n formulation."""

    gates = 3

    def _params_for_kernel(self):
        a = self._arrays()
        a.pop("peephole")
        return ref.GRUParams(**a)

    def _forward_kernel(self, x, states, p):
        _, h, cache = get_backend(self.backend).gru_forward(x, states[0], p)
        return (h,), cache

    def _backward_kernel(self, p, cache, dy, d):
        dx, dh, g = get_backend(self.backend).gru_backward(p, cache, dy, d[0])
        return dx, (dh,), g


class RNNCell(_Cell):
    """One Elman step, h' = φ(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh), φ = tanh or relu."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", *, dtype=np.float32, seed=None,
                 backend="auto"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype=dtype, seed=seed, backend=backend)
        self.nonlinearity = nonlinearity

    def _params_for_kernel(self):
        a = self._arrays()
        a.pop("peephole")
        return ref.RNNParams(**a, nonlinearity=self.nonlinearity)

    def _forward_kernel(self, x, states, p):
        _, h, cache = get_backend(self.backend).rnn_forward(x, states[0], p)
        return (h,), cache

    def _backward_kernel(self, p, cache, dy, d):
        dx, dh, g = get_backend(self.backend).rnn_backward(p, cache, dy, d[0])
        return dx, (dh,), g
