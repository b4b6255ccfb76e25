"""Character language models, lstm versus the same thing written in PyTorch.

    python benchmarks/bench_text.py equivalence   # same init, data order, optimizer: val loss at every evaluation
    python benchmarks/bench_text.py speed         # training chars/s at 2 × 256, seq 100, batch 32, side by side
    python benchmarks/bench_text.py quality --minutes 10   # val bits/char after the same wall-clock budget

All runs use the default corpus of `lstm demo` (pydoc_data.topics, 90/10 split) and 2 threads for both.
"""

from __future__ import annotations

import argparse
import math
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from lstm.data import StreamBatches  # noqa: E402
from lstm.data.text import Vocabulary, builtin_corpus  # noqa: E402
from lstm.models.language_model import LanguageModelNet  # noqa: E402
from lstm.optim import Adam, clip_grad_norm  # noqa: E402


def corpus():
    text = builtin_corpus()
    vocab = Vocabulary.build(text, "char")
    ids = vocab.encode(text)
    n_val = len(ids) // 10
    return ids[:-n_val], ids[-n_val:], len(vocab)


def torch_net(ours: LanguageModelNet, vocab: int, emb: int, hidden: int, layers: int):
    import torch

    class TorchLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(vocab, emb)
            self.rnn = torch.nn.LSTM(emb, hidden, layers, batch_first=True)
            self.head = torch.nn.Linear(hidden, vocab)

        def forward(self, x, state=None):
            h, state = self.rnn(self.emb(x), state)
            return self.head(h), state

    net = TorchLM()
    net.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    return net


class Ours:
    def __init__(self, vocab, emb, hidden, layers, lr, seed=0):
        self.net = LanguageModelNet(vocab, emb, hidden, layers, seed=seed)
        self.opt = Adam(self.net, lr=lr)
        self.state = None

    def step(self, chunk):
        # As lstm.train.Trainer (and so `lstm train-text`) does: NumPy's BLAS on one thread while training.
        with threadpool_limits(1, user_api="blas"):
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
            total += cross_entropy(logits, c.y)[0]
        self.net.train()
        return total / len(b)


class Theirs:
    def __init__(self, ours: Ours, vocab, emb, hidden, layers, lr):
        import torch

        torch.set_num_threads(2)
        self.torch = torch
        self.net = torch_net(ours.net, vocab, emb, hidden, layers)
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
        with torch.no_grad():
            for k in range(len(b)):
                c = b(k)
                logits, state = self.net(torch.from_numpy(c.x), state)
                total += float(torch.nn.functional.cross_entropy(logits.reshape(-1, self.vocab),
                                                                 torch.from_numpy(c.y).reshape(-1)))
        return total / len(b)


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
    print(f"worst relative difference over {args.steps} steps: {worst:.2e} ({'within' if worst <= 0.01 else 'OUTSIDE'} 1%)")


def speed(args):
    train, _, V = corpus()
    cfg = dict(vocab=V, emb=64, hidden=256, layers=2, lr=2e-3)
    batches = StreamBatches(train, 32, 100)
    ours = Ours(**cfg)
    theirs = Theirs(ours, **cfg)
    chars = 32 * 100
    results = {"lstm": [], "pytorch": []}
    for s in range(3):                                         # warm-up (compilation, allocator)
        ours.step(batches(s))
        theirs.step(batches(s))
    for rep in range(args.repeats):
        for name, runner in (("lstm", ours), ("pytorch", theirs)):
            t0 = time.perf_counter()
            for s in range(args.steps):
                runner.step(batches(rep * args.steps + s))
            results[name].append(args.steps * chars / (time.perf_counter() - t0))
    a, b = np.median(results["lstm"]), np.median(results["pytorch"])
    print(f"training throughput, 2 layers x 256, seq 100, batch 32 (median of {args.repeats} x {args.steps} steps)")
    print(f"  lstm     {a:10,.0f} chars/s")
    print(f"  pytorch  {b:10,.0f} chars/s")
    print(f"  ratio    {a / b:10.2f} x")


def quality(args):
    train, val, V = corpus()
    cfg = dict(vocab=V, emb=64, hidden=256, layers=2, lr=2e-3)
    batches = StreamBatches(train, 32, 100)
    ours = Ours(**cfg)
    theirs = Theirs(ours, **cfg)
    for name, runner in (("lstm", ours), ("pytorch", theirs)):
        t0, step = time.perf_counter(), 0
        while time.perf_counter() - t0 < 60 * args.minutes:
            runner.step(batches(step))
            step += 1
        v = runner.val_loss(val, 32, 100)
        print(f"{name:8s} {step:6d} steps in {args.minutes:g} min: val {v:.4f} nats = {v / math.log(2):.3f} bits/char",
              flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    q = sub.add_parser("quality")
    q.add_argument("--minutes", type=float, default=10)
    args = p.parse_args()
    {"equivalence": equivalence, "speed": speed, "quality": quality}[args.what](args)


if __name__ == "__main__":
    main()
