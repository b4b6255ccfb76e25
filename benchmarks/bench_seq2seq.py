"""Sequence to sequence on the built-in tasks: accuracy on held-out sets, training time, beam vs greedy, attention.

    python benchmarks/bench_seq2seq.py dates      # dates → ISO 8601, exact match on 2,000 held-out examples
    python benchmarks/bench_seq2seq.py numbers    # number words → digits (0–999,999), 2,000 held-out examples
    python benchmarks/bench_seq2seq.py numbers-char   # the same with character-level sources
    python benchmarks/bench_seq2seq.py padded     # dates padded to longer inputs: attention vs none, same budget
    python benchmarks/bench_seq2seq.py all

Training pairs are drawn with seed 0, test pairs with seed 0 + TEST_SEED_OFFSET (a different random stream).
Each run appends a JSON record to benchmarks/results/seq2seq.jsonl and prints a Markdown row.

Threads: the machine has 2 cores shared with other jobs.  Numba's parallel loops and OpenBLAS's thread pools spin
while they wait; when other processes hold the cores this made training 10–100× slower (measured: a
B=32, T=13 LSTM forward+backward went from 0.6 ms to 86 ms).  So this script pins one thread each
(NUMBA_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1) unless the caller sets them.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from lstm.data.seq2seq_tasks import TEST_SEED_OFFSET, number_pairs, pad_sources, train_test  # noqa: E402
from lstm.models.seq2seq import Seq2Seq  # noqa: E402

RESULTS = os.path.join(os.path.dirname(__file__), "results", "seq2seq.jsonl")
N_TRAIN, N_TEST = 50_000, 2_000

CONFIGS = {
    # dates: characters in, characters out
    "dates": dict(source_level="char", target_level="char", attention="luong", hidden_size=128, embedding_dim=64,
                  batch_size=64, lr=3e-3, steps=3000, minutes=9.0, eval_every=500),
    # numbers: words in ("forty", "-", "two" ...), digits out
    "numbers": dict(source_level="word", target_level="char", attention="luong", hidden_size=128, embedding_dim=64,
                    batch_size=64, lr=3e-3, steps=3000, minutes=9.0, eval_every=500),
    # the same task with characters in (the CLI's default levels): sources up to 71 steps instead of 13
    "numbers-char": dict(source_level="char", target_level="char", attention="luong", hidden_size=128,
                         embedding_dim=64, batch_size=64, lr=3e-3, steps=3000, minutes=9.0, eval_every=500),
}


def evaluate(model, test, beams=(1, 4)) -> dict:
    sources = [s for s, _ in test]
    out = {}
    t0 = time.perf_counter()
    greedy = model.search(sources, beam=1)
    greedy_seconds = time.perf_counter() - t0
    for K in beams:
        t0 = time.perf_counter()
        hyps = greedy if K == 1 else model.search(sources, beam=K)
        seconds = greedy_seconds if K == 1 else time.perf_counter() - t0
        texts = [model._text(h.tokens) for h in hyps]
        out[f"acc_beam{K}"] = float(np.mean([t == want for t, (_, want) in zip(texts, test)]))
        out[f"decode_s_beam{K}"] = round(seconds, 2)
        out[f"mean_logp_beam{K}"] = float(np.mean([h.logp for h in hyps]))
        if K > 1:
            out[f"beam{K}_lower_than_greedy"] = int(sum(h.score < g.score for h, g in zip(hyps, greedy)))
            plain = model.search(sources, beam=K, keep_greedy=False)
            out[f"plain_beam{K}_lower_than_greedy"] = int(sum(h.score < g.score - 1e-9 for h, g in zip(plain, greedy)))
            out[f"plain_beam{K}_higher_than_greedy"] = int(sum(h.score > g.score + 1e-9 for h, g in zip(plain, greedy)))
    beam1 = model.search(sources, beam=1, use_beam_search=True)
    out["beam1_equals_greedy"] = all(a.tokens == b.tokens and a.logp == b.logp for a, b in zip(beam1, greedy))
    wrong = [(s, model._text(h.tokens), t) for (s, t), h in zip(test, greedy) if model._text(h.tokens) != t]
    out["errors"] = wrong[:8]
    return out


def run(name: str, train, test, params: dict, tag: str = "", extra_tests=None) -> dict:
    model = Seq2Seq(**params, seed=0)
    t0 = time.perf_counter()
    model.fit(train, progress=False)
    seconds = time.perf_counter() - t0
    res = model.train_result_
    record = {"task": name, "tag": tag, "params": params, "train_pairs": model.n_train_pairs_,
              "steps": res.steps, "stopped": res.stopped, "train_seconds": round(seconds, 1),
              "best_val_loss": res.best_val, "best_step": res.best_step}
    seen = {s for s, _ in train}
    record["test_sources_seen_in_training"] = int(sum(s in seen for s, _ in test))
    record.update(evaluate(model, test))
    unseen = [(s, t) for s, t in test if s not in seen]
    if unseen and len(unseen) < len(test):
        record["acc_beam1_unseen_only"] = model.score(unseen)
    for label, pairs in (extra_tests or {}).items():
        record[f"acc_beam1_{label}"] = model.score(pairs)
    record["threads"] = {k: os.environ.get(k) for k in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    record["loadavg_after"] = os.getloadavg()[0]
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "a") as fh:
        fh.write(json.dumps(record) + "\n")
    print(f"| {name}{' ' + tag if tag else ''} | {params['attention']} | {res.steps} | {seconds:.0f} s | "
          f"{record['acc_beam1']:.2%} | {record['acc_beam4']:.2%} | {record['beam4_lower_than_greedy']} |",
          flush=True)
    for s, got, want in record["errors"]:
        print(f"    miss: {s!r} → {got!r} (want {want!r})")
    return record


def bench_task(name: str, steps: int | None, minutes: float | None):
    params = dict(CONFIGS[name])
    if steps:
        params["steps"] = steps
    if minutes:
        params["minutes"] = minutes
    task = name.split("-")[0]
    train, test = train_test(task, N_TRAIN, N_TEST, seed=0)
    extra = None
    if task == "numbers":   # also numbers drawn uniformly over 0–999,999 (mostly six digits)
        extra = {"uniform": number_pairs(N_TEST, seed=TEST_SEED_OFFSET, uniform=True)}
    return run(name, train, test, params, extra_tests=extra)


def bench_padded(lengths=(30, 60, 120), steps: int = 1500):
    """Dates with every source padded to L characters ('_' filler, text at a random offset), same budget each."""
    train, test = train_test("dates", N_TRAIN, N_TEST, seed=0)
    for L in lengths:
        tr, te = pad_sources(train, L, seed=1), pad_sources(test, L, seed=2)
        for attention in ("luong", "none"):
            params = dict(CONFIGS["dates"], attention=attention, steps=steps, minutes=9.0, eval_every=500)
            run("dates", tr, te, params, tag=f"padded to {L}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("dates", "numbers", "numbers-char", "padded", "all"))
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--padded-steps", type=int, default=1500)
    args = ap.parse_args()
    print("| task | attention | steps | train time | exact (greedy) | exact (beam 4) | beam 4 < greedy |")
    print("|---|---|---|---|---|---|---|")
    if args.what in ("dates", "all"):
        bench_task("dates", args.steps, args.minutes)
    if args.what in ("numbers", "all"):
        bench_task("numbers", args.steps, args.minutes)
    if args.what in ("numbers-char", "all"):
        bench_task("numbers-char", args.steps, args.minutes)
    if args.what in ("padded", "all"):
        bench_padded(steps=args.padded_steps)


if __name__ == "__main__":
    main()
