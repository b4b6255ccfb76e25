"""Our LSTM layer (compiled Numba backend) against torch.nn.LSTM and onnxruntime's LSTM operator, in one process.

    python benchmarks/bench_kernels.py                       # the reference grid, float32 and float64
    python benchmarks/bench_kernels.py --quick               # tiny/small/medium, float32, fewer rounds
    python benchmarks/bench_kernels.py --markdown results.md # also write the tables as markdown

Everything runs on ``--threads`` threads (2): torch.set_num_threads, onnxruntime intra-op threads, our kernels'
thread count, and NumPy's BLAS for the peak measurement.

What is timed (medians over ``rounds``; each round times every contender back to back, so load changes on a
shared machine hit all of them alike):

- forward (inference): ours ``layer(x)`` under ``lstm.no_grad()`` (nothing kept for backward); torch under
  ``no_grad`` (oneDNN inference path) and with grad recording (the "PyTorch forward" of the reference table);
  onnxruntime ``session.run`` of a one-node ONNX LSTM graph (two chained nodes for 2 layers).  Our forward that
  keeps the cache is inside the training step.
- training step: forward + backward including every weight gradient (torch: zero grads, forward, backward).
  Neither computes the gradient of the input x, which is data: torch because x does not require grad, ours by
  ``backward(dy, input_grad=False)``.
- ratio = peer ms / our ms (> 1: we are faster).  GF/s counts GEMM flops only (forward 2·T·B·4H·(I+H) per layer,
  training 3×); % peak is against a large NumPy sgemm/dgemm measured in the same run on the same threads.
- start-up: ``import lstm`` in a fresh process, the first-ever compile (empty Numba cache directory), and the
  first forward pass of a second process that finds the cache on disk.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

GRID = {  # name: (input I, hidden H, batch B, steps T, layers)
    "tiny": (8, 32, 8, 50, 1),
    "small": (32, 64, 16, 100, 1),
    "medium": (128, 256, 32, 100, 1),
    "large": (512, 512, 64, 100, 1),
    "charlm": (64, 256, 32, 128, 2),
}
# speed targets, ratios peer / ours: forward vs torch (grad recording on), forward vs onnxruntime, training
TARGETS = {
    "tiny": (2.0, 1.5, 2.0), "small": (2.0, 1.5, 2.0), "medium": (1.3, 1.1, 1.3), "large": (1.15, 1.0, 1.2),
    "charlm": (1.3, 1.1, 1.3),
}
F64_TARGET = 2.0   # float64: ≥ 2× torch float64, forward and training


def flops(I, H, B, T, L):
    total, inp = 0, I
    for _ in range(L):
        total += 2 * T * B * 4 * H * (inp + H)
        inp = H
    return total


CLOCK = time.perf_counter   # --cpu-time: time.thread_time (1 thread: CPU time of the calling thread only)


# Pause before each timed block: thread pools spin for a while after a call (libgomp under torch, onnxruntime's,
# ours ~1 ms), and a contender timed beside another's spinning threads lost up to 40% (medium forward 22 vs
# 16 ms) — a cost no user running one library pays.
SETTLE_S = 0.1


# glibc's malloc told to keep what it frees for reuse (no fresh mmap per large block, no trimming).  torch allocates
# its large per-step tensors afresh and, by default, glibc serves each from new pages and hands them back at free:
# thousands of page faults per training step (bench_text.py).  jemalloc and TCMalloc, which PyTorch's CPU
# performance guide recommends, avoid that too.  Our kernels reuse their buffers, so this changes only the peers.
KEEP_HEAP = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296"


def keeping_heap() -> bool:
    return os.environ.get("GLIBC_TUNABLES") == KEEP_HEAP


def add_keep_heap(parser):
    """``--keep-heap`` on ``parser``; :func:`rerun_keeping_heap` acts on it."""
    parser.add_argument("--keep-heap", action="store_true",
                        help="glibc keeps freed memory for reuse, so no library page-faults per step (Linux); the "
                             "script runs itself again with GLIBC_TUNABLES set")


def rerun_keeping_heap(args, error):
    """With ``args.keep_heap``: run this script again with KEEP_HEAP in the environment (glibc reads its tunables
    only at start-up); nothing when it is already set."""
    if not args.keep_heap or keeping_heap():
        return
    if not sys.platform.startswith("linux"):
        error("--keep-heap sets glibc's malloc tunables, so it needs Linux")
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "GLIBC_TUNABLES": KEEP_HEAP})


def race(fns: dict, rounds: int, block_s: float) -> dict:
    """Median per-call seconds of each function; every round runs each function back to back, each block of
    calls after a ``SETTLE_S`` pause and two untimed calls (which wake the contender's threads and caches again)."""
    reps = {}
    for name, fn in fns.items():
        fn()
        fn()
        t = time.perf_counter()
        fn()
        one = max(time.perf_counter() - t, 1e-6)
        reps[name] = max(1, min(200, int(block_s / one)))
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            time.sleep(SETTLE_S)
            fn()
            fn()
            t = CLOCK()
            for _ in range(reps[name]):
                fn()
            times[name].append((CLOCK() - t) / reps[name])
    return {name: statistics.median(v) for name, v in times.items()}


def sgemm_peak(dt, threads) -> float:
    """GF/s of a large NumPy GEMM on ``threads`` threads (CPU time of this thread with --cpu-time): the best of
    three bursts of 5 a second apart, so that a moment when another job holds a core does not halve the figure
    every "% peak" column is measured against (one burst once read 106 GF/s against 189–196)."""
    from threadpoolctl import threadpool_limits
    n = 2048
    a = np.random.default_rng(0).normal(size=(n, n)).astype(dt)
    b = a.copy()
    best = float("inf")
    with threadpool_limits(threads):
        a @ b
        for burst in range(3):
            if burst:
                time.sleep(1.0)
            best = min(best, *(_timed(lambda: a @ b) for _ in range(5)))
    return 2 * n ** 3 / best / 1e9


def _timed(fn):
    t = CLOCK()
    fn()
    return CLOCK() - t


# ---- peers -------------------------------------------------------------------------------------------------------
def torch_model(ours, I, H, L, dt):
    import torch
    ref = torch.nn.LSTM(I, H, L).to(torch.float32 if dt == np.float32 else torch.float64)
    with torch.no_grad():
        for k, v in ours.state_dict().items():
            getattr(ref, k).copy_(torch.from_numpy(v))
    return ref


def ort_session(ours, I, H, L, dt, threads):
    """A one-node-per-layer ONNX LSTM graph with our weights (gate order i, o, f, c), or None if unavailable."""
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return None
    sd = ours.state_dict()

    def order(w):                                              # ifgo -> iofc
        return np.concatenate([w[:H], w[3 * H:], w[H:2 * H], w[2 * H:3 * H]])

    elem = TensorProto.FLOAT if dt == np.float32 else TensorProto.DOUBLE
    nodes, inits, inp = [], [], "X"
    for k in range(L):
        W = order(sd[f"weight_ih_l{k}"])[None]
        R = order(sd[f"weight_hh_l{k}"])[None]
        Bv = np.concatenate([order(sd[f"bias_ih_l{k}"]), order(sd[f"bias_hh_l{k}"])])[None]
        for name, v in ((f"W{k}", W), (f"R{k}", R), (f"B{k}", Bv)):
            inits.append(numpy_helper.from_array(v.astype(dt), name))
        nodes.append(helper.make_node("LSTM", [inp, f"W{k}", f"R{k}", f"B{k}"], [f"Y{k}"], hidden_size=H))
        inits.append(numpy_helper.from_array(np.array([1], np.int64), f"ax{k}"))
        nodes.append(helper.make_node("Squeeze", [f"Y{k}", f"ax{k}"], [f"S{k}"]))    # (T, 1, B, H) -> (T, B, H)
        inp = f"S{k}"
    graph = helper.make_graph(nodes, "lstm", [helper.make_tensor_value_info("X", elem, ["T", "B", I])],
                              [helper.make_tensor_value_info(inp, elem, ["T", "B", H])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8                     # onnxruntime may not read the newest IR version onnx writes
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.log_severity_level = 4
    try:
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        sess.run(None, {"X": np.zeros((2, 1, I), dt)})
        return sess
    except Exception as exc:   # e.g. no double-precision LSTM kernel
        print(f"(onnxruntime: no session for {np.dtype(dt).name}: {str(exc).splitlines()[0][:120]})")
        return None


# ---- one configuration -------------------------------------------------------------------------------------------
def bench(name, dt, rounds, block_s, threads):
    import torch

    from lstm.nn import LSTM, no_grad

    I, H, B, T, L = GRID[name]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(T, B, I)).astype(dt)
    dy = rng.normal(size=(T, B, H)).astype(dt)
    ours = LSTM(I, H, L, dtype=dt, seed=0, backend="numba")
    ref = torch_model(ours, I, H, L, dt)
    sess = ort_session(ours, I, H, L, dt, threads)
    tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)

    def torch_fwd():
        with torch.no_grad():
            ref(tx)

    def torch_train():
        for prm in ref.parameters():
            prm.grad = None
        out, _ = ref(tx)
        out.backward(tdy)

    y_ours = ours(x)[0]
    with torch.no_grad():
        err = float(np.abs(y_ours - ref(tx)[0].numpy()).max())
    def ours_fwd():                  # inference, like torch.no_grad and onnxruntime: nothing kept for backward
        with no_grad():
            ours(x)

    fns = {"ours_fwd": ours_fwd, "torch_fwd": torch_fwd, "torch_fwd_grad": lambda: ref(tx),
           "ours_train": lambda: (ours(x), ours.backward(dy, input_grad=False)), "torch_train": torch_train}
    if sess is not None:
        err = max(err, float(np.abs(y_ours - sess.run(None, {"X": x})[0]).max()))
        fns["ort_fwd"] = lambda: sess.run(None, {"X": x})
    res = race(fns, rounds, block_s)
    res["flops"], res["err"] = flops(I, H, B, T, L), err
    return res


# ---- start-up costs ----------------------------------------------------------------------------------------------
_FIRST_FORWARD = """
import time, numpy as np
t0 = time.perf_counter()
import lstm
from lstm.nn import LSTM
layer = LSTM(8, 16, dtype=np.{dt}, backend="numba")
x = np.zeros((5, 3, 8), np.{dt})
y, _ = layer(x)
{extra}
print(time.perf_counter() - t0)
"""


def startup_times() -> dict:
    """Seconds: import lstm; first-ever compile of the LSTM kernels (fresh cache dir, float32 and float64,
    forward and backward); a second process's first float32 forward pass with that cache."""
    def run(code, env):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
        if out.returncode:
            raise RuntimeError(out.stderr)
        return float(out.stdout.split()[-1])

    env = dict(os.environ)
    res = {"import": min(run("import time; t = time.perf_counter(); import lstm; print(time.perf_counter() - t)",
                             env) for _ in range(3))}
    with tempfile.TemporaryDirectory() as cache:
        env["NUMBA_CACHE_DIR"] = cache
        both = "\n".join(f"l = LSTM(8, 16, dtype=np.{d}, backend='numba'); y, _ = l(np.zeros((5, 9, 8), np.{d}));"
                         f" l.backward(np.ones_like(y))" for d in ("float32", "float64"))
        res["first_compile"] = run(_FIRST_FORWARD.format(dt="float32", extra=both), env)
        res["second_process_forward"] = min(run(_FIRST_FORWARD.format(dt="float32", extra=""), env)
                                            for _ in range(2))
    return res


# ---- report ------------------------------------------------------------------------------------------------------
def _mark(ratio, target):
    return f"{ratio:.2f} {'✓' if ratio >= target else '✗'}"


def rows_for(name, dt, r, peak):
    f32 = dt == np.float32
    tf, to, tt = TARGETS[name] if f32 else (F64_TARGET, 0.0, F64_TARGET)
    fl = r["flops"]
    ort = r.get("ort_fwd")
    return [name, np.dtype(dt).name,
            f"{r['ours_fwd'] * 1e3:.3f}", f"{r['torch_fwd'] * 1e3:.3f}", f"{r['torch_fwd_grad'] * 1e3:.3f}",
            "–" if ort is None else f"{ort * 1e3:.3f}",
            _mark(r["torch_fwd_grad"] / r["ours_fwd"], tf) + f" (tgt {tf:g})",
            f"{r['torch_fwd'] / r['ours_fwd']:.2f}",
            "–" if ort is None else (_mark(ort / r["ours_fwd"], to) + f" (tgt {to:g})" if f32
                                     else f"{ort / r['ours_fwd']:.2f}"),
            f"{fl / r['ours_fwd'] / 1e9:.0f}", f"{100 * fl / r['ours_fwd'] / 1e9 / peak:.0f}%",
            f"{r['ours_train'] * 1e3:.3f}", f"{r['torch_train'] * 1e3:.3f}",
            _mark(r["torch_train"] / r["ours_train"], tt) + f" (tgt {tt:g})",
            f"{3 * fl / r['ours_train'] / 1e9:.0f}", f"{100 * 3 * fl / r['ours_train'] / 1e9 / peak:.0f}%",
            f"{r['err']:.0e}"]


HEADER = ["config", "dtype", "fwd ours ms", "torch no_grad", "torch grad", "ort", "torch grad / ours",
          "torch no_grad / ours", "ort / ours", "GF/s", "% peak", "train ours ms", "torch train", "torch / ours",
          "GF/s", "% peak", "max |Δy|"]


def needs_rows(name, dt, r, peak):
    """What each target asks of the arithmetic: the time it allows (peer ÷ target ratio) against the time the
    FLOPs take at the measured GEMM peak.  Above 100% a target cannot be met by any implementation doing the same
    arithmetic on these cores; above ~85% it asks for large-GEMM efficiency from a loop of dependent small
    products."""
    f32 = dt == np.float32
    tf, to, tt = TARGETS[name] if f32 else (F64_TARGET, 0.0, F64_TARGET)
    fl = r["flops"]
    floor_fwd, floor_train = fl / peak / 1e9, 3 * fl / peak / 1e9
    cells = [name, np.dtype(dt).name, f"{floor_fwd * 1e3:.3f}", f"{floor_train * 1e3:.3f}"]
    for peer, ratio, floor in (("torch_fwd_grad", tf, floor_fwd), ("ort_fwd", to, floor_fwd),
                               ("torch_train", tt, floor_train)):
        t = r.get(peer)
        if t is None or not ratio:
            cells.append("–")
            continue
        allowed = t / ratio
        cells.append(f"{allowed * 1e3:.3f} ms = {100 * floor / allowed:.0f}%")
    return cells


NEEDS_HEADER = ["config", "dtype", "fwd at peak ms", "train at peak ms", "fwd target vs torch: allowed ms = % of peak",
                "fwd target vs ort", "train target vs torch"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny/small/medium, float32, fewer rounds")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", nargs="*", choices=list(GRID), help="grid names to run")
    ap.add_argument("--dtype", choices=["float32", "float64", "both"], default=None)
    ap.add_argument("--rounds", type=int, default=None, help="timing rounds per contender (median taken)")
    ap.add_argument("--no-startup", action="store_true", help="skip the start-up (import/compile) timings")
    ap.add_argument("--markdown", metavar="FILE", help="also write the results as markdown tables")
    ap.add_argument("--cpu-time", action="store_true",
                    help="1 thread each, timed by the CPU time of the calling thread: comparable numbers on a "
                         "loaded machine (no time lost to preemption), but no multi-threading")
    add_keep_heap(ap)
    args = ap.parse_args(argv)
    rerun_keeping_heap(args, ap.error)
    global CLOCK
    if args.cpu_time:
        CLOCK, args.threads = time.thread_time, 1
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
    rounds = args.rounds or (5 if args.quick else 11)
    block_s = 0.02 if args.quick else 0.05

    lines = []

    def out(s=""):
        print(s, flush=True)
        lines.append(s)

    import platform
    try:
        import onnxruntime
        ort_v = onnxruntime.__version__
    except ImportError:
        ort_v = "not installed"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    out(f"Machine: {cpu}, {os.cpu_count()} CPUs, load average {load:.1f} at "
        f"start; torch {torch.__version__}, onnxruntime {ort_v}; {args.threads} threads each; "
        f"medians of {rounds} rounds" + ("; CPU time of the calling thread" if args.cpu_time else "; wall time")
        + ("; glibc keeping freed memory (--keep-heap)" if keeping_heap() else ""))
    if not args.no_startup:
        s = startup_times()
        out(f"Start-up: import lstm {s['import']:.3f} s; first-ever compile (LSTM fwd+bwd, float32+float64) "
            f"{s['first_compile']:.1f} s; second process, first forward {s['second_process_forward']:.3f} s")
    peaks = {dt: sgemm_peak(dt, args.threads) for dt in dtypes}
    out("Measured GEMM peak (NumPy, 2048³): " + ", ".join(f"{np.dtype(d).name} {p:.0f} GF/s" for d, p in peaks.items()))
    out()
    out("| " + " | ".join(HEADER) + " |")
    out("|" + "---|" * len(HEADER))
    results = []
    for dt in dtypes:
        for name in names:
            r = bench(name, dt, rounds, block_s, args.threads)
            results.append((name, dt, r))
            out("| " + " | ".join(rows_for(name, dt, r, peaks[dt])) + " |")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    out()
    out(f"load average {load:.1f} at the end.  Ratios are peer ms / our ms; ✓ marks a speed target met "
        f"(float64 targets: 2× torch float64).")
    out()
    out("What the targets ask: the time each target allows (the peer's time ÷ the target ratio) and the share of "
        "the measured GEMM peak needed to do the FLOPs in that time (over 100%: out of reach for the same "
        "arithmetic on these cores).")
    out()
    out("| " + " | ".join(NEEDS_HEADER) + " |")
    out("|" + "---|" * len(NEEDS_HEADER))
    for name, dt, r in results:
        out("| " + " | ".join(needs_rows(name, dt, r, peaks[dt])) + " |")
    if args.markdown:
        from lstm.io.safefile import write_atomic
        write_atomic(args.markdown, ("\n".join(lines) + "\n").encode())


if __name__ == "__main__":
    main()
