"""Recurrent kernels: one layer, one direction, forward and backward through time.

``reference`` is plain NumPy and is the specification.  :func:`get_backend` returns the module a layer calls;
every backend exposes the same functions (``lstm_forward``, ``lstm_backward``, ``gru_forward``, ``gru_backward``,
``rnn_forward``, ``rnn_backward``) with the same signatures and results.
"""

from __future__ import annotations

from types import ModuleType

from . import reference

BACKENDS = ("auto", "reference")


def get_backend(name: str) -> ModuleType:
    """The kernel module for ``name`` ('auto' picks the fastest available; today that is 'reference')."""
    if name in ("auto", "reference"):
        return reference
    raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
