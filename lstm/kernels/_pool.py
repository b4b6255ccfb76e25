"""Work-sharing threads for the compiled kernels: the caller never waits for a thread that is not running (private).

A kernel call splits its work into ``n`` independent chunks (for the recurrent loops: blocks of batch rows, each
running the *whole* time loop, so chunks need no synchronisation per step).  The calling thread and the helper
threads all run the same compiled *worker*, which claims chunk indices from a shared counter with an atomic
compare-and-swap until none are left.  The caller starts on chunk 0 at once; a helper joins when the OS schedules
it.  So the call takes ``max(work/threads + wake-up delay, …)`` and never more than the single-threaded time plus
the tail of a chunk a helper has already started.  The LSTM loops go further: a thread out of chunks takes over half
of the rows another is still running, from the step it has reached (:mod:`._steal`).

Why not Numba's ``prange``: its parallel region is a fork/join, so every call waits until *every* thread has been
scheduled.  On this 2-core machine shared with other jobs (load average 6–10) that made a 1.2 ms forward pass take
8–20 ms (median) with the OpenMP layer; with the workqueue layer there was no speed-up at all.  Work sharing
removes that wait, and it also avoids ``parallel=True`` compilation (the first-ever compile took ~50 s with it).

Counters are tagged with a call generation in the high 32 bits, so a helper that wakes up late for an old call
cannot claim chunks of a newer one.  ``ctl`` layout (int64): [NEXT, DONE] = (generation << 32) | count, [CHUNKS] =
the call's chunk count, then one state word per helper (IDLE, BUSY, ASLEEP).

The GIL is never handed over in the hot path.  Handing it to a thread blocked on it costs a futex wake-up
(tens of µs), as much as a whole tiny forward pass.  So a helper polls, without the GIL, until the caller has
claimed a chunk: the caller is then inside its compiled worker, which has released the GIL, and the helper takes
it uncontended.  A call whose chunks are all claimed already is skipped without touching the GIL at all.  The
caller, symmetrically, waits until every helper is back in its GIL-free polling (IDLE) before it returns.
After a call a helper polls for ~4 ms before sleeping on its Event, so the calls of a training loop, with a
millisecond or so of Python between them, find it awake, as OpenMP and onnxruntime pools spin for theirs.  Waking
a sleeping helper costs more than the wake-up itself on a virtual machine: a vCPU that went idle is placed again by
the host, and the next few milliseconds on both threads ran at about half speed here (see ``SPINS``).
"""

from __future__ import annotations

import os
import platform
import threading

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
NEXT, DONE, CHUNKS = 0, 1, 2
IDLE, BUSY, ASLEEP = 0, 1, 2          # helper states, ctl[CHUNKS + 1 + i]
_MASK = (1 << 32) - 1


@intrinsic
def _cas(typingctx, arr, idx, expected, new):
    """Atomic compare-and-swap on arr[idx] (int64); True if it swapped."""
    sig = types.boolean(arr, idx, expected, new)

    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = builder.gep(a.data, [args[1]])
        res = builder.cmpxchg(ptr, args[2], args[3], "seq_cst", "seq_cst")
        return builder.extract_value(res, 1)
    return sig, codegen


@intrinsic
def _atomic_add(typingctx, arr, idx, val):
    sig = types.int64(arr, idx, val)

    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        return builder.atomic_rmw("add", builder.gep(a.data, [args[1]]), args[2], "seq_cst")
    return sig, codegen


@intrinsic
def _atomic_load(typingctx, arr, idx):
    sig = types.int64(arr, idx)

    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        return builder.load_atomic(builder.gep(a.data, [args[1]]), "seq_cst", 8)
    return sig, codegen


@intrinsic
def _atomic_store(typingctx, arr, idx, val):
    sig = types.void(arr, idx, val)

    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        builder.store_atomic(args[2], builder.gep(a.data, [args[1]]), "seq_cst", 8)
    return sig, codegen


@intrinsic
def _pause(typingctx):
    """The x86 PAUSE hint inside a polling loop: a tight loop of plain loads on one core slowed a tiny forward pass
    on the other by ~30% (101 → 134 µs), one with PAUSE not measurably."""
    sig = types.void()

    def codegen(context, builder, sig, args):
        if _X86:
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                "llvm.x86.sse2.pause")
            builder.call(fn, [])
    return sig, codegen


