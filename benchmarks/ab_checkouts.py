"""One language-model training step, two checkouts of this project, alternated: is a change faster?

    python benchmarks/ab_checkouts.py OLD_CHECKOUT NEW_CHECKOUT [--pairs 6] [--rounds 10] [--steps 5]
    python benchmarks/ab_checkouts.py OLD NEW --layer gru     # a 2-layer GRU(64, 256) forward + backward instead

Each checkout runs in its own worker process (``PYTHONPATH`` pointing at it) holding the character model of
``bench_text.py speed`` (2 × 256, batch 32, sequence 100); the two workers take turns, ``--steps`` training steps at
a time, so both see the same phases of a noisy host.  One process pair is not enough: the same code measured
against itself differed by ~1.5% from pair to pair (where each process's memory lands), so ``--pairs`` pairs are
started, alternating which starts first, and the mean of the per-pair differences of medians is reported with its
standard error.  Both checkouts need their kernels compiled once beforehand (run anything that trains).
``--layer lstm|gru|rnn`` times a bare 2-layer layer instead (input 64, hidden 256, T 100, B 32, float32): one
forward and one backward (with δx) a step.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

WORKER = """
import sys, time
sys.path.insert(0, {bench!r})
from bench_text import Ours, corpus
from lstm.data import StreamBatches
train, _, V = corpus()
model = Ours(vocab=V, emb=64, hidden=256, layers=2, lr=2e-3)
batches = StreamBatches(train, 32, 100)
s = 0
for _ in range(3):
    model.step(batches(s)); s += 1
print("ready", flush=True)
for line in sys.stdin:
    t0 = time.perf_counter()
    for _ in range(int(line)):
        model.step(batches(s)); s += 1
    print((time.perf_counter() - t0) / int(line) * 1e3, flush=True)
"""


LAYER_WORKER = """
import sys, time
import numpy as np
from lstm import nn
layer = nn.{layer}(64, 256, num_layers=2, seed=0)
rng = np.random.default_rng(0)
x = rng.standard_normal((100, 32, 64)).astype(np.float32)
dy = rng.standard_normal((100, 32, 256)).astype(np.float32)
for _ in range(3):
    layer(x); layer.backward(dy)
print("ready", flush=True)
for line in sys.stdin:
    t0 = time.perf_counter()
    for _ in range(int(line)):
        layer(x); layer.backward(dy)
    print((time.perf_counter() - t0) / int(line) * 1e3, flush=True)
"""


def start(checkout: str, layer: str | None = None) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
    code = (WORKER.format(bench=os.path.join(os.path.abspath(checkout), "benchmarks")) if layer is None
            else LAYER_WORKER.format(layer=layer.upper()))
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=env, cwd=tempfile.gettempdir())
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit(f"the worker for {checkout} did not start (is it a checkout of this project?)")
    return proc


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--pairs", type=int, default=6, help="process pairs (default 6)")
    ap.add_argument("--rounds", type=int, default=10, help="turns per process in a pair (default 10)")
    ap.add_argument("--steps", type=int, default=5, help="training steps per turn (default 5)")
    ap.add_argument("--layer", choices=("lstm", "gru", "rnn"), default=None,
                    help="time a 2-layer layer's forward + backward instead of the language model's step")
    args = ap.parse_args(argv)
    names, diffs, medians = (args.old, args.new), [], ([], [])
    for pair in range(args.pairs):
        procs = [None, None]
        for i in ((0, 1) if pair % 2 == 0 else (1, 0)):
            procs[i] = start(names[i], args.layer)
        times = ([], [])
        for r in range(args.rounds):
            for i in ((0, 1) if r % 2 == 0 else (1, 0)):
                procs[i].stdin.write(f"{args.steps}\n")
                procs[i].stdin.flush()
                times[i].append(float(procs[i].stdout.readline()))
        for p in procs:
            p.stdin.close()
            p.wait()
        m = [float(np.median(t)) for t in times]
        medians[0].append(m[0])
        medians[1].append(m[1])
        diffs.append(m[1] - m[0])
        print(f"pair {pair}: old {m[0]:7.2f} ms  new {m[1]:7.2f} ms  new - old {m[1] - m[0]:+6.2f} ms", flush=True)
    d = np.array(diffs)
    se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
    base = float(np.median(medians[0]))
    print(f"ms per step, median over pairs: old {base:.2f}, new {np.median(medians[1]):.2f}")
    print(f"new - old: {d.mean():+.2f} ± {se:.2f} ms per step ({100 * d.mean() / base:+.2f}%), {len(d)} pairs")


if __name__ == "__main__":
    main()
