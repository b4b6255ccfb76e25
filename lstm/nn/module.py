"""The parameter-holding base class every layer and model derives from.

A :class:`Module` owns named parameters (plain NumPy arrays, updated in place by optimizers) and a gradient array of
the same name and shape for each.  Modules assigned as attributes become children; their parameters appear under a
dotted prefix (``"encoder.weight_ih_l0"``), exactly like PyTorch's ``state_dict`` keys.  Each parameter is also an
attribute (``lstm.weight_hh_l0``); assigning one copies the values into the existing array, so optimizers and
compiled steppers holding it stay valid.

Forward is ``__call__``; backward is an explicit ``backward(...)`` method that *overwrites* ``grads`` (or adds to
them with ``accumulate=True``).  There is no autograd: each layer writes its own backward by hand.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

import numpy as np

from .. import _writes

SUPPORTED_DTYPES = (np.float32, np.float64)


class IncompatibleKeys(NamedTuple):
    """What :meth:`Module.load_state_dict` returns, as PyTorch's: the names it had no value for, and the names it
    did not know."""

    missing_keys: list
    unexpected_keys: list

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"


def resolve_dtype(dtype) -> np.dtype:
    """float32 (default) or float64; anything else is refused with a one-line reason."""
    dt = np.dtype(np.float32 if dtype is None else dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dt}; pass dtype=np.float32 or dtype=np.float64")
    return dt


def resolve_rng(seed) -> np.random.Generator:
    """A ``numpy.random.Generator`` from an int seed, an existing generator, or None (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be an int, a numpy.random.Generator or None, got {type(seed).__name__}")


def dotted(prefix: str, name: str) -> str:
    """``name`` under ``prefix`` in a state dict: "rnn" + "weight_hh_l0" → "rnn.weight_hh_l0" ("" adds nothing)."""
    return f"{prefix}.{name}" if prefix else name


class Module:
    """Base class: named parameters + same-named gradients, children, train/eval mode, state dicts."""

    def __init__(self) -> None:
        object.__setattr__(self, "_params", {})
        object.__setattr__(self, "_grads", {})
        object.__setattr__(self, "_children", {})
        object.__setattr__(self, "training", True)

    def __getstate__(self) -> dict:
        """For pickle and copy: everything but the steppers :meth:`lstm.nn.LSTM.step` caches (they point at this
        object's memory)."""
        state = self.__dict__.copy()
        state.pop("_step_cache", None)
        return state

    # -- registration ------------------------------------------------------------------------------------------
    def __getattr__(self, name: str):
        """A parameter by name, as in PyTorch: ``layer.weight_hh_l0`` is the array itself (``parameters()`` gives
        the same object).  Assigning to it copies the new values in place (see :meth:`__setattr__`)."""
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __dir__(self):
        return sorted({*super().__dir__(), *self.__dict__.get("_params", ())})

    def __setattr__(self, name: str, value) -> None:
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            # Optimizers and kernels hold this array: write the new values into it rather than replace it.
            target, value = params[name], np.asarray(value)
            if value.shape != target.shape:
                raise ValueError(f"{type(self).__name__}.{name} has shape {target.shape}, got {value.shape}; "
                                 f"assign an array of the same shape (it is copied in place)")
            np.copyto(target, value, casting="unsafe")
            _writes.note()
            return
        if isinstance(value, Module):
            self._children[name] = value
        elif name in self._children:
            del self._children[name]
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        """``del model.child`` removes the child and its parameters from the tree, as in PyTorch (and ``del
        layer.weight`` the parameter and its gradient)."""
        if name in self._params:
            del self._params[name], self._grads[name]
            return
        self._children.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, value: np.ndarray) -> np.ndarray:
        """Add a parameter (and a zero gradient of the same shape) under ``name``."""
        value = np.ascontiguousarray(value)
        self._params[name] = value
        self._grads[name] = np.zeros_like(value)
        return value

    # -- views over the tree -----------------------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """(dotted name, module) for this module (named ``prefix``, "" by default) and every descendant, parents
        first, as ``torch.nn.Module.named_modules``: ``("", net), ("rnn", net.rnn), ("head", net.head)``."""
        yield prefix, self
        for name, child in self._children.items():
            yield from child.named_modules(dotted(prefix, name))

    def modules(self) -> Iterator["Module"]:
        """This module and every descendant, as :meth:`named_modules` lists them."""
        for _, mod in self.named_modules():
            yield mod

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        """(name, module) for each direct child, in the order they were assigned."""
        yield from self._children.items()

    def children(self) -> Iterator["Module"]:
        yield from self._children.values()

    def parameters(self) -> dict[str, np.ndarray]:
        """All parameters of this module and its children, by dotted name (the arrays themselves, not copies)."""
        return self._by_name("_params")

    def named_parameters(self) -> Iterator[tuple[str, np.ndarray]]:
        """(dotted name, parameter) pairs, as ``torch.nn.Module.named_parameters`` (:meth:`parameters` as a dict)."""
        yield from self.parameters().items()

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """Gradients by the same names as :meth:`parameters` (the arrays themselves: backward writes into them)."""
        return self._by_name("_grads")

    def _by_name(self, table: str) -> dict[str, np.ndarray]:
        return {dotted(prefix, name): value for prefix, mod in self.named_modules()
                for name, value in getattr(mod, table).items()}

    def zero_grad(self) -> None:
        for g in self.grads.values():
            g.fill(0)

    def num_parameters(self) -> int:
        return int(sum(p.size for p in self.parameters().values()))

    # -- mode --------------------------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        for _, mod in self.named_modules():
            object.__setattr__(mod, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    # -- state dicts -------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter as ``{name: ndarray}`` (PyTorch names and shapes)."""
        return {name: value.copy() for name, value in self.parameters().items()}

    def load_state_dict(self, state: dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays into the parameters in place; return the missing and unexpected names (both empty when
        ``strict``), as ``torch.nn.Module.load_state_dict`` does.

        Names and shapes must match exactly (``strict=False`` skips missing and unexpected names, never shapes).
        Values are cast to the module's dtype.  Everything is checked before anything is copied: a refused state
        dict leaves the module as it was.
        """
        if not isinstance(state, dict):
            raise TypeError(f"load_state_dict expects a dict {{name: ndarray}}, got {type(state).__name__}")
        params = self.parameters()
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        if strict and (missing or unexpected):
            raise ValueError(
                f"state dict does not match this {type(self).__name__}: missing {missing or 'none'}, "
                f"unexpected {unexpected or 'none'}; build the module with the same configuration or pass strict=False"
            )
        values = {}
        for name, target in params.items():
            if name not in state:
                continue
            value = np.asarray(state[name])
            if value.shape != target.shape:
                raise ValueError(
                    f"shape mismatch for {name!r}: this module has {target.shape}, the state dict gives {value.shape}; "
                    f"build the module with the configuration the state dict was saved from"
                )
            if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
                raise TypeError(f"{name!r} must hold numbers, got dtype {value.dtype}")
            values[name] = value
        for name, value in values.items():
            np.copyto(params[name], value, casting="unsafe")
        _writes.note()
        return IncompatibleKeys(missing, unexpected)

    def __repr__(self) -> str:
        """As PyTorch prints a module: its settings, then each child on its own line, indented."""
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._children.items()]
        if not child_lines:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(extra_lines + child_lines) + "\n)"

    def extra_repr(self) -> str:
        return ""


def write_grad(target: np.ndarray, value: np.ndarray, accumulate: bool) -> None:
    """Overwrite (default) or add ``value`` into a gradient array in place, keeping references valid."""
    if accumulate:
        target += value
    else:
        np.copyto(target, value, casting="unsafe")
