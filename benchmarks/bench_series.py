"""Forecasting and sequence-classification targets, run through the `lstm` command exactly as a user would.

    python benchmarks/bench_series.py forecast            # airline (m=12, h=12) + sunspots (m=11, h=11) backtests
    python benchmarks/bench_series.py forecast --seeds 3  # the same with seeds 0, 1, 2 (robustness of the margin)
    python benchmarks/bench_series.py windows             # the same series with more / fewer backtest windows
    python benchmarks/bench_series.py stocks              # weekly GOOG, h=4: a random walk, naive is hard to beat
    python benchmarks/bench_series.py mnist1d             # LSTMClassifier on MNIST-1D (default, bidirectional,
                                                          # forget bias 0), 4,000 train / 1,000 test
    python benchmarks/bench_series.py all

Each experiment prints the command, its JSON result and wall time, and a Markdown table row for
benchmarks/SERIES.md.  Targets: LSTM MASE below seasonal naive's on the same windows; MNIST-1D accuracy >= 91 %
(the published GRU figure).  Threads: OpenBLAS is pinned to 1 thread (tiny GEMMs; more threads only spin).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from lstm.cli import main  # noqa: E402

FORECASTS = [
    ("airline", ["forecast", "airline", "--horizon", "12", "--season", "12", "--backtest", "4", "--json"]),
    ("sunspots", ["forecast", "sunspots", "--horizon", "11", "--season", "11", "--backtest", "5", "--json"]),
]
WINDOWS = [(f"{name} N={n}", ["forecast", name, "--horizon", str(m), "--season", str(m), "--backtest", str(n),
                                "--json"])
           for name, m, counts in (("airline", 12, (2, 6, 8)), ("sunspots", 11, (8, 10, 15))) for n in counts]
STOCKS = ("stocks GOOG", ["forecast", "stocks", "--target", "GOOG", "--horizon", "4", "--season", "1",
                          "--backtest", "6", "--json"])
MNIST1D = [  # (what the row says, extra arguments); the defaults are 64 hidden units, 30 epochs, lr 0.01
    ("LSTM, H = 64 (defaults)", []),
    ("bidirectional LSTM, H = 64", ["--bidirectional"]),
    ("LSTM, H = 64, forget bias 0 (PyTorch init)", ["--forget-bias", "0"]),
]


def run(argv: list[str]) -> tuple[dict, float, str]:
    """Run one `lstm` command; return its JSON (the last stdout line), seconds, and what it printed on stderr."""
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    seconds = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"lstm {' '.join(argv)} failed ({code}): {err.getvalue().strip()}")
    return json.loads(out.getvalue().strip().splitlines()[-1]), seconds, err.getvalue()


def forecast(experiments, seeds: int) -> None:
    print("| series | seed | LSTM MASE | seasonal naive | naive | drift | LSTM sMAPE % | 0.1–0.9 coverage | time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, argv in experiments:
        for seed in range(seeds):
            obj, sec, err = run(argv + ["--seed", str(seed)])
            m = obj["metrics"]
            cov = obj.get("coverage", {})
            verdict = "✓" if m["lstm"]["mase"] < m["seasonal_naive"]["mase"] else "✗"
            print(f"| {name} | {seed} | **{m['lstm']['mase']:.3f}** {verdict} | {m['seasonal_naive']['mase']:.3f} | "
                  f"{m['naive']['mase']:.3f} | {m['drift']['mase']:.3f} | {m['lstm']['smape']:.2f} | "
                  f"{cov.get('empirical', float('nan')):.1%} (n={cov.get('points', 0)}) | {sec:.0f} s |", flush=True)
            print(f"<!-- lstm {' '.join(argv + ['--seed', str(seed)])}\n{json.dumps(obj)} -->", file=sys.stderr)
            for line in err.splitlines():
                if line.startswith("warning"):
                    print(f"<!-- {line} -->", file=sys.stderr)


def mnist1d() -> None:
    print("| data | model | test accuracy | macro-F1 | train accuracy | time |")
    print("|---|---|---|---|---|---|")
    for what, extra in MNIST1D:
        argv = ["classify", "train", "mnist1d"] + extra + ["--out", "runs/mnist1d-classifier.safetensors", "--json"]
        obj, sec, _ = run(argv)
        print(f"| MNIST-1D (4,000 / 1,000, T = 40) | {what} | **{obj['accuracy']:.1%}** | {obj['macro_f1']:.3f} | "
              f"{obj['train_accuracy']:.1%} | {sec:.0f} s |", flush=True)
        print(f"<!-- lstm {' '.join(argv)}\n{json.dumps(obj)} -->", file=sys.stderr)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("forecast", "windows", "stocks", "mnist1d", "all"))
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 for the forecast backtests (default 1)")
    return p.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    if args.what in ("forecast", "all"):
        forecast(FORECASTS, args.seeds)
    if args.what in ("windows", "all"):
        forecast(WINDOWS, 1)
    if args.what in ("stocks", "all"):
        forecast([STOCKS], args.seeds)
    if args.what in ("mnist1d", "all"):
        mnist1d()
