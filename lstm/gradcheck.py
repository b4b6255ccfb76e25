"""Finite-difference check of a layer's hand-written backward pass, for users and for the test suite.

For a random linear functional of the outputs, L = Σ y ⊙ R_y + Σ state_n ⊙ R_s, each checked entry θ gets the
central difference (L(θ + ε) − L(θ − ε)) / 2ε, computed in float64, and is compared with the analytic gradient
from ``backward``.  The error reported per parameter is

    max |analytic − numeric|  /  max(max |analytic|, max |numeric|)

i.e. the worst entry measured against that parameter's own gradient scale (0.0 when both are exactly zero, as for
the unused input-gate rows of a coupled LSTM).  In float64 with ε = 1e-6 a correct backward gives ~1e-9 or less.
The differences carry rounding noise of ~1e-16·|L|/ε ≈ 1e-10 in absolute terms, so a parameter whose gradient is
~1e-4 of the loss's scale (a 1-unit layer with a near-zero recurrent weight, say) can show ~1e-7 though exact.
"""

from __future__ import annotations

import copy
import math
import numbers

import numpy as np

from ._values import whole


def _as_float64(layer):
    """A float64 copy of ``layer`` (the original is left untouched)."""
    twin = copy.deepcopy(layer)
    for _, mod in twin.named_modules():
        for name in list(mod._params):
            mod._params[name] = mod._params[name].astype(np.float64)
            mod._grads[name] = np.zeros_like(mod._params[name])
        if hasattr(mod, "dtype"):
            mod.dtype = np.dtype(np.float64)
    return twin


def _is_cell(layer) -> bool:
    return not hasattr(layer, "num_layers")


def _flat_state(state) -> list:
    return list(state) if isinstance(state, tuple) else [state]


def _pack_state(parts: list):
    return tuple(parts) if len(parts) > 1 else parts[0]


def gradcheck(layer, x=None, state=None, lengths=None, *, eps: float = 1e-6, max_entries: int | None = 64,
              seed: int = 0) -> dict[str, float]:
    """Worst relative error of ``layer.backward`` against central finite differences, per parameter.

    Works on any recurrent layer (``LSTM``, ``GRU``, ``RNN``) or cell (``LSTMCell``, ``GRUCell``, ``RNNCell``).
    ``x``, ``state`` default to random values (non-zero initial state, so state paths are exercised); ``lengths``
    is passed through to layers.  At most ``max_entries`` randomly chosen entries of each array are checked
    (None = all; at least 1).  ``eps`` is the finite-difference step.  Dropout is switched off (eval mode) for the
    check.

    Returns ``{parameter name: error, ..., "input": error, "state": error}``; a correct backward gives < 1e-7.
    """
    from .nn.cells import _Cell
    from .nn.recurrent import _Recurrent
    if not isinstance(layer, (_Recurrent, _Cell)):
        raise TypeError(f"gradcheck takes a recurrent layer (LSTM, GRU, RNN) or a cell (LSTMCell, GRUCell, RNNCell), "
                        f"got {type(layer).__name__}; check other modules with their own finite differences")
    if lengths is not None and isinstance(layer, _Cell):
        raise ValueError("lengths is for a recurrent layer's padded batch; a cell runs one step, so pass lengths=None")
    if not (isinstance(eps, numbers.Real) and math.isfinite(eps) and eps != 0):
        raise ValueError(f"eps must be a finite non-zero step, got {eps!r}; the default 1e-6 suits float64")
    if max_entries is not None and not whole(max_entries, 1):
        raise ValueError(f"max_entries must be an integer >= 1 or None, got {max_entries!r}; None checks every "
                         "entry (0 would check none and report a perfect 0.0)")
    net = _as_float64(layer).eval()
    rng = np.random.default_rng(seed)
    cell = _is_cell(net)
    if x is None:
        shape = (3, net.input_size) if cell else (5, 3, net.input_size)
        x = rng.normal(size=shape)
    x = np.array(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("x must hold finite numbers (it has NaN or inf), or be None for random values")

    def run(x_, state_):
        return (net(x_, state_), None) if cell else net(x_, state_, lengths)[::-1]

    if state is None:
        # Build a random non-zero initial state with the right shapes by running once.
        out_state, _ = run(x, None)
        state = _pack_state([rng.normal(scale=0.5, size=s.shape) for s in _flat_state(out_state)])
    state_parts = [np.array(s, dtype=np.float64) for s in _flat_state(state)]

    out_state, y = run(x, _pack_state(state_parts))
    R_s = [rng.normal(size=s.shape) for s in _flat_state(out_state)]
    R_y = None if y is None else rng.normal(size=y.shape)

    def loss() -> float:
        s, y_ = run(x, _pack_state(state_parts))
        total = sum(float(np.sum(a * r)) for a, r in zip(_flat_state(s), R_s))
        return total + (0.0 if y_ is None else float(np.sum(y_ * R_y)))

    loss()  # forward with the unperturbed values, then the analytic backward
    if cell:
        dx, dstate0 = net.backward(_pack_state(R_s))
    else:
        dx, dstate0 = net.backward(R_y, _pack_state(R_s))
    analytic = {name: g.copy() for name, g in net.grads.items()}
    analytic["input"] = dx
    targets = dict(net.parameters())
    targets["input"] = x
    for k, (part, d) in enumerate(zip(state_parts, _flat_state(dstate0))):
        key = "state" if len(state_parts) == 1 else f"state[{k}]"
        analytic[key], targets[key] = d, part

    report = {}
    for name, array in targets.items():
        flat = array.reshape(-1)
        idx = np.arange(flat.size)
        if max_entries is not None and flat.size > max_entries:
            idx = rng.choice(flat.size, size=max_entries, replace=False)
        numeric = np.empty(idx.size)
        for j, e in enumerate(idx):
            old = flat[e]
            flat[e] = old + eps
            up = loss()
            flat[e] = old - eps
            down = loss()
            flat[e] = old
            numeric[j] = (up - down) / (2 * eps)
        a = analytic[name].reshape(-1)[idx]
        scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(numeric), initial=0.0))
        diff = np.max(np.abs(a - numeric), initial=0.0)
        report[name] = 0.0 if scale == 0.0 else float(diff / scale)
    return report
