"""Temporal order, Hochreiter & Schmidhuber (1997, "Long short-term memory", §5.6, experiment 6a).

Alphabet {a, b, c, d, B, E, X, Y}, one-hot.  A sequence of length L ~ uniform{100, …, 110} starts with E, ends
with B (the trigger) and is otherwise random symbols from {a, b, c, d}, except at two positions t₁ ~
uniform{10, …, 20} and t₂ ~ uniform{50, …, 60}, which hold X or Y.  The class, read at the last step, is the
order of those two: Q = XX, R = XY, S = YX, U = YY (4 classes).  The information must cross at least 80 steps
of distractors.

The 1997 paper trained until 2,560 successive test sequences were all classified correctly; it reports this for
every trial of 6a (average 31,390 training sequences).  Chance is 25%.  Success here: ≥ 99% of 2,560 test
sequences correct (softmax cross-entropy loss, class = argmax).
"""

from __future__ import annotations

import numpy as np

from ..nn import cross_entropy
from .base import Baseline, Batch, Task, one_hot

SYMBOLS = "abcdBEXY"
A, B, E, X, Y = 0, 4, 5, 6, 7
CLASSES = ("XX", "XY", "YX", "YY")      # Q, R, S, U
MIN_LEN, MAX_LEN = 100, 110
T1, T2 = (10, 20), (50, 60)             # inclusive ranges of the two marker positions
TEST_SIZE = 2560


class TemporalOrder(Task):
    """Temporal order 6a: classify the order of X/Y at two far-apart positions (Hochreiter & Schmidhuber 1997)."""

    name = "temporal_order"
    input_size = len(SYMBOLS)
    output_size = len(CLASSES)
    readout = "last"
    metric = "test_accuracy"
    higher_is_better = True
    success_accuracy = 0.99
    test_size = TEST_SIZE

    def __init__(self, length: int | None = None):
        if length is not None and length != MIN_LEN:
            raise ValueError(f"temporal_order: the 1997 task fixes lengths 100–110; got --length {length} "
                             "(leave it out)")
        self.length = None                   # lengths vary (MIN_LEN–MAX_LEN): none to report

    def sample(self, n: int, rng: np.random.Generator) -> Batch:
        lengths = rng.integers(MIN_LEN, MAX_LEN + 1, size=n)                   # (B,)
        ids = rng.integers(A, A + 4, size=(MAX_LEN, n))                         # (T, B) a..d
        cols = np.arange(n)
        ids[0] = E
        ids[lengths - 1, cols] = B
        ids[np.arange(MAX_LEN)[:, None] >= lengths[None, :]] = A               # padding (masked by lengths)
        t1 = rng.integers(T1[0], T1[1] + 1, size=n)
        t2 = rng.integers(T2[0], T2[1] + 1, size=n)
        first, second = rng.integers(0, 2, size=n), rng.integers(0, 2, size=n)   # 0 = X, 1 = Y
        ids[t1, cols] = X + first
        ids[t2, cols] = X + second
        return Batch(x=one_hot(ids, self.input_size), target=(2 * first + second).astype(np.int64), lengths=lengths,
                     extra={"ids": ids, "t1": t1, "t2": t2})

    def loss(self, out, batch):
        return cross_entropy(out, batch.target)                                # out (B, 4)

    def evaluate(self, out, batch) -> dict:
        loss, _ = cross_entropy(out.astype(np.float64), batch.target)
        return {"test_accuracy": float(np.mean(out.argmax(-1) == batch.target)), "test_loss": float(loss)}

    def baseline(self) -> Baseline:
        return Baseline("test_accuracy", 0.25, "≥ 99% of 2,560 test sequences correct",
                        "chance is 25%; LSTM solved all 2,560 test sequences in every 1997 trial "
                        "(Hochreiter & Schmidhuber 1997, §5.6)")

    def solved(self, metrics: dict) -> bool:
        return metrics["test_accuracy"] >= self.success_accuracy
