"""Character language models, lstm versus the same thing written in PyTorch.

    python benchmarks/bench_text.py equivalence   # same init, data order, optimizer: val loss at every evaluation
    python benchmarks/bench_text.py speed         # training chars/s at 2 × 256, seq 100, batch 32, side by side
    python benchmarks/bench_text.py profile       # where lstm's step goes: each kernel-pool call timed, and the rest
    python benchmarks/bench_text.py quality --minutes 10   # best val bits/char within the same wall-clock budget
    python benchmarks/bench_text.py spread        # how far dropout's random masks alone move val loss, both libraries
    python benchmarks/bench_text.py masks         # equivalence with dropout: both libraries given the same masks

All runs use the default corpus of `lstm demo` (pydoc_data.topics, 90/10 split) and 2 threads for both.

PyTorch allocates its large per-step tensors afresh, and glibc's malloc serves those from new pages (mmap) and
hands them back at every free: ~17,000 page faults and ~40-57 ms of system time per training step here, against
none for lstm (its kernels reuse their buffers).  ``--keep-heap`` reruns the script with glibc told to keep freed
memory for reuse (``GLIBC_TUNABLES`` mmap and trim thresholds of 4 GiB), as an allocator such as jemalloc or
TCMalloc does — what PyTorch's CPU performance guide recommends — so both libraries run without page faults.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import numpy as np  # noqa: E402
from bench_kernels import SETTLE_S, add_keep_heap, keeping_heap, rerun_keeping_heap, sgemm_peak  # noqa: E402
from threadpoolctl import ThreadpoolController  # noqa: E402

from lstm.data import StreamBatches  # noqa: E402
from lstm.data.text import Vocabulary, builtin_corpus  # noqa: E402
from lstm.models.language_model import LanguageModel, LanguageModelNet  # noqa: E402
from lstm.optim import Adam, clip_grad_norm  # noqa: E402


def corpus():
    text = builtin_corpus()
    vocab = Vocabulary.build(text, "char")
    ids = vocab.encode(text)
    n_val = len(ids) // 10
    return ids[:-n_val], ids[-n_val:], len(vocab)


def torch_net(ours: LanguageModelNet, vocab: int, emb: int, hidden: int, layers: int, dropout: float = 0.0):
    """The same network in PyTorch (dropout between layers and before the head, as LanguageModelNet)."""
    import torch

    class TorchLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(vocab, emb)
            self.rnn = torch.nn.LSTM(emb, hidden, layers, batch_first=True, dropout=dropout)
            self.drop = torch.nn.Dropout(dropout)
            self.head = torch.nn.Linear(hidden, vocab)

        def forward(self, x, state=None):
            h, state = self.rnn(self.emb(x), state)
            return self.head(self.drop(h)), state

    net = TorchLM()
    net.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    return net


class Ours:
    def __init__(self, vocab, emb, hidden, layers, lr, seed=0, dropout=0.0):
        self.net = LanguageModelNet(vocab, emb, hidden, layers, dropout, seed=seed)
        self.opt = Adam(self.net, lr=lr)
        self.state = None
        self.blas = ThreadpoolController()     # scans the loaded libraries once (~1 ms), not at every step

    def step(self, chunk):
        # As lstm.train.Trainer (and so `lstm train-text`) does: NumPy's BLAS on one thread while training.
        with self.blas.limit(limits=1, user_api="blas"):
            loss, self.state = self.net.loss(chunk.x, chunk.y, None if chunk.reset else self.state)
            clip_grad_norm(self.net.grads, 1.0)
            self.opt.step(self.net.grads)
        return loss

    def val_loss(self, ids, batch, seq_len):
        self.net.eval()
        b = StreamBatches(ids, batch, seq_len)
        total, state = 0.0, None
        from lstm.nn import cross_entropy
        for k in range(len(b)):
            c = b(k)
            logits, state = self.net.forward(c.x, state)
            total += cross_entropy(logits, c.y)[0] * b.predictions(k)
        self.net.train()
        return total / sum(b.predictions(k) for k in range(len(b)))


class Theirs:
    def __init__(self, ours: Ours, vocab, emb, hidden, layers, lr, dropout=0.0):
        import torch

        torch.set_num_threads(2)
        self.torch = torch
        self.net = torch_net(ours.net, vocab, emb, hidden, layers, dropout)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.vocab, self.state = vocab, None

    def step(self, chunk):
        torch = self.torch
        if chunk.reset:
            self.state = None
        logits, state = self.net(torch.from_numpy(chunk.x), self.state)
        self.state = tuple(s.detach() for s in state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, self.vocab), torch.from_numpy(chunk.y).reshape(-1))
        self.opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.opt.step()
        return loss.item()

    def val_loss(self, ids, batch, seq_len):
        torch = self.torch
        b = StreamBatches(ids, batch, seq_len)
        total, state = 0.0, None
        self.net.eval()
        with torch.no_grad():
            for k in range(len(b)):
                c = b(k)
                logits, state = self.net(torch.from_numpy(c.x), state)
                total += float(torch.nn.functional.cross_entropy(logits.reshape(-1, self.vocab),
                                                                 torch.from_numpy(c.y).reshape(-1))) * b.predictions(k)
        self.net.train()
        return total / sum(b.predictions(k) for k in range(len(b)))


def equivalence(args):
    train, val, V = corpus()
    cfg = dict(vocab=V, emb=64, hidden=args.hidden, layers=args.layers, lr=2e-3)
    ours = Ours(**cfg)
    theirs = Theirs(ours, **cfg)
    batches = StreamBatches(train, args.batch, args.seq_len)
    val = val[:20001]
    print(f"{'step':>6} {'lstm val':>10} {'torch val':>10} {'rel diff':>9}")
    worst = 0.0
    for step in range(1, args.steps + 1):
        chunk = batches(step - 1)
        ours.step(chunk)
        theirs.step(chunk)
        if step % args.eval_every == 0:
            a, b = ours.val_loss(val, 20, 100), theirs.val_loss(val, 20, 100)
            worst = max(worst, abs(a - b) / b)
            print(f"{step:6d} {a:10.5f} {b:10.5f} {abs(a - b) / b:9.2e}", flush=True)
    verdict = "within" if worst <= 0.01 else "OUTSIDE"
    print(f"worst relative difference over {args.steps} steps: {worst:.2e} ({verdict} 1%)")


class _Uniforms:
    """Stands in for a module's ``numpy.random.Generator``: ``random(shape)`` returns the uniforms queued for it."""

    def __init__(self):
        self.queue = []

    def random(self, shape):
        u = self.queue.pop(0)
        assert u.shape == tuple(shape), (u.shape, shape)
        return u


