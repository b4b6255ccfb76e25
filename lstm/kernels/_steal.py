"""Batch rows handed over between threads in the middle of a time loop, so that they finish together (private).

A recurrent loop splits its batch into row chunks (:mod:`._pool`), each running the whole time loop.  Chunks are
coarse — a quarter of the work each for the character model's 32 rows — and the two vCPUs of this kind of host
run at speeds that differ by a few percent from call to call, so the thread that finished first used to wait for
the other's last chunk: 0.4–0.7 ms per forward or backward call of that model, ~1% of its training step.

Rows are independent, and everything a loop carries from one step to the next for a row (h, c, δh, δc) lives in
arrays indexed by the row, so a row range can change hands at any step boundary.  A thread with no chunk left
asks (:func:`take_rows`); a thread running rows [r0, r1) looks at the start of every step (:func:`give_rows`: one
atomic load) and, if it has at least ``2·unit`` rows, gives the upper half, from that step on, and keeps the lower.
The thief runs that range like a chunk and can be asked in turn.  ``steal`` (int64, :data:`WORDS` long) is shared
by the call's threads; :func:`new_steal` makes one with every chunk counted as running.

    REQ      IDLE → ASKING (a thief, one at a time) → GIVING (the giver fills R0, R1, T) → GIVEN → IDLE (thief)
    ACTIVE   row ranges not yet finished: the call's chunks, plus ranges given; a thief stops asking at 0
    GIVES    ranges handed over in the call (for tests and measurements)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._pool import _atomic_add, _atomic_load, _atomic_store, _cas, _pause, claim_next, finish, row_bounds, settle

REQ, R0, R1, T0, ACTIVE, GIVES = 0, 1, 2, 3, 4, 5
NONE, CHUNK, TAKEN, OTHER = 0, 1, 2, 3       # what :func:`next_rows` hands a worker
WORDS = 8                                  # one cache line
IDLE, ASKING, GIVING, GIVEN = 0, 1, 2, 3


def new_steal(chunks: int) -> np.ndarray:
    """The shared words of one call whose time loops run ``chunks`` row chunks."""
    steal = np.zeros(WORDS, np.int64)
    steal[ACTIVE] = chunks
    return steal


@njit(cache=True, nogil=True)
def give_rows(steal, r0, r1, t, unit):
    """Called before step ``t`` by a thread running rows [r0, r1): if a thief is asking and the range has at least
    2·``unit`` rows, hand it rows [mid, r1) from step t on (mid − r0: half the range, to the nearest multiple of
    ``unit``, the micro-kernel's tile); returns the end of the rows kept, [r0, mid)."""
    if r1 - r0 < 2 * unit or _atomic_load(steal, REQ) != ASKING:
        return r1
    if not _cas(steal, REQ, ASKING, GIVING):                    # another thread answered first
        return r1
    mid = r0 + max(unit, (r1 - r0 + unit) // (2 * unit) * unit)    # half, to the nearest whole tile
    steal[R0] = mid
    steal[R1] = r1
    steal[T0] = t
    _atomic_add(steal, ACTIVE, 1)                               # counted before the thief can finish it
    steal[GIVES] += 1
    _atomic_store(steal, REQ, GIVEN)                            # publishes R0, R1, T0
    return mid


@njit(cache=True, nogil=True)
def take_rows(steal):
    """For a thread with no chunk left: (r0, r1, t) of rows handed over from step t on, or (−1, −1, −1) once
    every range has finished.  The range must be reported with :func:`done_rows` when it is finished."""
    while True:                                                 # one thief asks at a time
        if _atomic_load(steal, ACTIVE) == 0:
            return -1, -1, -1
        if _cas(steal, REQ, IDLE, ASKING):
            break
        _pause()
    while True:
        state = _atomic_load(steal, REQ)
        if state == GIVEN:
            r0, r1, t = steal[R0], steal[R1], steal[T0]
            _atomic_store(steal, REQ, IDLE)
            return r0, r1, t
        if state == ASKING and _atomic_load(steal, ACTIVE) == 0 and _cas(steal, REQ, ASKING, IDLE):
            return -1, -1, -1                                   # everything finished while we asked
        _pause()


@njit(cache=True, nogil=True)
def done_rows(steal):
    """A chunk's or a handed-over range's rows are finished."""
    _atomic_add(steal, ACTIVE, -1)


@njit(cache=True, nogil=True)
def next_rows(ctl, gen, n, others, B, start, steal, prev):
    """What a time-loop worker runs next, as (r0, r1, t, kind), after finishing what it was last given (``prev``,
    NONE at first).  The call's n chunks (:mod:`._pool`) are ``others`` chunks of other work, then the loop's
    chunks: B rows cut into n − others blocks.

    - CHUNK: rows [r0, r1) of a chunk, from step ``start`` (0 forward, T − 1 backward);
    - OTHER: chunk r0 < ``others`` of the other work, which the worker does itself;
    - TAKEN: rows [r0, r1) taken over from another thread, from step t (:func:`take_rows`);
    - NONE: nothing is left, and the call has settled (:func:`._pool.settle`).

    A worker is then::

        r0, r1, t, kind = next_rows(ctl, gen, n, 0, B, start, steal, NONE)
        while kind != NONE:
            rows(..., r0, r1, t, steal)             # calling give_rows(steal, r0, r1, t, MR) before each step
            r0, r1, t, kind = next_rows(ctl, gen, n, 0, B, start, steal, kind)
    """
    if prev == CHUNK or prev == TAKEN:
        done_rows(steal)
    if prev == CHUNK or prev == OTHER:
        finish(ctl)
    if prev != TAKEN:                                           # once rows are taken, every chunk is claimed
        c = claim_next(ctl, gen, n)
        if c >= 0:
            if c < others:
                return c, -1, -1, OTHER
            r0, r1 = row_bounds(B, n - others, c - others)
            return r0, r1, start, CHUNK
    r0, r1, t = take_rows(steal)
    if r0 >= 0:
        return r0, r1, t, TAKEN
    settle(ctl, n)
    return -1, -1, -1, NONE
