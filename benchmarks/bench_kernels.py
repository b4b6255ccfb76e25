"""Our LSTM layer (compiled Numba backend) against ``torch.nn.LSTM``, same process, both on 2 threads.

    python benchmarks/bench_kernels.py            # full grid, float32 and float64
    python benchmarks/bench_kernels.py --quick    # tiny/small/medium, float32 only, fewer repeats

Forward: our ``layer(x)`` (which also keeps the cache backward needs) against torch under ``no_grad`` (its
fastest inference path) — and, in the ``torch+grad`` column, torch's forward that records the graph.
Training step: forward + backward including every weight gradient, for both.  Times are medians of repeated runs
after warm-up; ratio = torch ms / our ms (> 1 means we are faster); GF/s counts the GEMM flops only
(forward 2·T·B·4H·(I+H) per layer, training 3× that).  Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

GRID = {  # name: (input I, hidden H, batch B, steps T, layers)
    "tiny": (8, 32, 8, 50, 1),
    "small": (32, 64, 16, 100, 1),
    "medium": (128, 256, 32, 100, 1),
    "large": (512, 512, 64, 100, 1),
    "charlm": (64, 256, 32, 128, 2),
}
TARGETS = {  # (forward, train) ratio targets vs torch
    "tiny": (2.0, 2.0), "small": (2.0, 2.0), "medium": (1.3, 1.3), "large": (1.15, 1.2), "charlm": (1.3, 1.3),
}


def flops(I, H, B, T, L):
    total, inp = 0, I
    for _ in range(L):
        total += 2 * T * B * 4 * H * (inp + H)
        inp = H
    return total


def timeit(fn, min_time, min_reps, max_reps=200):
    fn()
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or (time.perf_counter() - start < min_time and len(times) < max_reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench(name, dt, min_time, min_reps, threads):
    import torch
    from lstm.nn import LSTM

    I, H, B, T, L = GRID[name]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(T, B, I)).astype(dt)
    dy = rng.normal(size=(T, B, H)).astype(dt)
    ours = LSTM(I, H, L, dtype=dt, seed=0, backend="numba")
    tdt = torch.float32 if dt == np.float32 else torch.float64
    ref = torch.nn.LSTM(I, H, L).to(tdt)
    with torch.no_grad():
        for k, v in ours.state_dict().items():
            getattr(ref, k).copy_(torch.from_numpy(v))
    tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)

    def our_fwd():
        ours(x)

    def our_train():
        ours(x)
        ours.backward(dy)

    def torch_fwd():
        with torch.no_grad():
            ref(tx)

    def torch_fwd_grad():
        ref(tx)

    def torch_train():
        for prm in ref.parameters():
            prm.grad = None
        out, _ = ref(tx)
        out.backward(tdy)

    # sanity: same numbers
    y_ours = ours(x)[0]
    with torch.no_grad():
        y_ref = ref(tx)[0].numpy()
    err = float(np.abs(y_ours - y_ref).max())

    res = {}
    torch.set_num_threads(threads)
    res["ours_fwd"] = timeit(our_fwd, min_time, min_reps)
    res["ours_train"] = timeit(our_train, min_time, min_reps)
    res["torch_fwd"] = timeit(torch_fwd, min_time, min_reps)
    res["torch_fwd_grad"] = timeit(torch_fwd_grad, min_time, min_reps)
    res["torch_train"] = timeit(torch_train, min_time, min_reps)
    res["flops"] = flops(I, H, B, T, L)
    res["err"] = err
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny/small/medium, float32, fewer repeats")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", nargs="*", help="grid names to run")
    ap.add_argument("--dtype", choices=["float32", "float64", "both"], default=None)
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        sys.exit("benchmarks need PyTorch: pip install 'lstm[torch]'")
    torch.set_num_threads(args.threads)
    from lstm.kernels import compiled
    compiled.THREADS = args.threads

    names = args.only or (["tiny", "small", "medium"] if args.quick else list(GRID))
    dtype = args.dtype or ("float32" if args.quick else "both")
    dtypes = [np.float32, np.float64] if dtype == "both" else [np.dtype(dtype).type]
    min_time, min_reps = (0.3, 3) if args.quick else (1.5, 7)

    print(f"torch {torch.__version__}, {args.threads} threads each; times in ms (median); ratio = torch / ours")
    hdr = (f"{'config':8} {'dtype':7} | {'fwd ours':>9} {'torch':>8} {'t+grad':>8} {'ratio':>6} {'GF/s':>6} {'tgt':>5} |"
           f" {'train ours':>10} {'torch':>8} {'ratio':>6} {'GF/s':>6} {'tgt':>5} | max|dy|")
    print(hdr)
    print("-" * len(hdr))
    for dt in dtypes:
        for name in names:
            r = bench(name, dt, min_time, min_reps, args.threads)
            rf, rt = r["torch_fwd"] / r["ours_fwd"], r["torch_train"] / r["ours_train"]
            tf, tt = TARGETS[name]
            mark = lambda ratio, tgt: f"{tgt:4.2f}{'✓' if ratio >= tgt else '✗'}"
            print(f"{name:8} {np.dtype(dt).name:7} | {r['ours_fwd']*1e3:9.3f} {r['torch_fwd']*1e3:8.3f} "
                  f"{r['torch_fwd_grad']*1e3:8.3f} {rf:6.2f} {r['flops']/r['ours_fwd']/1e9:6.1f} {mark(rf, tf)} | "
                  f"{r['ours_train']*1e3:10.3f} {r['torch_train']*1e3:8.3f} {rt:6.2f} "
                  f"{3*r['flops']/r['ours_train']/1e9:6.1f} {mark(rt, tt)} | {r['err']:.1e}", flush=True)


if __name__ == "__main__":
    main()
