"""Learning-rate schedules that drive ``optimizer.lr`` (torch.optim.lr_scheduler semantics, float for float).

Usage is torch's: build the schedule right after the optimizer (that applies the value for step 0), then call
``sched.step()`` once after each ``opt.step()`` (``ReduceLROnPlateau.step(metric)`` once per evaluation)::

    opt = Adam(model, lr=1e-3)
    sched = SequentialLR(opt, [LinearWarmup(opt, 0.1, total_iters=100), CosineAnnealingLR(opt, T_max=900)], [100])
    for batch in data:
        ...; opt.step(model.grads); sched.step()

To reproduce PyTorch's learning rates exactly, each schedule uses the same formula torch uses when stepped without
an epoch argument; for StepLR, ExponentialLR, LinearLR and CosineAnnealingLR that is the *recursive* (chainable)
form computed from the optimizer's current lr, not the closed form.  The docstrings give both.

As in torch, the first schedule attached to an optimizer records ``optimizer.initial_lr`` (the lr before any
schedule changed it); every schedule on that optimizer uses it as its base lr.

``state_dict()`` is a JSON-able dict; ``load_state_dict()`` restores it and sets ``optimizer.lr`` to the last lr
the schedule produced, so that the order in which optimizer and schedule are restored does not matter.
``get_last_lr()`` returns a one-element list (torch's per-param-group list) and ``last_lr`` the float.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence

from . import _checks
from .optimizer import Optimizer


def _check_optimizer(optimizer, cls: str) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{cls} needs an lstm.optim optimizer, got {type(optimizer).__name__}")
    return optimizer


def _check_keys(sd, expected: tuple, cls: str) -> None:
    _checks.state_dict_keys(sd, expected, cls, "schedule")


class LRScheduler:
    """Base class (torch's ``LRScheduler`` for one parameter group).

    Subclasses define ``HYPER`` (constructor arguments, JSON scalars), ``_check_hyper(**hyper)``, ``_get_lr()``
    (torch's recursive ``get_lr``) and ``_closed_form_lr()`` (used by :class:`SequentialLR` at milestones).
    """

    HYPER: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer, **hyper) -> None:
        self.optimizer = _check_optimizer(optimizer, type(self).__name__)
        for k, v in self._check_hyper(**hyper).items():
            setattr(self, k, v)
        if optimizer.initial_lr is None:
            optimizer.initial_lr = optimizer.lr
        self.base_lr: float = optimizer.initial_lr
        self.last_epoch = -1
        self._is_initial = False
        self._initial_step()

    @classmethod
    def _check_hyper(cls, **hyper) -> dict:
        raise NotImplementedError

    def _get_lr(self) -> float:
        raise NotImplementedError

    def _closed_form_lr(self) -> float:
        raise NotImplementedError

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def step(self) -> None:
        """Advance one epoch/iteration and write the new lr into the optimizer."""
        self._step_count += 1
        self._update_lr()

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            lr = self._get_lr()
        else:
            self.last_epoch = epoch
            lr = self._closed_form_lr()
        self.optimizer.lr = lr
        self._last_lr = self.optimizer.lr

    def get_last_lr(self) -> list[float]:
        """The lr set by the latest step, as a one-element list (torch returns one entry per param group)."""
        return [self._last_lr]

    @property
    def last_lr(self) -> float:
        """The lr set by the latest step."""
        return self._last_lr

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.HYPER)
        return f"{type(self).__name__}({args}, last_epoch={self.last_epoch}, lr={self._last_lr!r})"

    # -- state dicts ---------------------------------------------------------------------------------------------
    _STATE_KEYS = ("type", "hyper", "base_lr", "last_epoch", "step_count", "last_lr")

    def state_dict(self) -> dict:
        return {
            "type": type(self).__name__,
            "hyper": {k: getattr(self, k) for k in self.HYPER},
            "base_lr": self.base_lr,
            "last_epoch": self.last_epoch,
            "step_count": self._step_count,
            "last_lr": self._last_lr,
        }

    def load_state_dict(self, sd: Mapping) -> None:
        cls = type(self).__name__
        _check_keys(sd, self._STATE_KEYS, cls)
        hyper_in = sd["hyper"]
        if not isinstance(hyper_in, Mapping) or set(hyper_in) != set(self.HYPER):
            given = list(hyper_in) if isinstance(hyper_in, Mapping) else type(hyper_in).__name__
            raise ValueError(f"{cls} state dict 'hyper' must have keys {list(self.HYPER)}, got {given}")
        hyper = self._check_hyper(**hyper_in)
        base_lr = _checks.real("base_lr", sd["base_lr"], low=0.0)
        last_epoch = _checks.integer("last_epoch", sd["last_epoch"], low=-1)
        step_count = _checks.integer("step_count", sd["step_count"], low=0)
        last_lr = _checks.real("last_lr", sd["last_lr"], low=0.0)
        for k, v in hyper.items():
            setattr(self, k, v)
        self.base_lr, self.last_epoch, self._step_count, self._last_lr = base_lr, last_epoch, step_count, last_lr
        self.optimizer.lr = last_lr


class StepLR(LRScheduler):
    r"""Decay the lr by ``gamma`` every ``step_size`` epochs.

    Closed form :math:`\eta_t = \eta_0\,\gamma^{\lfloor t / s \rfloor}`; applied recursively as torch does:
    :math:`\eta_t = \gamma\,\eta_{t-1}` when :math:`t > 0` and :math:`t \bmod s = 0`, else :math:`\eta_{t-1}`.
    """

    HYPER = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer, step_size=step_size, gamma=gamma)

    @classmethod
    def _check_hyper(cls, *, step_size, gamma) -> dict:
        return {"step_size": _checks.integer("step_size", step_size, low=1),
                "gamma": _checks.real("gamma", gamma, low=0.0)}

    def _get_lr(self) -> float:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self.optimizer.lr
        return self.optimizer.lr * self.gamma

    def _closed_form_lr(self) -> float:
        return self.base_lr * self.gamma ** (self.last_epoch // self.step_size)


class ExponentialLR(LRScheduler):
    r"""Multiply the lr by ``gamma`` every epoch: :math:`\eta_t = \gamma\,\eta_{t-1}`
    (closed form :math:`\eta_0\gamma^t`)."""

    HYPER = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        super().__init__(optimizer, gamma=gamma)

    @classmethod
    def _check_hyper(cls, *, gamma) -> dict:
        return {"gamma": _checks.real("gamma", gamma, low=0.0)}

    def _get_lr(self) -> float:
        if self._is_initial:
            return self.optimizer.lr
        return self.optimizer.lr * self.gamma

    def _closed_form_lr(self) -> float:
        return self.base_lr * self.gamma**self.last_epoch


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from the base lr :math:`\eta_0` to ``eta_min`` over ``T_max`` epochs (no restarts; past
    ``T_max`` the lr rises again along the same cosine, as in torch).

    Closed form :math:`\eta_t = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})(1 + \cos(\pi t / T_{max}))`.
    Stepped recursively exactly as torch does:

    .. math::

        \eta_t = \begin{cases}
            \eta_{t-1} + \tfrac12(\eta_0 - \eta_{min})(1 - \cos(\pi / T_{max}))
                & (t - 1 - T_{max}) \bmod 2T_{max} = 0 \\
            \eta_{min} + (\eta_{t-1} - \eta_{min})\,
                \dfrac{1 + \cos(\pi t / T_{max})}{1 + \cos(\pi (t-1) / T_{max})} & \text{otherwise}
        \end{cases}
    """

    HYPER = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        super().__init__(optimizer, T_max=T_max, eta_min=eta_min)

    @classmethod
    def _check_hyper(cls, *, T_max, eta_min) -> dict:
        return {"T_max": _checks.integer("T_max", T_max, low=1),
                "eta_min": _checks.real("eta_min", eta_min, low=0.0)}

    def _get_lr(self) -> float:
        t, T, eta_min, lr = self.last_epoch, self.T_max, self.eta_min, self.optimizer.lr
        if self._is_initial:
            return lr
        if self._step_count == 1 and t > 0:
            return eta_min + (self.base_lr - eta_min) * (1 + math.cos(t * math.pi / T)) / 2
        if (t - 1 - T) % (2 * T) == 0:
            return lr + (self.base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
        return (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (lr - eta_min) + eta_min

    def _closed_form_lr(self) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2


class LinearWarmup(LRScheduler):
    r"""Linear ramp of the lr factor from ``start_factor`` to ``end_factor`` over ``total_iters`` steps, then
    constant (torch's ``LinearLR``).

    Closed form :math:`\eta_t = \eta_0\,(f_s + (f_e - f_s)\min(t, T)/T)`.  Stepped recursively as torch does:
    :math:`\eta_0 \leftarrow f_s\eta_0` at construction, then for :math:`1 \le t \le T`

    .. math::

        \eta_t = \eta_{t-1}\Bigl(1 + \frac{f_e - f_s}{T f_s + (t-1)(f_e - f_s)}\Bigr)

    and :math:`\eta_t = \eta_{t-1}` afterwards.
    """

    HYPER = ("start_factor", "end_factor", "total_iters")

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5) -> None:
        super().__init__(optimizer, start_factor=start_factor, end_factor=end_factor, total_iters=total_iters)

    @classmethod
    def _check_hyper(cls, *, start_factor, end_factor, total_iters) -> dict:
        return {"start_factor": _checks.real("start_factor", start_factor, low=0.0, low_open=True, high=1.0),
                "end_factor": _checks.real("end_factor", end_factor, low=0.0, high=1.0),
                "total_iters": _checks.integer("total_iters", total_iters, low=1)}

    def _get_lr(self) -> float:
        lr = self.optimizer.lr
        if self.last_epoch == 0:
            return lr * self.start_factor
        if self._is_initial or self.last_epoch > self.total_iters:
            return lr
        fs, fe = self.start_factor, self.end_factor
        return lr * (1.0 + (fe - fs) / (self.total_iters * fs + (self.last_epoch - 1) * (fe - fs)))

    def _closed_form_lr(self) -> float:
        fs, fe = self.start_factor, self.end_factor
        return self.base_lr * (fs + (fe - fs) * min(self.total_iters, self.last_epoch) / self.total_iters)


#: torch's name for :class:`LinearWarmup`.
LinearLR = LinearWarmup


class SequentialLR:
    """Run ``schedulers[0]`` until ``milestones[0]``, then ``schedulers[1]`` (restarted at its epoch 0), ...
    (torch's ``SequentialLR``; typical use: linear warm-up then cosine decay).

    All schedules must drive the same optimizer; build them first (in order), then pass them here.
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int]) -> None:
        self.optimizer = _check_optimizer(optimizer, "SequentialLR")
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError("SequentialLR needs at least one schedule, got none")
        for i, s in enumerate(schedulers):
            if not isinstance(s, LRScheduler):
                raise ValueError(
                    f"SequentialLR schedules must be StepLR/ExponentialLR/CosineAnnealingLR/LinearWarmup-like "
                    f"LRScheduler objects, got {type(s).__name__} at index {i}"
                )
            if s.optimizer is not optimizer:
                raise ValueError(f"schedule {i} ({type(s).__name__}) drives a different optimizer than SequentialLR")
        if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Sequence):
            raise ValueError(f"SequentialLR milestones must be a list of steps, one fewer than schedules (e.g. [100]), "
                             f"got {_checks._describe(milestones)}")
        milestones = [_checks.integer(f"milestones[{i}]", m, low=1) for i, m in enumerate(milestones)]
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"SequentialLR needs one milestone fewer than schedules: got {len(schedulers)} schedules and "
                f"{len(milestones)} milestones"
            )
        if any(b <= a for a, b in zip(milestones, milestones[1:])):
            raise ValueError(f"milestones must be strictly increasing, got {milestones}")
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = 0
        optimizer.lr = optimizer.initial_lr
        for s in schedulers:
            s.last_epoch -= 1
        first = schedulers[bisect_right(milestones, 0)]
        first._initial_step()
        self._last_lr = first.last_lr

    def step(self) -> None:
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        sched = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            sched._update_lr(0)
        else:
            sched.step()
        self._last_lr = sched.last_lr

    def get_last_lr(self) -> list[float]:
        return [self._last_lr]

    @property
    def last_lr(self) -> float:
        return self._last_lr

    def state_dict(self) -> dict:
        return {"type": "SequentialLR", "milestones": list(self._milestones), "last_epoch": self.last_epoch,
                "last_lr": self._last_lr, "schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, sd: Mapping) -> None:
        _check_keys(sd, ("type", "milestones", "last_epoch", "last_lr", "schedulers"), "SequentialLR")
        if not isinstance(sd["milestones"], Sequence) or list(sd["milestones"]) != self._milestones:
            raise ValueError(f"SequentialLR milestones must be {self._milestones}, "
                             f"the state dict gives {sd['milestones']}")
        subs = sd["schedulers"]
        if not isinstance(subs, Sequence) or len(subs) != len(self._schedulers):
            raise ValueError(
                f"SequentialLR state dict must hold {len(self._schedulers)} schedule states, "
                f"got {len(subs) if isinstance(subs, Sequence) else type(subs).__name__}"
            )
        last_epoch = _checks.integer("last_epoch", sd["last_epoch"], low=0)
        last_lr = _checks.real("last_lr", sd["last_lr"], low=0.0)
        for s, ssd in zip(self._schedulers, subs):
            s.load_state_dict(ssd)
        self.last_epoch, self._last_lr = last_epoch, last_lr
        self.optimizer.lr = last_lr


class ReduceLROnPlateau:
    r"""Multiply the lr by ``factor`` when a metric has stopped improving (torch's ``ReduceLROnPlateau``).

    ``step(metric)``: the metric is *better* than the best so far when (mode ``min``) ``metric < best * (1 -
    threshold)`` (``rel``) or ``metric < best - threshold`` (``abs``), mirrored for mode ``max``.  After more than
    ``patience`` consecutive non-improving steps the lr becomes :math:`\max(\eta \cdot \text{factor},
    \text{min\_lr})` (skipped if that changes it by no more than ``eps``), then ``cooldown`` steps are ignored.
    """

    HYPER = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps")

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0, min_lr: float = 0.0,
                 eps: float = 1e-8) -> None:
        self.optimizer = _check_optimizer(optimizer, "ReduceLROnPlateau")
        for k, v in self._check_hyper(mode=mode, factor=factor, patience=patience, threshold=threshold,
                                      threshold_mode=threshold_mode, cooldown=cooldown, min_lr=min_lr,
                                      eps=eps).items():
            setattr(self, k, v)
        self.last_epoch = 0
        self._last_lr = optimizer.lr
        self.best = self._mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @classmethod
    def _check_hyper(cls, *, mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps) -> dict:
        return {
            "mode": _checks.choice("mode", mode, ("min", "max")),
            "factor": _checks.real("factor", factor, low=0.0, high=1.0, high_open=True),
            "patience": _checks.integer("patience", patience, low=0),
            "threshold": _checks.real("threshold", threshold, low=0.0),
            "threshold_mode": _checks.choice("threshold_mode", threshold_mode, ("rel", "abs")),
            "cooldown": _checks.integer("cooldown", cooldown, low=0),
            "min_lr": _checks.real("min_lr", min_lr, low=0.0),
            "eps": _checks.real("eps", eps, low=0.0),
        }

    @property
    def _mode_worse(self) -> float:
        return math.inf if self.mode == "min" else -math.inf

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metric) -> None:
        """Record one metric value (e.g. the validation loss) and reduce the lr if it has plateaued."""
        try:
            current = float(metric)
        except (TypeError, ValueError):
            raise ValueError(f"ReduceLROnPlateau.step expects a number (the metric), got {metric!r}") from None
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old_lr = float(self.optimizer.lr)
            new_lr = max(old_lr * self.factor, self.min_lr)
            if old_lr - new_lr > self.eps:
                self.optimizer.lr = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self.optimizer.lr

    def get_last_lr(self) -> list[float]:
        return [self._last_lr]

    @property
    def last_lr(self) -> float:
        return self._last_lr

    _STATE_KEYS = ("type", "hyper", "best", "num_bad_epochs", "cooldown_counter", "last_epoch", "last_lr")

    def state_dict(self) -> dict:
        """JSON-able state; an infinite ``best`` (nothing seen yet) is stored as the string ``'inf'``/``'-inf'``."""
        return {
            "type": "ReduceLROnPlateau",
            "hyper": {k: getattr(self, k) for k in self.HYPER},
            "best": _checks.json_float(self.best),
            "num_bad_epochs": self.num_bad_epochs,
            "cooldown_counter": self.cooldown_counter,
            "last_epoch": self.last_epoch,
            "last_lr": self._last_lr,
        }

    def load_state_dict(self, sd: Mapping) -> None:
        _check_keys(sd, self._STATE_KEYS, "ReduceLROnPlateau")
        hyper_in = sd["hyper"]
        if not isinstance(hyper_in, Mapping) or set(hyper_in) != set(self.HYPER):
            given = list(hyper_in) if isinstance(hyper_in, Mapping) else type(hyper_in).__name__
            raise ValueError(f"ReduceLROnPlateau state dict 'hyper' must have keys {list(self.HYPER)}, got {given}")
        hyper = self._check_hyper(**hyper_in)
        best = _checks.from_json_float("best", sd["best"])
        num_bad = _checks.integer("num_bad_epochs", sd["num_bad_epochs"], low=0)
        cooldown_counter = _checks.integer("cooldown_counter", sd["cooldown_counter"], low=0)
        last_epoch = _checks.integer("last_epoch", sd["last_epoch"], low=0)
        last_lr = _checks.real("last_lr", sd["last_lr"], low=0.0)
        for k, v in hyper.items():
            setattr(self, k, v)
        self.best, self.num_bad_epochs, self.cooldown_counter = best, num_bad, cooldown_counter
        self.last_epoch, self._last_lr = last_epoch, last_lr
        self.optimizer.lr = last_lr
