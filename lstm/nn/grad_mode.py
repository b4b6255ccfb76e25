"""Inference mode: ``with lstm.nn.no_grad():`` layers keep nothing for backward.

A recurrent layer's forward call normally keeps every step's gates, cell states and inputs so that ``backward``
can run (for an LSTM, about 7·T·B·H numbers per layer).  Inside ``no_grad()`` it keeps none of them: the compiled
kernel then cycles through buffers one or two steps long that stay in the CPU caches, which is faster, and a
long sequence needs no memory proportional to its length.  The outputs are identical.  ``backward()`` after such
a call is refused with a clear message, as is asking for a trace (``return_trace=True`` keeps what it needs).
Linear, Embedding and attention layers likewise keep no inputs inside ``no_grad()``.

Like ``torch.no_grad``: a context manager or a decorator, per thread, nestable::

    with lstm.nn.no_grad():
        y, state = layer(x)

Evaluation mode (``.eval()``) is a separate switch: it turns dropout off, and says nothing about backward.
"""

from __future__ import annotations

import contextlib
import threading

_local = threading.local()


def is_grad_enabled() -> bool:
    """False inside :class:`no_grad` (on this thread), else True."""
    return getattr(_local, "enabled", True)


class no_grad(contextlib.ContextDecorator):
    """Context manager / decorator: forward calls inside keep nothing for backward (faster, less memory)."""

    def __enter__(self) -> "no_grad":
        self._previous = is_grad_enabled()
        _local.enabled = False
        return self

    def __exit__(self, *exc) -> None:
        _local.enabled = self._previous