def masks(args):
    """Equivalence with dropout: the same network, init, data order and optimizer, *and the same dropout masks* in
    lstm and PyTorch.  PyTorch's nn.LSTM draws its inter-layer masks itself, so its side is two 1-layer LSTMs with
    the masks applied by hand; lstm's layer and Dropout get the same uniforms through their generators."""
    import torch

    train, val, V = corpus()
    H, B, T, p = 256, 32, 100, args.dropout
    ours = Ours(V, 64, H, 2, 2e-3, dropout=p)
    net = ours.net
    net.rnn._rng, net.drop._rng = _Uniforms(), _Uniforms()
    torch.set_num_threads(2)
    sd = {k: torch.tensor(v) for k, v in net.state_dict().items()}
    emb, head = torch.nn.Embedding(V, 64), torch.nn.Linear(H, V)
    cells = [torch.nn.LSTM(64, H, batch_first=True), torch.nn.LSTM(H, H, batch_first=True)]
    with torch.no_grad():
        emb.weight.copy_(sd["emb.weight"])
        head.weight.copy_(sd["head.weight"])
        head.bias.copy_(sd["head.bias"])
        for k, cell in enumerate(cells):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name + "_l0").copy_(sd[f"rnn.{name}_l{k}"])
    params = [*emb.parameters(), *cells[0].parameters(), *cells[1].parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=2e-3)
    gen, keep = np.random.default_rng(args.seed), 1.0 - p

    def torch_forward(x, state, m1=None, m2=None):
        h = emb(x)
        new = []
        for k, cell in enumerate(cells):
            h, st = cell(h, None if state is None else state[k])
            new.append(tuple(s.detach() for s in st))
            if k == 0 and m1 is not None:
                h = h * m1
        return head(h if m2 is None else h * m2), new

    def torch_val(ids):
        b, total, state = StreamBatches(ids, 20, 100), 0.0, None
        with torch.no_grad():
            for k in range(len(b)):
                c = b(k)
                logits, state = torch_forward(torch.from_numpy(c.x), state)
                y = torch.from_numpy(c.y).reshape(-1)
                total += float(torch.nn.functional.cross_entropy(logits.reshape(-1, V), y)) * b.predictions(k)
        return total / sum(b.predictions(k) for k in range(len(b)))

    batches, val, state, worst = StreamBatches(train, B, T), val[:20001], None, 0.0
    print(f"2 x {H}, dropout {p}, the same masks in both; val on 20,000 chars")
    print(f"{'step':>6} {'lstm val':>10} {'torch val':>10} {'rel diff':>9}")
    for step in range(1, args.steps + 1):
        chunk = batches(step - 1)
        u1, u2 = gen.random((T, B, H)), gen.random((B, T, H))   # lstm's layer is time-major inside
        net.rnn._rng.queue.append(u1)
        net.drop._rng.queue.append(u2)
        ours.step(chunk)
        m1 = torch.from_numpy(((u1 < keep).astype(np.float32) / np.float32(keep)).transpose(1, 0, 2).copy())
        m2 = torch.from_numpy((u2 < keep).astype(np.float32) * np.float32(1.0 / keep))
        if chunk.reset:
            state = None
        logits, state = torch_forward(torch.from_numpy(chunk.x), state, m1, m2)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), torch.from_numpy(chunk.y).reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % args.eval_every == 0:
            a, b = ours.val_loss(val, 20, 100), torch_val(val)
            worst = max(worst, abs(a - b) / b)
            print(f"{step:6d} {a:10.5f} {b:10.5f} {abs(a - b) / b:9.2e}", flush=True)
    print(f"worst relative difference over {args.steps} steps: {worst:.2e}")


