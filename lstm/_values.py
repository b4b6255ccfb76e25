"""Checks of argument values shared across the package (private)."""

import numbers


def whole(value, least: int = 1) -> bool:
    """``value`` is an integer (Python's or NumPy's; not a bool, not 2.0) of at least ``least``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= least
