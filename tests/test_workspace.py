"""The compiled kernels' reused memory (lstm.kernels._workspace) and work-sharing pool (lstm.kernels._pool)."""

import time

import numpy as np
import pytest
from numba import njit

from lstm.kernels import _workspace as ws
from lstm.kernels._pool import Pool, claim, finish
from lstm.nn import LSTM

BIG = (64, 1024)                                    # 256 KB of float32


@pytest.fixture(autouse=True)
def _empty_pool():
    ws.release()
    yield
    ws.release()


def test_a_buffer_is_not_handed_out_while_any_view_of_it_lives():
    a = ws.empty(BIG, np.float32)
    a[:] = 1.0
    view = a[3:5, ::2]
    del a
    b = ws.empty(BIG, np.float32)                    # the first buffer is still seen through `view`
    b[:] = 2.0
    assert np.all(view == 1.0)
    assert not np.shares_memory(view, b)


def test_a_buffer_is_reused_once_nothing_refers_to_it():
    a = ws.empty(BIG, np.float32)
    address = a.__array_interface__["data"][0]
    del a
    b = ws.empty((1024, 64), np.float32)             # same size and dtype, another shape
    assert b.__array_interface__["data"][0] == address
    assert b.shape == (1024, 64) and b.dtype == np.float32
    c = ws.empty((32, 1024), np.float64)             # same bytes, another dtype: its own buffer
    assert c.__array_interface__["data"][0] != address


@pytest.mark.parametrize("shape", [(3,), (5, 7), (0, 4), 9, (2, 3, 65)])
def test_every_array_starts_on_a_cache_line(shape):
    for dtype in (np.float32, np.float64):
        arrays = [ws.empty(shape, dtype) for _ in range(3)] + [ws.zeros(shape, dtype)]
        for a in arrays:
            assert a.shape == (shape if isinstance(shape, tuple) else (shape,)) and a.dtype == dtype
            assert (a.size == 0 or a.ctypes.data % ws.LINE == 0) and a.flags.c_contiguous and a.flags.writeable
        assert not np.any(arrays[-1])


def test_free_buffers_beyond_the_budget_are_released_oldest_first(monkeypatch):
    monkeypatch.setattr(ws, "BUDGET", 3 * 256 * 1024)
    used_before = ws.held_bytes()[0]                 # buffers other live objects still use
    for rows in range(64, 72):                       # eight distinct sizes, each dropped at once
        ws.empty((rows, 1024), np.float32)
    used, free = ws.held_bytes()
    assert used == used_before
    assert free <= 3 * 256 * 1024 + 72 * 4096        # the budget plus the one just allocated
    ws.release()
    assert ws.held_bytes() == (used_before, 0)


def test_consecutive_forward_passes_do_not_overwrite_each_others_outputs():
    layer = LSTM(32, 64, backend="numba", seed=0)
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(2, 100, 16, 32)).astype(np.float32)   # y is 400 KB: from the pool
    y1, (h1, c1) = layer(x1)
    kept = y1.copy()
    for _ in range(3):
        y2, _ = layer(x2)
    assert np.array_equal(y1, kept)
    assert not np.shares_memory(y1, y2)
    np.testing.assert_array_equal(layer(x1)[0], kept)


@njit(nogil=True)
def _square_chunks(ctl, gen, n, out, spin):
    while True:
        c = claim(ctl, gen, n)
        if c < 0:
            return
        s = 0.0
        for _ in range(spin):
            s = s * 0.5 + 1.0
        out[c] = c * c + s * 0
        finish(ctl)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 32])
def test_pool_runs_every_chunk_exactly_once_back_to_back_and_after_sleeping(n):
    pool = Pool(2)
    for rep in range(300):
        out = np.full(n, -1.0)
        pool.run(_square_chunks, n, out, 200 * (rep % 5))
        assert np.array_equal(out, np.arange(n) ** 2.0), rep
        if rep in (100, 200):
            time.sleep(0.05)                         # the helper gives up polling and sleeps on its event


@njit(nogil=True)
def _chunks_by_thread(ctl, gen, n, ran_on_caller, sink, spin):
    while True:
        c = claim(ctl, gen, n)
        if c < 0:
            return
        s = float(c)
        for _ in range(spin):                        # ~1 ns each, kept: the result is stored
            s = s * 0.999 + 1.0
        sink[c] = s
        ran_on_caller[c] = 1.0 if ctl.shape[0] > 3 else 0.0       # only the caller's ctl has state words
        finish(ctl)