def speed(args):
    train, _, V = corpus()
    cfg = dict(vocab=V, emb=64, hidden=256, layers=2, lr=2e-3)
    batches = StreamBatches(train, 32, 100)
    ours = Ours(**cfg)
    theirs = Theirs(ours, **cfg)
    chars = 32 * 100
    results = {"lstm": [], "pytorch": []}
    faults = {"lstm": 0, "pytorch": 0}                         # minor page faults in the timed steps
    for s in range(3):                                         # warm-up (compilation, allocator)
        ours.step(batches(s))
        theirs.step(batches(s))
    for rep in range(args.repeats):
        for name, runner in (("lstm", ours), ("pytorch", theirs)):
            time.sleep(SETTLE_S)                               # the other's threads stop spinning (bench_kernels)
            runner.step(batches(rep * args.steps))              # untimed: wakes this one's threads again
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t0 = time.perf_counter()
            for s in range(args.steps):
                runner.step(batches(rep * args.steps + s))
            results[name].append(args.steps * chars / (time.perf_counter() - t0))
            faults[name] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    a, b = np.median(results["lstm"]), np.median(results["pytorch"])
    heap = "glibc keeping freed memory (--keep-heap)" if keeping_heap() else "default allocator"
    print(f"training throughput, 2 layers x 256, seq 100, batch 32 (median of {args.repeats} x {args.steps} steps; "
          f"{heap})")
    per_step = {k: v / (args.repeats * args.steps) for k, v in faults.items()}
    print(f"  lstm     {a:10,.0f} chars/s   {per_step['lstm']:8,.0f} page faults per step")
    print(f"  pytorch  {b:10,.0f} chars/s   {per_step['pytorch']:8,.0f} page faults per step")
    print(f"  ratio    {a / b:10.2f} x")
    paired = np.array(results["lstm"]) / np.array(results["pytorch"])   # each block against its neighbour in time
    print(f"  per repeat {paired.min():.2f} .. {paired.max():.2f} x (median {np.median(paired):.2f})")
    fl = step_flops(V, emb=64, hidden=256, layers=2, tokens=chars)
    ours = step_flops(V, emb=64, hidden=256, layers=2, tokens=chars, lookup=True)
    peak = sgemm_peak(np.float32, 2)
    ceiling = chars / (fl / peak / 1e9)
    print(f"arithmetic: {fl / 1e9:.2f} GFLOP per step (products only); at the measured GEMM peak of {peak:.0f} GF/s "
          f"no loop doing this arithmetic exceeds {ceiling:,.0f} chars/s = {ceiling / b:.2f} x PyTorch here "
          f"(PyTorch at {b * fl / chars / 1e9:.0f} GF/s = {100 * b / ceiling:.0f}% of it)")
    ceiling = chars / (ours / peak / 1e9)
    print(f"lstm folds the embedding into the first layer (its {V} rows projected once, not all {chars} inputs): "
          f"{ours / 1e9:.2f} GFLOP per step, at most {ceiling:,.0f} chars/s = {ceiling / b:.2f} x PyTorch "
          f"(lstm at {a * ours / chars / 1e9:.0f} GF/s = {100 * a / ceiling:.0f}% of it)")