@njit(cache=True, nogil=True)
def claim(ctl, gen, n):
    """The next unclaimed chunk index of call ``gen``, or −1 when none is left (or the call is over).

    On the caller's ``ctl`` (the one with the helper state words) −1 comes only after the call has settled, or
    after ``SETTLE_SPINS`` polls: the caller waits here, still inside its compiled worker and so without the GIL,
    until every helper is back to polling; see :func:`_wait_done`."""
    c = claim_next(ctl, gen, n)
    if c < 0:
        settle(ctl, n)
    return c


@njit(cache=True, nogil=True)
def claim_next(ctl, gen, n):
    """:func:`claim` without the caller's wait at the end (a worker with more to do after its chunks — rows to
    take over, see :mod:`._steal` — calls :func:`settle` itself when it is done)."""
    while True:
        v = _atomic_load(ctl, NEXT)
        if (v >> 32) != gen or (v & 0xFFFFFFFF) >= n:
            return -1
        if _cas(ctl, NEXT, v, v + 1):
            return v & 0xFFFFFFFF


@njit(cache=True, nogil=True)
def settle(ctl, n):
    """On the caller's ``ctl``: wait (≤ ``SETTLE_SPINS`` polls) until the call's n chunks are done and every helper
    is back to polling; on a helper's, nothing."""
    if ctl.shape[0] > CHUNKS + 1:
        _wait_done(ctl, n, SETTLE_SPINS)


