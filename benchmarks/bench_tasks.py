"""The long-time-lag experiments at full size, several seeds, as the `lstm` command runs them.

    python benchmarks/bench_tasks.py                      # every experiment, seeds 0-4, 2 runs at a time
    python benchmarks/bench_tasks.py adding_lstm adding_rnn --seeds 0 1 2 3 4
    python benchmarks/bench_tasks.py --table              # print the Markdown table of the stored results

Each run is one command line (`lstm tasks run ... --json --quiet`); its last output line (JSON) is appended to
benchmarks/results/tasks.jsonl with the command, the wall time and the run's own CPU time (user + system; the
runs are single-threaded, so on a quiet machine the wall time is about the CPU time).  `--table` turns that file into
the table of benchmarks/TASKS.md: per experiment, the seeds that met the criterion and each seed's test metric.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "tasks.jsonl"

# name -> (arguments after `lstm tasks run`, what must hold)
EXPERIMENTS = {
    "adding_lstm": (["adding", "--model", "lstm", "--length", "200"], "test MSE < 0.01"),
    "adding_rnn": (["adding", "--model", "rnn", "--length", "200", "--no-early-stop"],
                   "test MSE > 0.1 with the LSTM's budget (4,000 steps, 32 units, batch 64)"),
    "adding_rnn_wide": (["adding", "--model", "rnn", "--length", "200", "--hidden", "66", "--no-early-stop"],
                        "test MSE > 0.1 with as many parameters as the LSTM (66 units: 4,687 vs 4,641)"),
    "copy_lstm": (["copy", "--model", "lstm", "--length", "100"], "test loss < 10·ln 8/120 = 0.1733"),
    "temporal_order_lstm": (["temporal_order", "--model", "lstm"], "≥ 99% of 2,560 test sequences"),
    "reber_lstm": (["reber", "--model", "lstm"], "all 256 test strings (1997 criterion)"),
}


def passed(name: str, r: dict) -> bool:
    if name.startswith("adding_rnn"):
        return r["test_mse"] > 0.1
    return bool(r["solved"])


def command(name: str, seed: int, backend: str) -> list[str]:
    args, _ = EXPERIMENTS[name]
    cmd = ["lstm", "tasks", "run", *args, "--seed", str(seed), "--json", "--quiet"]
    if backend != "auto":
        cmd += ["--backend", backend]
    return cmd


def run_one(name: str, seed: int, backend: str) -> dict:
    cmd = command(name, seed, backend)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True, start_new_session=True)
        _, status, usage = os.wait4(proc.pid, 0)          # this child's own CPU time, not its neighbours'
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed:\n{stderr[-2000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    record = {"experiment": name, "command": shlex.join(cmd), "wall_seconds": round(wall, 1),
              "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1), "passed": passed(name, result), **result}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS, "a") as fh:
        fh.write(json.dumps(record) + "\n")
    print(f"{name} seed {seed}: {'PASS' if record['passed'] else 'FAIL'}  "
          f"{result['baseline_metric']} = {result[result['baseline_metric']]:.4g}  steps {result['steps']}  "
          f"{wall:.0f} s wall, {record['cpu_seconds']:.0f} s CPU", flush=True)
    return record


def table(path: Path = RESULTS) -> str:
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    latest: dict = {}
    for r in records:                                  # the latest run of each (experiment, seed)
        latest[(r["experiment"], r["seed"])] = r
    lines = ["| experiment | must hold | seeds passing | per seed: metric (steps, CPU s / wall s) |",
             "| --- | --- | --- | --- |"]
    for name, (_, must) in EXPERIMENTS.items():
        runs = sorted((r for (n, _), r in latest.items() if n == name), key=lambda r: r["seed"])
        if not runs:
            continue
        metric = runs[0]["baseline_metric"]
        cells = "; ".join(f"{r['seed']}: {_fmt(metric, r[metric])} ({r['steps']}, "
                          f"{r.get('cpu_seconds', float('nan')):.0f} / {r['wall_seconds']:.0f})" for r in runs)
        ok = sum(r["passed"] for r in runs)
        lines.append(f"| `{name}` | {must} | {ok}/{len(runs)} | {metric}: {cells} |")
    return "\n".join(lines)


def _fmt(metric: str, v: float) -> str:
    return f"{v:.2%}" if "accuracy" in metric else f"{v:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("experiments", nargs="*", help=f"any of {', '.join(EXPERIMENTS)} (default: all)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--jobs", type=int, default=2, help="runs at a time (default 2: one per core)")
    ap.add_argument("--backend", default="auto", choices=("auto", "numba", "reference"))
    ap.add_argument("--table", action="store_true", help="only print the table of stored results")
    args = ap.parse_args()
    if args.table:
        print(table())
        return
    unknown = [n for n in args.experiments if n not in EXPERIMENTS]
    if unknown:
        ap.error(f"unknown experiment(s) {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}")
    names = args.experiments or list(EXPERIMENTS)
    jobs = [(n, s) for n in names for s in args.seeds]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(lambda job: run_one(*job, args.backend), jobs))
    print(table())


if __name__ == "__main__":
    main()
