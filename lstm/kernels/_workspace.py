"""Reused memory for the compiled kernels' large arrays (private).

A forward or backward pass allocates a handful of arrays of T·B·H values: the gate cache, the states, the
outputs, the packed weights.  Large fresh NumPy arrays come from glibc's ``mmap``: every 4 KB page faults when it
is first touched, and two threads faulting at once contend in the kernel.  Measured on the small grid size
(I 32, H 64, B 16, T 100, 2 threads): 1.5–1.9 ms per forward pass on fresh memory against 0.7 ms on memory
touched before; medium 19.5 against 14.1 ms.  So :func:`empty` hands out large arrays from buffers kept between
calls.  Small arrays come from the same pool: handing out a kept buffer (~1 µs) is cheaper than aligning a fresh one.

Reuse is safe by construction: a buffer is handed out again only when nothing but this pool refers to it.  Every
array :func:`empty` returns is a view of its buffer, and every NumPy view (the caches kept for backward, the
i/f/g/o trace views, an output the caller still holds, views of those) keeps a reference to that buffer, so its
reference count says exactly whether anyone else can still see its contents.  Free buffers beyond ``BUDGET``
bytes are released, least recently used first; :func:`release` drops every free one.

Every array starts on a 64-byte cache line, large or small.  NumPy's own start 16 bytes into one, so two threads
writing neighbouring row blocks (the batch chunks of :mod:`._pool`) shared a line at every block boundary of every
step: the tiny forward's two 4-row chunks took 90 µs each side by side instead of 50.
"""

from __future__ import annotations

import threading
from itertools import count
from math import prod
from sys import getrefcount

import numpy as np

LINE = 64                     # bytes; every array starts on a cache line
BUDGET = 256 << 20            # free bytes kept for reuse at most

_lock = threading.Lock()
_pool: dict[tuple, list] = {}  # (dtype, size) -> [[raw bytes, aligned flat view, last use], ...]
_clock = count()


def _new_entry(dtype, size: int) -> list:
    """[raw, flat, last use]: ``flat`` (size,) of ``dtype`` on the first cache line of the byte array ``raw``."""
    nbytes = size * dtype.itemsize
    raw = np.empty(nbytes + LINE, np.uint8)
    off = -raw.__array_interface__["data"][0] % LINE
    return [raw, raw[off:off + nbytes].view(dtype), next(_clock)]


def _count(entry) -> int:
    # NumPy points every view, and every view of a view, at the array owning the memory: ``raw``.  The pool's
    # references to it are the entry and ``flat``'s base; each array handed out (and each view of one) adds one.
    return getrefcount(entry[0])


_FREE = _count(_new_entry(np.dtype(np.uint8), 1))


def _is_free(entry) -> bool:
    return _count(entry) == _FREE


def empty(shape, dtype) -> np.ndarray:
    """An uninitialised, cache-line-aligned array like ``np.empty(shape, dtype)``, from a reused buffer."""
    if type(shape) is not tuple:
        shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
    dtype = np.dtype(dtype)                                      # np.float32 and its dtype share buffers
    key = (dtype, prod(shape))
    with _lock:
        entries = _pool.get(key)
        if entries is None:
            entries = _pool[key] = []
        for entry in entries:
            if getrefcount(entry[0]) == _FREE:                   # as _is_free, inlined: ~1 µs per call matters
                entry[2] = next(_clock)
                return entry[1].reshape(shape)
        _trim(BUDGET)
        entry = _new_entry(dtype, key[1])
        entries.append(entry)
        return entry[1].reshape(shape)


def zeros(shape, dtype) -> np.ndarray:
    """As :func:`empty`, filled with zeros."""
    out = empty(shape, dtype)
    out.fill(0)
    return out


def aligned_zeros(size: int, dtype) -> np.ndarray:
    """A fresh (size,) array of zeros on a cache line, outside the pool (for long-lived buffers)."""
    flat = _new_entry(np.dtype(dtype), size)[1]
    flat.fill(0)
    return flat


def _trim(budget: int) -> None:
    """Drop free buffers, least recently used first, until at most ``budget`` free bytes remain."""
    free = [(entry[2], key, entry) for key, entries in _pool.items() for entry in entries if _is_free(entry)]
    held = sum(entry[0].nbytes for _, _, entry in free)
    for _, key, entry in sorted(free, key=lambda item: item[0]):
        if held <= budget:
            break
        held -= entry[0].nbytes
        _pool[key] = [e for e in _pool[key] if e is not entry]


def release() -> None:
    """Return every buffer nobody uses any more to the allocator (e.g. after training, before a long idle)."""
    with _lock:
        _trim(0)


def held_bytes() -> tuple[int, int]:
    """(bytes in buffers in use, bytes in free buffers) — for tests and diagnostics."""
    with _lock:
        used = free = 0
        for entries in _pool.values():
            for entry in entries:
                if _is_free(entry):
                    free += entry[0].nbytes
                else:
                    used += entry[0].nbytes
        return used, free
