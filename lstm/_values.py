"""Checks of argument values shared across the package (private)."""

from __future__ import annotations

import numbers


def whole(value, least: int | None = 1) -> bool:
    """``value`` is an integer (Python's or NumPy's; not a bool, not 2.0) of at least ``least`` (None: any)."""
    return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and (least is None or value >= least))


def real(value) -> bool:
    """``value`` is a real number (Python's or NumPy's; not a bool, not a string such as "0.1")."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
