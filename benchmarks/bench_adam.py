"""Adam's step on the language model's parameters: the fused compiled pass against the NumPy operations.

    python benchmarks/bench_adam.py

Both paths give bit-identical parameters (tests/test_kernels_compiled.py); this times them, alternating, on the
parameters of the text benchmark's network (embedding 64, 2 × 256 LSTM, a 110-character vocabulary), with NumPy's
BLAS on one thread as the Trainer runs it.  Median of 9 runs of 20 steps each.
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

import lstm.optim as O
from lstm.models.language_model import LanguageModelNet


def ms_per_step(params, grads, fused: bool) -> float:
    params = {k: v.copy() for k, v in params.items()}
    opt = O.Adam(params, lr=2e-3, fused=fused)
    for _ in range(5):
        opt.step(grads)
    runs = []
    for _ in range(9):
        t0 = time.perf_counter()
        for _ in range(20):
            opt.step(grads)
        runs.append((time.perf_counter() - t0) / 20 * 1e3)
    return float(np.median(runs))


def main():
    params = LanguageModelNet(110, 64, 256, 2, 0.0, seed=0).parameters()
    rng = np.random.default_rng(0)
    grads = {k: (rng.standard_normal(v.shape) * 1e-3).astype(v.dtype) for k, v in params.items()}
    print(f"Adam.step over {sum(v.size for v in params.values()):,} parameters ({len(params)} arrays)")
    with threadpool_limits(1, "blas"):
        for fused in (False, True, False, True):
            print(f"  {'fused' if fused else 'numpy'}  {ms_per_step(params, grads, fused):.3f} ms per step")


if __name__ == "__main__":
    main()
