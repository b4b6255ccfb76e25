"""Stochastic gradient descent with momentum, dampening, Nesterov momentum, L2 weight decay and maximisation."""

from __future__ import annotations

import numpy as np

from . import _checks
from .optimizer import Optimizer


class SGD(Optimizer):
    r"""Stochastic gradient descent (``torch.optim.SGD``, single-tensor path), per parameter :math:`\theta` with
    gradient :math:`g_t` at step :math:`t`:

    .. math::

        g &\leftarrow \pm g_t + \lambda\,\theta_{t-1}
            \qquad (- \text{ if maximize};\ \lambda = \text{weight\_decay})\\
        b_t &= \begin{cases} g & t = 1 \\ \mu\, b_{t-1} + (1-\tau)\, g & t > 1 \end{cases}
            \qquad (\mu = \text{momentum},\ \tau = \text{dampening};\ \text{only if } \mu \ne 0)\\
        g &\leftarrow \begin{cases} g + \mu\, b_t & \text{nesterov} \\ b_t & \text{otherwise} \end{cases}
            \qquad (\text{only if } \mu \ne 0)\\
        \theta_t &= \theta_{t-1} - \eta\, g

    State per parameter: ``momentum_buffer`` (only when ``momentum != 0``, created at the parameter's first step).
    Nesterov momentum needs ``momentum > 0`` and ``dampening == 0`` (as in torch).  The arguments, their order and
    defaults are torch's: ``SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
    maximize=False)``.
    """

    HYPER = ("lr", "momentum", "dampening", "nesterov", "weight_decay", "maximize")

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False) -> None:
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                         weight_decay=weight_decay, maximize=maximize)

    @classmethod
    def _check_hyper(cls, *, lr, momentum, dampening, nesterov, weight_decay, maximize) -> dict:
        out = {
            "lr": _checks.real("lr", lr, low=0.0),
            "momentum": _checks.real("momentum", momentum, low=0.0),
            "dampening": _checks.real("dampening", dampening, low=0.0, high=1.0),
            "nesterov": _checks.boolean("nesterov", nesterov),
            "weight_decay": _checks.real("weight_decay", weight_decay, low=0.0),
            "maximize": _checks.boolean("maximize", maximize),
        }
        if out["nesterov"] and (out["momentum"] <= 0 or out["dampening"] != 0):
            raise ValueError(
                f"nesterov=True needs momentum > 0 and dampening == 0, got momentum={momentum!r}, "
                f"dampening={dampening!r}"
            )
        return out

    @classmethod
    def _buffer_names(cls, hyper: dict) -> tuple[str, ...]:
        return ("momentum_buffer",) if hyper["momentum"] != 0 else ()

    def _init_state(self, param: np.ndarray) -> dict:
        return {}

    def _update(self, param, grad, state, w0, w1) -> None:
        g = self._effective_grad(param, grad, self.weight_decay, self.maximize, w0, w1)
        momentum = self.momentum
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= momentum
                np.multiply(g, 1 - self.dampening, out=w1)
                buf += w1
            if self.nesterov:
                np.multiply(buf, momentum, out=w1)
                np.add(g, w1, out=w1)
                g = w1
            else:
                g = buf
        tmp = w1 if g is w1 else w0
        np.multiply(g, self.lr, out=tmp)
        param -= tmp
