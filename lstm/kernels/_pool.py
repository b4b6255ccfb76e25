"""Work-sharing threads for the compiled kernels: the caller never waits for a thread that is not running (private).

A kernel call splits its work into ``n`` independent chunks (for the recurrent loops: blocks of batch rows, each
running the *whole* time loop, so chunks need no synchronisation per step).  The calling thread and the helper
threads all run the same compiled *worker*, which claims chunk indices from a shared counter with an atomic
compare-and-swap until none are left.  The caller starts on chunk 0 at once; a helper joins when the OS schedules
it.  So the call takes ``max(work/threads + wake-up delay, …)`` and never more than the single-threaded time plus
the tail of a chunk a helper has already started.

Why not Numba's ``prange``: its parallel region is a fork/join, so every call waits until *every* thread has been
scheduled.  On this 2-core machine shared with other jobs (load average 6–10) that made a 1.2 ms forward pass take
8–20 ms (median) with the OpenMP layer; with the workqueue layer there was no speed-up at all.  Work sharing
removes that wait, and it also avoids ``parallel=True`` compilation (the first-ever compile took ~50 s with it).

Counters are tagged with a call generation in the high 32 bits, so a helper that wakes up late for an old call
cannot claim chunks of a newer one.  ``ctl`` layout (int64): [NEXT, DONE] = (generation << 32) | count.
After a call a helper polls ``ctl`` for ~0.2 ms before sleeping on its Event, so back-to-back calls find it awake
(medium forward on 2 threads: 27.7 ms, against 78–100 ms when each call had to wake it on the loaded machine).
"""

from __future__ import annotations

import os
import threading

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

NEXT, DONE = 0, 1
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


@njit(cache=True, nogil=True)
def claim(ctl, gen, n):
    """The next unclaimed chunk index of call ``gen``, or −1 when none is left (or the call is over)."""
    while True:
        v = _atomic_load(ctl, NEXT)
        if (v >> 32) != gen or (v & 0xFFFFFFFF) >= n:
            return -1
        if _cas(ctl, NEXT, v, v + 1):
            return v & 0xFFFFFFFF


@njit(cache=True, nogil=True)
def finish(ctl):
    """Mark one claimed chunk as done."""
    _atomic_add(ctl, DONE, 1)


@njit(cache=True, nogil=True)
def _wait_done(ctl, n, spins):
    """Spin until n chunks are done (True), or give up after ``spins`` polls (False)."""
    for _ in range(spins):
        if (_atomic_load(ctl, DONE) & 0xFFFFFFFF) >= n:
            return True
    return False


@njit(cache=True, nogil=True)
def _spin_for_call(ctl, last_gen, spins):
    """Poll (without the GIL) until a call newer than ``last_gen`` is posted (True) or ``spins`` polls pass."""
    for _ in range(spins):
        if (_atomic_load(ctl, NEXT) >> 32) != last_gen:
            return True
    return False


# How long a helper keeps polling for the next call before it sleeps (~0.2 ms): back-to-back kernel calls
# (forward, backward, the next batch) then find it awake, as OpenMP and onnxruntime pools spin for theirs.
SPINS = 2_000_000


class Pool:
    """``threads − 1`` helper threads, started on first use; :meth:`run` is the only entry point."""

    def __init__(self, threads: int):
        self.threads = threads
        self.ctl = np.zeros(2, np.int64)
        self._gen = 0
        self._job = None
        self._events: list[threading.Event] = []
        self._busy = threading.Lock()
        self._pid = None

    def _start(self):
        self._pid = os.getpid()
        self._events = []
        for _ in range(self.threads - 1):
            ev = threading.Event()
            threading.Thread(target=self._helper, args=(ev,), daemon=True, name="lstm-kernel-helper").start()
            self._events.append(ev)

    def _helper(self, ev):
        last = 0
        while True:
            if not _spin_for_call(self.ctl, last, SPINS):
                ev.wait()
            ev.clear()
            last = int(self.ctl[NEXT]) >> 32                          # the newest call posted so far
            job = self._job
            if job is not None and job[1] == last:
                worker, gen, n, args = job
                worker(self.ctl, gen, n, *args)

    def run(self, worker, n: int, *args) -> None:
        """Run ``worker(ctl, gen, n, *args)`` on the caller and the helpers until its n chunks are done."""
        if n <= 1 or self.threads <= 1 or not self._busy.acquire(blocking=False):
            worker(np.zeros(2, np.int64), 0, n, *args)             # generation 0, all chunks on the caller
            return
        try:
            if self._pid != os.getpid():      # first use, or a forked child (threads do not survive fork)
                self._start()
            self._gen = self._gen % 0x7FFFFFFF + 1
            gen = self._gen
            self._job = (worker, gen, n, args)
            self.ctl[DONE] = gen << 32
            self.ctl[NEXT] = gen << 32                                 # publishes the call to spinning helpers
            for ev in self._events:
                ev.set()
            worker(self.ctl, gen, n, *args)
            while not _wait_done(self.ctl, n, 20000):
                os.sched_yield() if hasattr(os, "sched_yield") else None
            self._job = None
        finally:
            self._busy.release()