def profile(args):
    """Where lstm's training step goes: every call into the kernels' thread pool timed from the caller (wall time,
    grouped by compiled worker), and the rest of the step — Python between the calls — as the remainder."""
    from collections import defaultdict

    from lstm.kernels import _pool

    train, _, V = corpus()
    ours = Ours(vocab=V, emb=64, hidden=256, layers=2, lr=2e-3)
    batches = StreamBatches(train, 32, 100)
    for s in range(3):
        ours.step(batches(s))
    spent, calls = defaultdict(float), defaultdict(int)
    run = _pool.Pool.run

    def timed(pool, worker, n, *rest):
        t0 = time.perf_counter()
        run(pool, worker, n, *rest)
        name = getattr(worker, "py_func", worker).__name__
        spent[name] += time.perf_counter() - t0
        calls[name] += 1

    _pool.Pool.run = timed
    try:
        t0 = time.perf_counter()
        for s in range(args.steps):
            ours.step(batches(3 + s))
        total = (time.perf_counter() - t0) / args.steps
    finally:
        _pool.Pool.run = run
    print(f"training step, 2 layers x 256, seq 100, batch 32: {1e3 * total:.2f} ms (mean of {args.steps})")
    for name, t in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:32s} {calls[name] / args.steps:4.0f} calls {1e3 * t / args.steps:8.2f} ms")
    print(f"  {'Python between the calls':32s} {'':10s} {1e3 * (total - sum(spent.values()) / args.steps):8.2f} ms")


def step_flops(vocab, emb, hidden, layers, tokens, lookup=False):
    """Matrix-product FLOPs of one training step: forward, then backward at twice the forward (input and weight
    gradients) — the embedding is a lookup; the first layer's input gradient is needed for it.  With ``lookup``
    the first layer's input products run over the vocabulary's rows instead of the tokens (``LSTM(table, ids)``)."""
    fwd, inp = 0, emb
    for k in range(layers):
        fwd += 2 * (vocab if lookup and k == 0 else tokens) * 4 * hidden * inp + 2 * tokens * 4 * hidden * hidden
        inp = hidden
    fwd += 2 * tokens * hidden * vocab                        # head
    return 3 * fwd


