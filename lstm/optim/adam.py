"""Adam and AdamW (decoupled weight decay), with AMSGrad and maximisation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _checks
from .optimizer import Optimizer


def _check_betas(betas) -> tuple[float, float]:
    if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2) with each in [0, 1), got {betas!r}")
    return (_checks.real("betas[0]", betas[0], low=0.0, high=1.0, high_open=True),
            _checks.real("betas[1]", betas[1], low=0.0, high=1.0, high_open=True))


class Adam(Optimizer):
    r"""Adam (``torch.optim.Adam``, single-tensor path), per parameter :math:`\theta` with gradient :math:`g_t`:

    .. math::

        g &\leftarrow \pm g_t + \lambda\,\theta_{t-1}
            \qquad (- \text{ if maximize};\ \text{L2 term only for Adam, see AdamW})\\
        m_t &= m_{t-1} + (1-\beta_1)(g - m_{t-1}) \qquad (\text{lerp};\ = \beta_1 m_{t-1} + (1-\beta_1) g)\\
        v_t &= \beta_2 v_{t-1} + (1-\beta_2)\, g^2\\
        \hat v_t &= \max(\hat v_{t-1}, v_t) \ \text{if amsgrad, else } v_t\\
        \theta_t &= \theta_{t-1} - \frac{\eta}{1-\beta_1^t}\;
            \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1-\beta_2^t} + \epsilon}

    ``t`` is the parameter's own step count (a parameter skipped in a step does not advance it).
    State per parameter: ``step``, ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`) and, with amsgrad,
    ``max_exp_avg_sq`` (:math:`\hat v`).

    ``fused``: None (default) runs each parameter's update as one compiled pass when the compiled backend is
    available, True requires it, False keeps the NumPy operations below; the results are bit-identical (the same
    operations in the same order), the fused pass is ~5× faster on large parameters.  Not part of the state dict.
    """

    HYPER = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize")
    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, maximize: bool = False, *,
                 fused: bool | None = None) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)
        self._fused_update = _fused_kernel(fused)
        #: whether steps run the compiled fused update (``fused`` argument; results are the same either way).
        self.fused = self._fused_update is not None

    @classmethod
    def _check_hyper(cls, *, lr, betas, eps, weight_decay, amsgrad, maximize) -> dict:
        return {
            "lr": _checks.real("lr", lr, low=0.0),
            "betas": _check_betas(betas),
            "eps": _checks.real("eps", eps, low=0.0),
            "weight_decay": _checks.real("weight_decay", weight_decay, low=0.0),
            "amsgrad": _checks.boolean("amsgrad", amsgrad),
            "maximize": _checks.boolean("maximize", maximize),
        }

    @classmethod
    def _buffer_names(cls, hyper: dict) -> tuple[str, ...]:
        return ("step", "exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if hyper["amsgrad"] else ())

    def _init_state(self, param: np.ndarray) -> dict:
        state = {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}
        if self.amsgrad:
            state["max_exp_avg_sq"] = np.zeros_like(param)
        return state

    def _update(self, param, grad, state, w0, w1) -> None:
        lr = self.lr
        beta1, beta2 = self.betas
        wd = self.weight_decay
        state["step"] += 1
        step = float(state["step"])
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5
        decoupled = wd != 0 and self._decoupled
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        if self._fused_update is not None and param.flags.c_contiguous and grad.flags.c_contiguous:
            self._fused_update(param, grad, exp_avg, exp_avg_sq, state.get("max_exp_avg_sq"),
                               decay=1 - lr * wd if decoupled else 1.0, weight_decay=0.0 if self._decoupled else wd,
                               maximize=self.maximize, lerp_weight=1 - beta1, beta2=beta2, step_size=step_size,
                               bias_correction2_sqrt=bias_correction2_sqrt, eps=self.eps)
            return

        # The reference: the fused kernel does exactly these operations, element by element.
        if decoupled:
            param *= 1 - lr * wd
            g = self._effective_grad(param, grad, 0.0, self.maximize, w0, w1)
        else:
            g = self._effective_grad(param, grad, wd, self.maximize, w0, w1)
        self._lerp_(exp_avg, g, 1 - beta1, w1)
        exp_avg_sq *= beta2
        np.multiply(g, 1 - beta2, out=w1)
        w1 *= g
        exp_avg_sq += w1
        # g is dead from here on: w0 and w1 are both free.
        if self.amsgrad:
            max_sq = state["max_exp_avg_sq"]
            np.maximum(max_sq, exp_avg_sq, out=max_sq)
            np.sqrt(max_sq, out=w0)
        else:
            np.sqrt(exp_avg_sq, out=w0)
        w0 /= bias_correction2_sqrt
        w0 += self.eps
        np.multiply(exp_avg, -step_size, out=w1)
        w1 /= w0
        param += w1


def _fused_kernel(fused: bool | None):
    """The compiled fused update (``lstm.kernels.compiled.adam_update``), or None for the NumPy path.

    ``fused=None`` uses it when the compiled backend loads (as ``backend="auto"`` layers do); True requires it;
    False keeps the NumPy operations.  Both give bit-identical results."""
    if fused is False:
        return None
    if fused not in (None, True):
        raise ValueError(f"fused must be True, False or None (use the compiled update when available), got {fused!r}")
    from .. import kernels
    module = kernels.get_backend("numba" if fused else "auto")
    return getattr(module, "adam_update", None)


class AdamW(Adam):
    r"""AdamW (``torch.optim.AdamW``): Adam with decoupled weight decay, applied to the parameter before the
    moment updates instead of being added to the gradient:

    .. math::

        \theta &\leftarrow \theta_{t-1}\,(1 - \eta\lambda)\\
        m_t, v_t, \hat v_t &\ \text{as in Adam with } g = \pm g_t \ (\text{no L2 term})\\
        \theta_t &= \theta - \frac{\eta}{1-\beta_1^t}\;\frac{m_t}{\sqrt{\hat v_t}/\sqrt{1-\beta_2^t} + \epsilon}

    Default ``weight_decay`` is ``1e-2`` (as in torch).
    """

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, maximize: bool = False, *,
                 fused: bool | None = None) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, fused=fused)
