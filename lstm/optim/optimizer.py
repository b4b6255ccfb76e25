"""The optimizer base class: parameters by name, per-parameter state, serialisable state dicts.

An optimizer holds a ``dict[str, np.ndarray]`` of parameters (the very arrays the model owns) and updates them
**in place** from a same-named gradient dict::

    opt = Adam(model, lr=1e-3)           # or Adam(model.parameters(), ...)
    model.backward(...)                  # fills model.grads
    opt.step(model.grads)                # params[name] is updated in place for every name present in grads

Semantics follow ``torch.optim`` with ``foreach=False`` (the single-tensor loop) operation for operation, so that
float64 trajectories agree with PyTorch to rounding (the tests require <= 1e-12 over 50+ steps):

* a parameter whose name is absent from ``grads`` (or maps to ``None``) is skipped, exactly like a torch parameter
  whose ``.grad`` is ``None``: its state (including its private step counter) is left untouched;
* names in ``grads`` that the optimizer does not own are ignored (so an optimizer over a subset of a model's
  parameters can be stepped with the model's full gradient dict);
* gradients are never modified.

Numerics: torch's CPU kernels fuse multiply-adds (``add(alpha=)``, ``addcmul``, ``lerp`` are FMAs) and use a
vectorised ``sqrt``; NumPy rounds every operation separately.  The two therefore agree to a few ulps per step
(about 1e-15 on O(1) parameters after 60 steps), not to the last bit.  Only ill-conditioned settings amplify those
ulps (e.g. ``beta2 = 0`` in Adam divides by ``|g_t|``, and a weight-decay term that cancels the gradient at a
parameter's first adaptive step is divided by ``eps``).  Our own runs are deterministic: restoring a
:meth:`state_dict` and continuing is bit-identical to never having stopped.

State dict layout (every leaf a JSON scalar/string/list or an ``np.ndarray``)::

    {"type": "Adam",
     "hyper": {"lr": 0.001, "betas": [0.9, 0.999], ..., "initial_lr": null},
     "step": 40,                                   # number of opt.step() calls
     "state": {"weight_ih_l0": {"step": array(40), "exp_avg": array(...), "exp_avg_sq": array(...)}, ...}}

``"state"`` only lists parameters that have state (a parameter that never received a gradient has none yet, as in
torch).  The per-parameter ``"step"`` buffer is a 0-d int64 array (torch keeps it per parameter too: it drives the
bias corrections of Adam and the decay of Adagrad).  :func:`lstm.optim.flatten_state` splits such a dict into
arrays for safetensors plus JSON metadata.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from .. import _writes
from . import _checks

_REGISTRY: dict[str, type["Optimizer"]] = {}


def resolve_params(params) -> dict[str, np.ndarray]:
    """The ``{name: ndarray}`` dict behind ``params`` (a dict, or anything with a ``.parameters()`` method)."""
    if not isinstance(params, Mapping) and callable(getattr(params, "parameters", None)):
        params = params.parameters()
    if not isinstance(params, Mapping):
        raise TypeError(
            f"params must be a dict {{name: np.ndarray}} or an object with a .parameters() method returning one, "
            f"got {type(params).__name__}"
        )
    if len(params) == 0:
        raise ValueError("params must hold at least one parameter, got an empty dict")
    out: dict[str, np.ndarray] = {}
    seen: dict[int, str] = {}
    for name, value in params.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"parameter names must be non-empty strings, got {name!r}")
        if not isinstance(value, np.ndarray):
            raise TypeError(
                f"parameter {name!r} must be an np.ndarray (updated in place), got {type(value).__name__}"
            )
        if value.dtype not in (np.float32, np.float64):
            raise TypeError(f"parameter {name!r} must be float32 or float64, got dtype {value.dtype}")
        if not value.flags.writeable:
            raise ValueError(f"parameter {name!r} must be a writeable array (it is updated in place), "
                             f"got a read-only one")
        if id(value) in seen:
            raise ValueError(f"parameters {seen[id(value)]!r} and {name!r} are the same array (one module assigned "
                             f"twice?), which each step would update twice; pass every array under one name only")
        seen[id(value)] = name
        out[name] = value
    return out


class Optimizer:
    """Base class.  Subclasses define the hyperparameters, the per-parameter state and the update rule.

    Subclass contract:

    * ``HYPER``: names of the hyperparameters (constructor keywords, in order; ``"lr"`` first);
    * ``_check_hyper(**hyper) -> dict``: validated, normalised hyperparameters (raises ValueError);
    * ``_buffer_names(hyper) -> tuple``: the state buffers one parameter carries under those hyperparameters;
    * ``_init_state(param) -> dict``: fresh state for one parameter (lazily created at its first gradient);
    * ``_update(param, grad, state, w0, w1)``: the in-place update of one parameter; ``w0``/``w1`` are scratch
      arrays shaped like the parameter (reused across steps, so a step allocates nothing after the first).
    """

    HYPER: ClassVar[tuple[str, ...]] = ("lr",)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def __init__(self, params, **hyper) -> None:
        self.params: dict[str, np.ndarray] = resolve_params(params)
        self._apply_hyper(self._check_hyper(**hyper))
        #: lr before any schedule touched it; set by the first schedule attached (torch's ``group["initial_lr"]``).
        self.initial_lr: float | None = None
        #: number of ``step()`` calls so far.
        self.step_count: int = 0
        #: per-parameter state: ``{name: {buffer: ndarray, "step": int}}``.
        self.state: dict[str, dict] = {}
        self._work: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # -- hyperparameters -----------------------------------------------------------------------------------------
    @property
    def lr(self) -> float:
        """The learning rate (a settable float; schedules change it between steps)."""
        return self._lr

    @lr.setter
    def lr(self, value) -> None:
        self._lr = _checks.real("lr", value, low=0.0)

    @property
    def hyper(self) -> dict:
        """Current hyperparameters as JSON scalars (``betas`` as a list)."""
        out = {}
        for name in self.HYPER:
            v = getattr(self, name)
            out[name] = list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def _check_hyper(cls, **hyper) -> dict:
        raise NotImplementedError

    def _apply_hyper(self, hyper: dict) -> None:
        for name in self.HYPER:
            setattr(self, name, hyper[name])

    @classmethod
    def _buffer_names(cls, hyper: dict) -> tuple[str, ...]:
        raise NotImplementedError

    def _init_state(self, param: np.ndarray) -> dict:
        raise NotImplementedError

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict, w0: np.ndarray, w1: np.ndarray) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.HYPER)
        return f"{type(self).__name__}({len(self.params)} parameters, {args})"

    # -- the update ----------------------------------------------------------------------------------------------
    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        """Apply one update to every parameter whose name is in ``grads`` (all gradients are checked first)."""
        if not isinstance(grads, Mapping):
            raise TypeError(f"step expects a dict {{name: np.ndarray}} of gradients, got {type(grads).__name__}")
        todo = []
        for name, param in self.params.items():
            grad = grads.get(name)
            if grad is None:
                continue
            grad = np.asarray(grad)
            if grad.dtype not in (np.float32, np.float64):
                raise TypeError(f"gradient {name!r} must be float32 or float64, got dtype {grad.dtype}")
            if grad.shape != param.shape:
                raise ValueError(
                    f"gradient {name!r} must have the parameter's shape {param.shape}, got {grad.shape}"
                )
            if grad.dtype != param.dtype:
                grad = grad.astype(param.dtype)
            todo.append((name, param, grad))
        for name, param, grad in todo:
            state = self.state.get(name)
            if state is None:
                state = self.state[name] = self._init_state(param)
            work = self._work.get(name)
            if work is None:
                work = self._work[name] = (np.empty_like(param), np.empty_like(param))
            self._update(param, grad, state, *work)
        self.step_count += 1
        _writes.note()

    @staticmethod
    def _effective_grad(param, grad, weight_decay: float, maximize: bool, w0, w1) -> np.ndarray:
        """``g = (-grad if maximize else grad) + weight_decay * param`` (L2 penalty; torch's ``grad.add(param,
        alpha=wd)``), written into ``w0`` when it differs from ``grad`` (the caller's gradient is never modified)."""
        g = grad
        if maximize:
            np.negative(grad, out=w0)
            g = w0
        if weight_decay != 0:
            if g is w0:
                np.multiply(param, weight_decay, out=w1)
                w0 += w1
            else:
                np.multiply(param, weight_decay, out=w0)
                w0 += grad
            g = w0
        return g

    @staticmethod
    def _lerp_(start: np.ndarray, end: np.ndarray, weight: float, tmp: np.ndarray) -> None:
        """``start <- start + weight * (end - start)`` in place, with torch's two-sided formula (ATen ``lerp``):
        ``|weight| < 0.5``: ``start + weight * (end - start)``; else ``end - (end - start) * (1 - weight)``."""
        np.subtract(end, start, out=tmp)
        if abs(weight) < 0.5:
            tmp *= weight
            start += tmp
        else:
            tmp *= 1.0 - weight
            np.subtract(end, tmp, out=start)

    # -- state dicts ---------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """A deep copy of the optimizer state (see the module docstring for the layout)."""
        state = {}
        for name, st in self.state.items():
            if not st:
                continue
            state[name] = {
                k: (np.array(v, dtype=np.int64) if k == "step" else v.copy()) for k, v in st.items()
            }
        hyper = self.hyper
        hyper["initial_lr"] = self.initial_lr
        return {"type": type(self).__name__, "hyper": hyper, "step": self.step_count, "state": state}

    def load_state_dict(self, sd: Mapping) -> None:
        """Restore a :meth:`state_dict` (hyperparameters, step count, buffers); arrays are copied in.

        Everything is validated before anything changes; any mismatch raises a one-line ValueError.
        """
        cls = type(self).__name__
        _checks.state_dict_keys(sd, ("type", "hyper", "step", "state"), cls, "optimizer")

        hyper_in = sd["hyper"]
        names = (*self.HYPER, "initial_lr")
        if not isinstance(hyper_in, Mapping):
            raise ValueError(f"state dict 'hyper' must be a dict with keys {list(names)}, "
                             f"got {type(hyper_in).__name__}")
        missing = [k for k in names if k not in hyper_in]
        unexpected = [k for k in hyper_in if k not in names]
        if missing or unexpected:
            raise ValueError(
                f"state dict 'hyper' of {cls} must have keys {list(names)}, "
                f"missing {missing or 'none'}, unexpected {unexpected or 'none'}"
            )
        hyper = self._check_hyper(**{k: hyper_in[k] for k in self.HYPER})
        initial_lr = hyper_in["initial_lr"]
        if initial_lr is not None:
            initial_lr = _checks.real("hyper['initial_lr']", initial_lr, low=0.0)
        step_count = _checks.integer("state dict 'step'", sd["step"], low=0)

        state_in = sd["state"]
        if not isinstance(state_in, Mapping):
            raise ValueError(
                f"state dict 'state' must be a dict {{param_name: {{buffer: ndarray}}}}, got {type(state_in).__name__}"
            )
        buffers = self._buffer_names(hyper)
        new_state: dict[str, dict] = {}
        for pname, bufs in state_in.items():
            if pname not in self.params:
                raise ValueError(
                    f"state dict has state for unknown parameter {pname!r}; this optimizer's parameters are "
                    f"{list(self.params)}"
                )
            if not isinstance(bufs, Mapping):
                raise ValueError(
                    f"state of parameter {pname!r} must be a dict {{buffer: ndarray}}, got {type(bufs).__name__}"
                )
            if not bufs:
                continue
            if set(bufs) != set(buffers):
                raise ValueError(
                    f"state of parameter {pname!r} must have buffers {list(buffers)} for {cls} with these "
                    f"hyperparameters, got {list(bufs)}"
                )
            param = self.params[pname]
            st = {}
            for bname in buffers:
                arr = bufs[bname]
                if not isinstance(arr, np.ndarray) or not (
                    np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
                ):
                    what = f"dtype {arr.dtype}" if isinstance(arr, np.ndarray) else type(arr).__name__
                    raise ValueError(f"state buffer {pname!r}/{bname!r} must be a numeric np.ndarray, got {what}")
                if bname == "step":
                    if arr.shape != () or not float(arr) >= 0 or float(arr) != math.floor(float(arr)):
                        raise ValueError(
                            f"state buffer {pname!r}/'step' must be a 0-d array holding a count >= 0, "
                            f"got shape {arr.shape} value {arr.tolist()!r}"
                        )
                    st["step"] = int(arr)
                else:
                    if arr.shape != param.shape:
                        raise ValueError(
                            f"state buffer {pname!r}/{bname!r} must have the parameter's shape {param.shape}, "
                            f"got {arr.shape}"
                        )
                    st[bname] = np.array(arr, dtype=param.dtype, copy=True, order="C")
            new_state[pname] = st

        self._apply_hyper(hyper)
        self.initial_lr = initial_lr
        self.step_count = step_count
        self.state = new_state


def optimizer_from_state_dict(params, sd: Mapping) -> Optimizer:
    """Build the optimizer named by ``sd["type"]`` with the saved hyperparameters and load ``sd`` into it."""
    if not isinstance(sd, Mapping) or not isinstance(sd.get("type"), str):
        raise ValueError(f"expected an optimizer state dict with a 'type' string, got {type(sd).__name__}")
    cls = _REGISTRY.get(sd["type"])
    if cls is None:
        raise ValueError(f"unknown optimizer type {sd['type']!r}; known types are {sorted(_REGISTRY)}")
    hyper = sd.get("hyper")
    if not isinstance(hyper, Mapping):
        raise ValueError(f"state dict 'hyper' must be a dict, got {type(hyper).__name__}")
    opt = cls(params, **{k: v for k, v in hyper.items() if k in cls.HYPER})
    opt.load_state_dict(sd)
    return opt
