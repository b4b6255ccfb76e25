"""Recurrent kernels: one layer, one direction, forward and backward through time.

``reference`` is plain NumPy and is the specification.  ``compiled`` is the same math compiled with Numba
(``backend="numba"``).  :func:`get_backend` returns the module a layer calls; every backend exposes the same
functions (``lstm_forward``, ``lstm_backward``, ``gru_forward``, ``gru_backward``, ``rnn_forward``,
``rnn_backward``, and ``matmul`` for the dense layers) with the same signatures and results.

``"auto"`` is the compiled backend when Numba (and SciPy, whose BLAS it calls) can be imported, else the reference.
The compiled module is imported on first use, so ``import lstm`` stays fast and does not load Numba.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType

from . import reference

BACKENDS = ("auto", "reference", "numba")


def drop_stale_caches(directory: Path) -> int:
    """Delete Numba's cache files in ``directory/__pycache__`` that are older than the newest ``*.py`` beside them;
    returns how many.

    Numba checks a cached kernel against its own source file only, but the kernels here compile in functions of
    their sibling modules (σ and tanh, the micro-kernel, the pool): after an edit to one of those, a kernel whose
    own file did not change would load stale machine code.  So any cache older than any kernel source goes (the
    next call compiles afresh).  A pip install writes all sources before any cache, so only edits trigger this.
    Unreadable or read-only directories, and sources stamped in the future (a skewed clock would otherwise make
    every process compile again), are left alone."""
    try:
        newest = max(p.stat().st_mtime for p in directory.glob("*.py"))
        if newest > time.time():
            return 0
        stale = [f for f in (directory / "__pycache__").glob("*.nb[ic]") if f.stat().st_mtime < newest]
        for f in stale:
            f.unlink()
        return len(stale)
    except (OSError, ValueError):
        return 0


drop_stale_caches(Path(__file__).parent)

_compiled: ModuleType | None = None
_compiled_error: Exception | None = None


def _load_compiled() -> ModuleType | None:
    global _compiled, _compiled_error
    if _compiled is None and _compiled_error is None:
        try:
            from . import compiled
            _compiled = compiled
        except ImportError as exc:   # numba or scipy missing
            _compiled_error = exc
    return _compiled


def compiled_function(name: str):
    """The compiled backend's function ``name`` (e.g. ``"sum_squares"``), or None where Numba cannot be imported:
    for the places outside the layers (losses, clipping) that use a compiled pass when there is one."""
    return getattr(get_backend("auto"), name, None)


def get_backend(name: str) -> ModuleType:
    """The kernel module for ``name``: 'reference', 'numba', or 'auto' (numba if importable, else reference)."""
    if name == "reference":
        return reference
    if name == "auto":
        return _load_compiled() or reference
    if name == "numba":
        module = _load_compiled()
        if module is None:
            raise ImportError(f"backend 'numba' needs numba and scipy: pip install numba scipy ({_compiled_error})")
        return module
    raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
