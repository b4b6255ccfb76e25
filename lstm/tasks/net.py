"""The network every task trains: one recurrent layer (LSTM, GRU or tanh RNN) and a linear read-out.

    y_t = RNN(x_t, state)            (T, B, H)       time-major
    out = y_{len−1} W_outᵀ + b_out   (B, C)          readout="last": each sequence's last real step
    out = y_t W_outᵀ + b_out         (T, B, C)       readout="all": every step

Backward puts ∂L/∂out back through the head into ∂L/∂y (zero except at the read steps) and through the layer.
"""

from __future__ import annotations

import numpy as np

from ..nn import GRU, LSTM, RNN, Linear, Module

MODELS = ("lstm", "gru", "rnn")


def make_recurrent(kind: str, input_size: int, hidden_size: int, *, seed, forget_bias: float = 1.0,
                   dtype=np.float32, backend: str = "auto"):
    """An LSTM (with ``forget_bias`` added to its forget-gate bias), GRU or tanh RNN layer, time-major."""
    if kind == "lstm":
        return LSTM(input_size, hidden_size, forget_bias=forget_bias, seed=seed, dtype=dtype, backend=backend)
    if kind == "gru":
        return GRU(input_size, hidden_size, seed=seed, dtype=dtype, backend=backend)
    if kind == "rnn":
        return RNN(input_size, hidden_size, nonlinearity="tanh", seed=seed, dtype=dtype, backend=backend)
    raise ValueError(f"model must be one of {', '.join(MODELS)}, got {kind!r}")


class TaskNet(Module):
    """Recurrent layer + linear head for a :class:`lstm.tasks.base.Task`."""

    def __init__(self, kind: str, input_size: int, hidden_size: int, output_size: int, readout: str = "last", *,
                 seed=0, forget_bias: float = 1.0, dtype=np.float32, backend: str = "auto"):
        super().__init__()
        if readout not in ("last", "all"):
            raise ValueError(f"readout must be 'last' or 'all', got {readout!r}")
        rng = np.random.default_rng(seed)
        self.kind, self.readout = kind, readout
        self.rnn = make_recurrent(kind, input_size, hidden_size, seed=rng, forget_bias=forget_bias, dtype=dtype,
                                  backend=backend)
        self.head = Linear(hidden_size, output_size, seed=rng, dtype=dtype)
        self._last = None

    def forward(self, x, lengths=None):
        """x (T, B, I) → (B, C) for readout="last", (T, B, C) for readout="all"."""
        y, _ = self.rnn(x, lengths=lengths)                          # (T, B, H)
        if self.readout == "all":
            self._last = None
            return self.head(y)
        T, B, _ = y.shape
        last = np.full(B, T - 1) if lengths is None else np.asarray(lengths) - 1
        self._last = (last, y.shape)
        return self.head(y[last, np.arange(B)])                      # (B, C)

    __call__ = forward

    def backward(self, dout) -> None:
        """Fill ``grads`` from ∂L/∂out."""
        dh = self.head.backward(dout)
        if self.readout == "last":
            last, shape = self._last
            dy = np.zeros(shape, dtype=dh.dtype)                     # (T, B, H)
            dy[last, np.arange(shape[1])] = dh
            dh = dy
        self.rnn.backward(dh, input_grad=False)                      # the input is data: no δx


KIND = "lstm.tasknet"


def save_task_net(net: TaskNet, path, meta: dict | None = None):
    """Write a task network (weights + the configuration to rebuild it + ``meta``) to one safe file."""
    from pathlib import Path

    from ..io import safefile

    config = {"kind": net.kind, "input_size": net.rnn.input_size, "hidden_size": net.rnn.hidden_size,
              "output_size": net.head.out_features, "readout": net.readout, "meta": meta or {}}
    safefile.save(path, net.state_dict(), config, kind=KIND, version=1)
    return Path(path)


def load_task_net(path, backend: str = "auto") -> tuple[TaskNet, dict]:
    """(network, meta) from a file written by :func:`save_task_net`."""
    from ..io import safefile

    arrays, config = safefile.load(path, kind=KIND, max_version=1)
    net = TaskNet(config["kind"], config["input_size"], config["hidden_size"], config["output_size"],
                  config["readout"], seed=0, backend=backend)
    net.load_state_dict(arrays)
    return net, config.get("meta", {})
