"""RMSprop, optionally centred and with momentum."""

from __future__ import annotations

import numpy as np

from . import _checks
from .optimizer import Optimizer


class RMSprop(Optimizer):
    r"""RMSprop (``torch.optim.RMSprop``, single-tensor path), per parameter :math:`\theta`, gradient :math:`g_t`:

    .. math::

        g &\leftarrow \pm g_t + \lambda\,\theta_{t-1} \qquad (- \text{ if maximize})\\
        v_t &= \alpha\, v_{t-1} + (1-\alpha)\, g^2\\
        \bar g_t &= \bar g_{t-1} + (1-\alpha)(g - \bar g_{t-1}) \qquad (\text{lerp; only if centered})\\
        d_t &= \sqrt{v_t - \bar g_t^2} + \epsilon \ \text{ if centered, else } \sqrt{v_t} + \epsilon\\
        b_t &= \mu\, b_{t-1} + g / d_t, \quad \theta_t = \theta_{t-1} - \eta\, b_t
            \qquad \text{if } \mu > 0\\
        \theta_t &= \theta_{t-1} - \eta\, g / d_t \qquad \text{otherwise}

    State per parameter: ``step``, ``square_avg`` (:math:`v`), ``momentum_buffer`` (:math:`b`, if momentum > 0),
    ``grad_avg`` (:math:`\bar g`, if centered).
    """

    HYPER = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize")

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False, maximize: bool = False) -> None:
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                         centered=centered, maximize=maximize)

    @classmethod
    def _check_hyper(cls, *, lr, alpha, eps, weight_decay, momentum, centered, maximize) -> dict:
        return {
            "lr": _checks.real("lr", lr, low=0.0),
            "alpha": _checks.real("alpha", alpha, low=0.0, high=1.0),
            "eps": _checks.real("eps", eps, low=0.0),
            "weight_decay": _checks.real("weight_decay", weight_decay, low=0.0),
            "momentum": _checks.real("momentum", momentum, low=0.0),
            "centered": _checks.boolean("centered", centered),
            "maximize": _checks.boolean("maximize", maximize),
        }

    @classmethod
    def _buffer_names(cls, hyper: dict) -> tuple[str, ...]:
        return (("step", "square_avg") + (("momentum_buffer",) if hyper["momentum"] > 0 else ())
                + (("grad_avg",) if hyper["centered"] else ()))

    def _init_state(self, param: np.ndarray) -> dict:
        state = {"step": 0, "square_avg": np.zeros_like(param)}
        if self.momentum > 0:
            state["momentum_buffer"] = np.zeros_like(param)
        if self.centered:
            state["grad_avg"] = np.zeros_like(param)
        return state

    def _update(self, param, grad, state, w0, w1) -> None:
        alpha = self.alpha
        state["step"] += 1
        g = self._effective_grad(param, grad, self.weight_decay, self.maximize, w0, w1)

        square_avg = state["square_avg"]
        square_avg *= alpha
        np.multiply(g, 1 - alpha, out=w1)
        w1 *= g
        square_avg += w1

        if self.centered:
            grad_avg = state["grad_avg"]
            self._lerp_(grad_avg, g, 1 - alpha, w1)
            np.multiply(grad_avg, grad_avg, out=w1)
            np.subtract(square_avg, w1, out=w1)
            np.sqrt(w1, out=w1)
        else:
            np.sqrt(square_avg, out=w1)
        w1 += self.eps
        avg = w1

        if self.momentum > 0:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            np.divide(g, avg, out=w1)
            buf += w1
            np.multiply(buf, self.lr, out=w1)
            param -= w1
        else:
            np.multiply(g, -self.lr, out=w0)
            w0 /= avg
            param += w0