def quality(args):
    """`lstm train-text` itself (LanguageModel.fit → Trainer) against the same network in a PyTorch loop.

    Both get the same wall-clock budget, validate every ``eval_every`` steps and once at the end (validation time
    counts against the budget for both), and report their best validation loss — what train-text keeps.  With
    ``--seeds N`` the pair runs N times (seed s: the same initial weights for both, dropout masks from s) and the
    means are compared: one pair cannot resolve the ~0.02 bits/char that dropout noise alone moves a run."""
    decay = f"lr x {args.lr_factor:g} on a validation plateau (patience 1)" if args.lr_factor < 1 else "constant lr"
    print(f"2 x 256 LSTM, embedding 64, dropout {args.dropout}, seq 100, batch 32, Adam 2e-3, clip 1, {decay}, "
          f"{args.minutes:g} min each, seeds {args.first_seed}..{args.first_seed + args.seeds - 1}", flush=True)
    best = {"lstm": [], "pytorch": []}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for name, v in _quality_pair(args, seed).items():
            best[name].append(v / math.log(2))
    if args.seeds > 1:
        for name, vs in best.items():
            print(f"{name:8s} best bits/char over seeds: " + " ".join(f"{v:.3f}" for v in vs) +
                  f"   mean {np.mean(vs):.3f}  sd {np.std(vs, ddof=1):.3f}")
        diff = np.array(best["lstm"]) - np.array(best["pytorch"])
        print("lstm - pytorch per seed: " + " ".join(f"{d:+.3f}" for d in diff) +
              f"   mean {diff.mean():+.3f}  sd {diff.std(ddof=1):.3f}")


def _quality_pair(args, seed):
    """One budgeted run of each library from the same initial weights; returns their best validation losses."""
    import torch

    text = builtin_corpus()
    train, val, V = corpus()
    ours = LanguageModel(level="char", hidden_size=256, num_layers=2, embedding_dim=64, dropout=args.dropout,
                         seq_len=100, batch_size=32, lr=2e-3, steps=None, minutes=args.minutes,
                         eval_every=args.eval_every, seed=seed, lr_factor=args.lr_factor, lr_patience=1)
    init = Ours(V, 64, 256, 2, 2e-3, seed=seed)                  # the initial weights train-text draws for seed
    theirs = Theirs(init, V, 64, 256, 2, 2e-3, args.dropout)
    plateau = (torch.optim.lr_scheduler.ReduceLROnPlateau(theirs.opt, factor=args.lr_factor, patience=1)
               if args.lr_factor < 1 else None)                  # as train-text's schedule
    torch.manual_seed(seed)

    t0 = time.perf_counter()
    ours.fit(text, progress=False)
    res = ours.train_result_
    curves = {"lstm": [(r["step"], r["val_loss"]) for r in res.history if "val_loss" in r]}
    print(f"seed {seed}: lstm     {res.steps:6d} steps in {time.perf_counter() - t0:5.0f} s", flush=True)

    batches, t0, step, curve = StreamBatches(train, 32, 100), time.perf_counter(), 0, []
    while time.perf_counter() - t0 < 60 * args.minutes:
        theirs.step(batches(step))
        step += 1
        if step % args.eval_every == 0:
            curve.append((step, theirs.val_loss(val, 32, 100)))
            if plateau is not None:
                plateau.step(curve[-1][1])
    if not curve or curve[-1][0] != step:
        curve.append((step, theirs.val_loss(val, 32, 100)))
    curves["pytorch"] = curve
    print(f"seed {seed}: pytorch  {step:6d} steps in {time.perf_counter() - t0:5.0f} s", flush=True)

    print(f"{'step':>6} {'lstm val':>9} {'pytorch val':>11}")
    rows = {}
    for name, c in curves.items():
        for st, v in c:
            rows.setdefault(st, {})[name] = v
    for st in sorted(rows):
        a, b = rows[st].get("lstm"), rows[st].get("pytorch")
        print(f"{st:6d} {'' if a is None else f'{a:9.4f}':>9} {'' if b is None else f'{b:11.4f}':>11}")
    out = {}
    for name, c in curves.items():
        st, v = min(c, key=lambda sv: sv[1])
        print(f"{name:8s} best val {v:.4f} nats = {v / math.log(2):.3f} bits/char at step {st} "
              f"(last {c[-1][1] / math.log(2):.3f} at step {c[-1][0]})", flush=True)
        out[name] = v
    return out