@njit(cache=True, nogil=True)
def row_bounds(B, chunks, c):
    """Rows [r0, r1) of chunk c when B batch rows are cut into ``chunks`` near-equal blocks (sizes multiples of 4,
    the micro-kernel's tile, where the batch allows)."""
    per = (B + chunks - 1) // chunks
    per = ((per + 3) // 4) * 4 if per > 4 else per
    r0 = min(B, c * per)
    r1 = B if c == chunks - 1 else min(B, r0 + per)
    return r0, r1


@njit(cache=True, nogil=True)
def claim_rows(ctl, gen, chunks, B, done):
    """Mark this thread's previous block done (``done``) and claim the next of B rows (batch rows of a time loop,
    or a weight's panels to pack) cut into ``chunks`` blocks (:func:`row_bounds`): (r0, r1), or (−1, −1) when none
    is left.  A worker for :meth:`Pool.run` over a compiled ``rows(..., r0, r1)`` is then

        r0, r1 = claim_rows(ctl, gen, chunks, B, False)
        while r0 >= 0:
            rows(*args, r0, r1)
            r0, r1 = claim_rows(ctl, gen, chunks, B, True)

    Each worker names its ``rows`` function rather than taking it as an argument: a compiled function's type
    differs in every process, so Numba's disk cache would never match it — every process compiled the worker
    again and added an entry to its cache index, until the index overflowed (a ``ReferenceError`` when saving)."""
    if done:
        finish(ctl)
    c = claim(ctl, gen, chunks)
    if c < 0:
        return -1, -1
    return row_bounds(B, chunks, c)


@njit(cache=True, nogil=True)
def finish(ctl):
    """Mark one claimed chunk as done."""
    _atomic_add(ctl, DONE, 1)


@njit(cache=True, nogil=True)
def _wait_done(ctl, n, spins):
    """Spin until n chunks are done and every helper is IDLE or ASLEEP (True), or ``spins`` polls pass (False)."""
    for _ in range(spins):
        if (_atomic_load(ctl, DONE) & 0xFFFFFFFF) >= n:
            for i in range(CHUNKS + 1, ctl.shape[0]):
                if _atomic_load(ctl, i) == BUSY:
                    break
            else:
                return True
        _pause()
    return False


@njit(cache=True, nogil=True)
def _spin_for_call(ctl, slot, last_gen, spins):
    """Poll (without the GIL) for a call newer than ``last_gen`` that still has unclaimed chunks *and* one chunk
    claimed by the caller (so the GIL is free).  Returns that call's generation (> 0) with this helper marked BUSY,
    or −g after ``spins`` polls, g being the newest generation seen."""
    _atomic_store(ctl, slot, IDLE)
    for _ in range(spins):
        v = _atomic_load(ctl, NEXT)
        g = v >> 32
        if g != last_gen:
            count = v & 0xFFFFFFFF
            if count >= _atomic_load(ctl, CHUNKS):
                last_gen = g                                  # all claimed already: nothing for us
            elif count >= 1:
                _atomic_store(ctl, slot, BUSY)
                return g
        _pause()
    return -last_gen


# How long the caller waits inside its worker for the call to settle (~0.1 ms) before returning to Python.
SETTLE_SPINS = 4_000                 # polls of ~25 ns (PAUSE)
# How long a helper keeps polling for the next call before it sleeps (~4 ms): back-to-back kernel calls (forward,
# backward, the next batch) then find it awake, as OpenMP and onnxruntime pools spin for theirs.  With ~0.2 ms it
# fell asleep before every second small forward pass of a loop, and each wake-up cost more than its help.  With
# ~1 ms it fell asleep in the ~1 ms of Python between a language model's training steps (batch, lookup table,
# packing): the first forward after a wake-up then ran its two threads at about half speed each (a (64, 256, 32,
# 50) forward after a 0.5 ms pause: 11 ms against 6.6 ms when the helper stayed awake; the woken helper on the
# other vCPU, so the host's placement of a vCPU that had gone idle, not the guest's).  Character-model training
# step (2 × 256, batch 32, seq 100), settings alternated in one process: ~1 ms 102.7–105.4 ms, ~4 ms 98.0–98.2,
# ~11 ms 98.2–99.1.  The cost: a core spent polling for up to ~4 ms after the last call.
SPINS = 150_000


class Pool:
    """``threads − 1`` helper threads, started on first use; :meth:`run` is the only entry point."""

    def __init__(self, threads: int):
        self.threads = threads
        self.ctl = np.zeros(CHUNKS + threads, np.int64)
        self._gen = 0
        self._job = None
        self._events: list[threading.Event] = []
        self._busy = threading.Lock()
        self._pid = None

    def _start(self):
        self._pid = os.getpid()
        self.ctl[CHUNKS + 1:] = IDLE
        self._events = []
        for i in range(self.threads - 1):
            ev = threading.Event()
            threading.Thread(target=self._helper, args=(ev, CHUNKS + 1 + i), daemon=True,
                             name="lstm-kernel-helper").start()
            self._events.append(ev)

    def _helper(self, ev, slot):
        ctl, last = self.ctl, 0
        while True:
            g = _spin_for_call(ctl, slot, last, SPINS)
            if g <= 0:                                            # nothing for a while: sleep until the next call
                last = -g
                ctl[slot] = ASLEEP
                # A call published after the polling ended but before ASLEEP was written (while this thread waited
                # for the GIL) saw no sleeper to wake: look once more, with the GIL, before sleeping.
                v = int(ctl[NEXT])
                if (v >> 32) == last or (v & _MASK) >= ctl[CHUNKS]:
                    ev.wait()
                ev.clear()
                continue
            last = g
            try:
                job = self._job
                if job is not None and job[1] == g:
                    worker, gen, n, args = job
                    worker(ctl[:CHUNKS + 1], gen, n, *args)           # without the state words: no settling
            finally:
                ctl[slot] = IDLE

    def run(self, worker, n: int, *args) -> None:
        """Run ``worker(ctl, gen, n, *args)`` on the caller and the helpers until its n chunks are done."""
        if n <= 1 or self.threads <= 1 or not self._busy.acquire(blocking=False):
            worker(np.zeros(CHUNKS + 1, np.int64), 0, n, *args)   # generation 0, all chunks on the caller
            return
        try:
            if self._pid != os.getpid():      # first use, or a forked child (threads do not survive fork)
                self._start()
            ctl = self.ctl
            self._gen = self._gen % 0x7FFFFFFF + 1
            gen = self._gen
            self._job = (worker, gen, n, args)
            ctl[CHUNKS] = n
            ctl[DONE] = gen << 32
            ctl[NEXT] = gen << 32                                 # publishes the call to polling helpers
            for i, ev in enumerate(self._events):
                if ctl[CHUNKS + 1 + i] == ASLEEP:
                    ev.set()
            worker(ctl, gen, n, *args)
            while not _wait_done(ctl, n, 2_000):
                os.sched_yield() if hasattr(os, "sched_yield") else None
            self._job = None
        finally:
            self._busy.release()