def test_helper_joins_a_call_published_while_it_waited_for_the_gil(monkeypatch):
    """The helper stops polling while the caller runs Python (holding the GIL), so it cannot mark itself asleep
    until the caller has published the next call and found nobody asleep to wake.  It must look for that call
    once more before sleeping, or the call runs on the caller alone."""
    import lstm.kernels._pool as pool_mod
    monkeypatch.setattr(pool_mod, "SPINS", 20_000)   # polling ends ~0.5 ms after a call, inside the pause below
    pool = Pool(2)
    ran, sink = np.zeros(16), np.zeros(16)
    pool.run(_chunks_by_thread, 16, ran, sink, 1)   # starts the helper
    joined = 0
    for _ in range(20):
        t = time.perf_counter()
        while time.perf_counter() - t < 2e-3:       # Python, holding the GIL, while the helper's polling ends
            pass
        ran[:] = -1
        pool.run(_chunks_by_thread, 16, ran, sink, 200_000)   # ~0.2 ms per chunk
        assert (ran >= 0).all()
        joined += (ran == 0).any()
    assert joined >= 15, f"the helper took part in only {joined} of 20 calls"


def test_kernel_caches_older_than_any_kernel_source_are_dropped(tmp_path):
    """Kernels compile in functions of their sibling modules, which Numba's own check (a kernel's file only) does
    not see: every cache older than the newest source goes."""
    import os

    from lstm.kernels import drop_stale_caches

    assert drop_stale_caches(tmp_path) == 0                        # no sources, no __pycache__: nothing to do
    (tmp_path / "_vmath.py").write_text("x = 1\n")
    (tmp_path / "_loops.py").write_text("y = 2\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    now = time.time()
    files = {"_loops.kernel-10.py311.nbi": now - 100, "_loops.kernel-10.py311.1.nbc": now - 100,
             "_vmath.exp-5.py311.nbi": now + 100, "_loops.cpython-311.pyc": now - 100}
    for name, stamp in files.items():
        (cache / name).write_bytes(b"")
        os.utime(cache / name, (stamp, stamp))
    os.utime(tmp_path / "_vmath.py", (now, now))                   # an edit to one sibling...
    assert drop_stale_caches(tmp_path) == 2                        # ...drops the older kernel caches of all
    assert sorted(p.name for p in cache.iterdir()) == ["_loops.cpython-311.pyc", "_vmath.exp-5.py311.nbi"]
    assert drop_stale_caches(tmp_path) == 0
    os.utime(tmp_path / "_loops.py", (now + 3600, now + 3600))     # a source from the future: leave the caches
    (cache / "_loops.kernel-10.py311.nbi").write_bytes(b"")
    os.utime(cache / "_loops.kernel-10.py311.nbi", (now - 100, now - 100))
    assert drop_stale_caches(tmp_path) == 0


_EVERY_KERNEL = """
import json, sys
import numpy as np
import lstm
from lstm.nn import GRU, LSTM, RNN
rng = np.random.default_rng(0)
for dt in (np.float32, np.float64):
    for cls in (LSTM, GRU, RNN):
        layer = cls(8, 40, seed=0, dtype=dt)
        x = rng.standard_normal((6, 24, 8)).astype(dt)      # 24 rows: chunks on the pool's threads
        y, _ = layer(x)
        layer.backward(np.ones_like(y))
    emb = LSTM(8, 40, seed=0, dtype=dt)
    y, _ = emb(rng.standard_normal((5, 8)).astype(dt), ids=rng.integers(0, 5, (6, 24)))
    emb.backward(np.ones_like(y))
from numba.core.registry import CPUDispatcher
misses = sorted(f"{m.__name__}.{name}" for m in list(sys.modules.values())
                if getattr(m, "__name__", "").startswith("lstm.kernels")
                for name, d in vars(m).items() if isinstance(d, CPUDispatcher) and d.stats.cache_misses)
print(json.dumps(misses))
"""


def test_every_kernel_loads_from_the_disk_cache_in_a_second_process(tmp_path):
    """A compiled function passed as an argument to a cached kernel has a type that differs in every process:
    that kernel never loaded from the cache, compiled again in every process and grew its cache index by an entry
    each time until saving failed (ReferenceError).  Two fresh processes running every kernel: the second
    compiles nothing."""
    import json
    import subprocess
    import sys

    script = tmp_path / "every_kernel.py"
    script.write_text(_EVERY_KERNEL)
    runs = [subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=900)
            for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(runs[1].stdout) == []