def spread(args):
    """The same initial weights and data order, dropout masks from different seeds: the spread of val loss that
    dropout noise alone gives each library after ``--steps`` steps (the scale a 10-minute comparison can resolve)."""
    import torch

    train, val, V = corpus()
    val = val[:20001]
    cfg = dict(vocab=V, emb=64, hidden=256, layers=2, lr=2e-3)
    print(f"2 x 256, dropout {args.dropout}, {args.steps} steps, val on 20,000 chars, {args.seeds} mask seeds each")
    for name in ("lstm", "pytorch"):
        vals = []
        for seed in range(args.seeds):
            ours = Ours(**cfg, dropout=args.dropout)
            ours.net.rnn._rng = np.random.default_rng(1000 + seed)
            ours.net.drop._rng = np.random.default_rng(2000 + seed)
            runner = ours
            if name == "pytorch":
                runner = Theirs(ours, **cfg, dropout=args.dropout)
                torch.manual_seed(seed)
            batches = StreamBatches(train, 32, 100)
            for step in range(args.steps):
                runner.step(batches(step))
            vals.append(runner.val_loss(val, 20, 100))
        summary = f"   mean {np.mean(vals):.4f}  sd {np.std(vals, ddof=1):.4f}"
        print(f"{name:8s} " + " ".join(f"{v:.4f}" for v in vals) + summary, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_keep_heap(p)
    sub = p.add_subparsers(dest="what", required=True)
    e = sub.add_parser("equivalence")
    e.add_argument("--steps", type=int, default=300)
    e.add_argument("--eval-every", type=int, default=30)
    e.add_argument("--hidden", type=int, default=128)
    e.add_argument("--layers", type=int, default=2)
    e.add_argument("--batch", type=int, default=32)
    e.add_argument("--seq-len", type=int, default=100)
    s = sub.add_parser("speed")
    s.add_argument("--steps", type=int, default=10)
    s.add_argument("--repeats", type=int, default=3)
    f = sub.add_parser("profile")
    f.add_argument("--steps", type=int, default=40)
    q = sub.add_parser("quality")
    q.add_argument("--minutes", type=float, default=10)
    q.add_argument("--dropout", type=float, default=0.2)
    q.add_argument("--eval-every", type=int, default=250)
    q.add_argument("--seeds", type=int, default=1, help="run the pair this many times and compare means")
    q.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    q.add_argument("--lr-factor", type=float, default=0.5,
                   help="both: lr × this after two evaluations without improvement (train-text default; 1 = constant)")
    n = sub.add_parser("spread")
    n.add_argument("--steps", type=int, default=300)
    n.add_argument("--seeds", type=int, default=3)
    n.add_argument("--dropout", type=float, default=0.4)
    k = sub.add_parser("masks")
    k.add_argument("--steps", type=int, default=300)
    k.add_argument("--eval-every", type=int, default=30)
    k.add_argument("--dropout", type=float, default=0.4)
    k.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rerun_keeping_heap(args, p.error)
    {"equivalence": equivalence, "speed": speed, "profile": profile, "quality": quality, "spread": spread,
     "masks": masks}[args.what](args)


if __name__ == "__main__":
    main()
