"""Hyperparameter checks shared by optimizers and schedules.

Every failure is a one-line :class:`ValueError` that says what was expected and what was given.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

from .._english import article


def _describe(value) -> str:
    return repr(value) if isinstance(value, (numbers.Number, str, type(None))) else f"a {type(value).__name__}"


def real(name: str, value, *, low: float | None = None, high: float | None = None, low_open: bool = False,
         high_open: bool = False, finite: bool = True) -> float:
    """``value`` as a Python float, checked to lie in the interval ``low .. high`` (closed unless ``*_open``)."""
    lo_br, hi_br = ("(" if low_open else "["), (")" if high_open else "]")
    interval = f"{lo_br}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi_br}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number in {interval}, got {_describe(value)}")
    v = float(value)
    bad = math.isnan(v) or (finite and math.isinf(v))
    if low is not None:
        bad = bad or (v <= low if low_open else v < low)
    if high is not None:
        bad = bad or (v >= high if high_open else v > high)
    if bad:
        raise ValueError(f"{name} must be a {'finite ' if finite else ''}number in {interval}, got {value!r}")
    return v


def integer(name: str, value, *, low: int | None = None) -> int:
    """``value`` as a Python int (bools refused), at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer{'' if low is None else f' >= {low}'}, got {_describe(value)}")
    v = int(value)
    if low is not None and v < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {v}")
    return v


def boolean(name: str, value) -> bool:
    """``value`` must be a real bool (``0``/``1`` are refused so that swapped positional arguments are caught)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {_describe(value)}")
    return value


def choice(name: str, value, options: tuple) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(repr(o) for o in options)}; got {_describe(value)}")
    return value


def json_float(x: float):
    """A float for JSON: finite values as themselves, infinities and NaN as the strings 'inf', '-inf', 'nan'."""
    x = float(x)
    return x if math.isfinite(x) else repr(x)


def from_json_float(name: str, x) -> float:
    """Inverse of :func:`json_float`."""
    if isinstance(x, str) and x in ("inf", "-inf", "nan"):
        return float(x)
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise ValueError(f"{name} must be a number or one of 'inf', '-inf', 'nan', got {_describe(x)}")
    return float(x)


def state_dict_keys(sd, expected: tuple, cls: str, what: str) -> None:
    """A state dict made by ``cls.state_dict()``: a mapping with exactly ``expected`` keys and ``type == cls``."""
    if not isinstance(sd, Mapping):
        raise ValueError(
            f"{cls}.load_state_dict expects the dict made by {cls}.state_dict() (keys {', '.join(expected)}), "
            f"got {type(sd).__name__}"
        )
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    if missing or unexpected:
        raise ValueError(
            f"{what} state dict must have keys {list(expected)}, missing {missing or 'none'}, "
            f"unexpected {unexpected or 'none'}"
        )
    if sd["type"] != cls:
        raise ValueError(f"{what} state dict is for type {sd['type']!r}, but this {what} is {article(cls)} {cls!r}")
