"""The copy memory problem of Arjovsky, Shah & Bengio (2016, §4.1), after Hochreiter & Schmidhuber (1997,
experiments 2 and 6).

Alphabet: 0 = blank, 1…8 = data symbols, 9 = delimiter.  A sequence of T + 20 steps is::

    input   s₁ … s₁₀   0 … 0 (T − 1 blanks)   9   0 … 0 (10 blanks)        s_k ~ uniform{1, …, 8}
    target  0 … 0 (T + 10 blanks)                  s₁ … s₁₀

so the network must hold ten symbols over T steps and reproduce them after the delimiter.  The loss is the
softmax cross-entropy over the 9 output classes (0…8), averaged over all T + 20 steps.

Memoryless baseline: predict blank for the first T + 10 steps and a uniform guess over the 8 symbols for the last
10, costing 10 · ln 8 / (T + 20) nats per step (0.173 at T = 100).  Success here: test loss below it.
"""

from __future__ import annotations

import math

import numpy as np

from ..nn import cross_entropy
from .base import Baseline, Batch, Task, check_length, one_hot

N_SYMBOLS = 8          # data symbols 1..8
BLANK, DELIM = 0, 9
N_RECALL = 10


def memoryless_baseline(T: int) -> float:
    """10 · ln 8 / (T + 20): nats per step of the best predictor that remembers nothing."""
    return N_RECALL * math.log(N_SYMBOLS) / (T + 2 * N_RECALL)


class CopyMemory(Task):
    """Copy memory: reproduce 10 symbols after T blanks and a delimiter (Arjovsky et al. 2016)."""

    name = "copy"
    input_size = 10
    output_size = 9
    readout = "all"
    metric = "test_loss"
    higher_is_better = False

    def __init__(self, length: int = 100):
        self.length = check_length("copy", length, 1)

    def sample(self, n: int, rng: np.random.Generator) -> Batch:
        T, K = self.length, N_RECALL
        symbols = rng.integers(1, N_SYMBOLS + 1, size=(K, n))          # (10, B)
        ids = np.zeros((T + 2 * K, n), dtype=np.int64)                 # (T+20, B)
        ids[:K] = symbols
        ids[T + K - 1] = DELIM
        target = np.zeros_like(ids)
        target[T + K:] = symbols
        return Batch(x=one_hot(ids, self.input_size), target=target)

    def loss(self, out, batch):
        return cross_entropy(out, batch.target)                        # out (T+20, B, 9)

    def evaluate(self, out, batch) -> dict:
        loss, _ = cross_entropy(out.astype(np.float64), batch.target)
        K = N_RECALL
        recall = out[-K:].argmax(-1) == batch.target[-K:]              # (10, B)
        return {"test_loss": float(loss), "test_symbol_accuracy": float(recall.mean()),
                "test_sequence_accuracy": float(recall.all(axis=0).mean())}

    def baseline(self) -> Baseline:
        b = memoryless_baseline(self.length)
        return Baseline("test_loss", b, f"test loss < {b:.4f} nats/step (the memoryless baseline)",
                        "10·ln 8/(T+20) nats per step: blanks, then a uniform guess (Arjovsky et al. 2016, §4.1)")

    def solved(self, metrics: dict) -> bool:
        return metrics["test_loss"] < memoryless_baseline(self.length)
