"""Adagrad with learning-rate decay."""

from __future__ import annotations

import numpy as np

from . import _checks
from .optimizer import Optimizer


class Adagrad(Optimizer):
    r"""Adagrad (``torch.optim.Adagrad``, single-tensor dense path), per parameter :math:`\theta`, gradient
    :math:`g_t`, own step count :math:`t`:

    .. math::

        g &\leftarrow \pm g_t + \lambda\,\theta_{t-1} \qquad (- \text{ if maximize})\\
        \tilde\eta_t &= \frac{\eta}{1 + (t-1)\,\delta} \qquad (\delta = \text{lr\_decay})\\
        s_t &= s_{t-1} + g^2, \qquad s_0 = \text{initial\_accumulator\_value}\\
        \theta_t &= \theta_{t-1} - \tilde\eta_t\, \frac{g}{\sqrt{s_t} + \epsilon}

    State per parameter: ``step`` and ``sum`` (:math:`s`); as in torch it is created for every parameter when the
    optimizer is built.
    """

    HYPER = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "maximize")

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, maximize: bool = False) -> None:
        super().__init__(params, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)
        for name, param in self.params.items():
            self.state[name] = self._init_state(param)

    @classmethod
    def _check_hyper(cls, *, lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize) -> dict:
        return {
            "lr": _checks.real("lr", lr, low=0.0),
            "lr_decay": _checks.real("lr_decay", lr_decay, low=0.0),
            "weight_decay": _checks.real("weight_decay", weight_decay, low=0.0),
            "initial_accumulator_value": _checks.real("initial_accumulator_value", initial_accumulator_value,
                                                      low=0.0),
            "eps": _checks.real("eps", eps, low=0.0),
            "maximize": _checks.boolean("maximize", maximize),
        }

    @classmethod
    def _buffer_names(cls, hyper: dict) -> tuple[str, ...]:
        return ("step", "sum")

    def _init_state(self, param: np.ndarray) -> dict:
        return {"step": 0, "sum": np.full_like(param, self.initial_accumulator_value)}

    def _update(self, param, grad, state, w0, w1) -> None:
        state["step"] += 1
        step = float(state["step"])
        g = self._effective_grad(param, grad, self.weight_decay, self.maximize, w0, w1)
        clr = self.lr / (1 + (step - 1) * self.lr_decay)
        state_sum = state["sum"]
        np.multiply(g, g, out=w1)
        state_sum += w1
        np.sqrt(state_sum, out=w1)
        w1 += self.eps
        np.multiply(g, -clr, out=w0)
        w0 /= w1
        param += w0
