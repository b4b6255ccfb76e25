"""The embedded Reber grammar, Hochreiter & Schmidhuber (1997, §5.1, experiment 1), after Smith & Zipser (1989),
Cleeremans, Servan-Schreiber & McClelland (1989) and Fahlman (1991).

The Reber grammar is a finite automaton over {B, T, P, S, X, V, E} (nodes 0…6, each edge taken with
probability 1/2)::

    0 -B-> 1      1 -T-> 2   1 -P-> 3      2 -S-> 2   2 -X-> 4      3 -T-> 3   3 -V-> 5
    4 -X-> 3      4 -S-> 6   5 -P-> 4      5 -V-> 6   6 -E-> end

e.g. BTXSE, BPVVE, BTSXXVPSE.  The *embedded* grammar wraps a Reber string between two copies of the same
symbol: B T ⟨reber⟩ T E or B P ⟨reber⟩ P E.  The network reads one symbol per step (one-hot) and predicts the
next one.  Every choice inside the grammar is a coin flip, so a perfect predictor knows only the *set* of legal
next symbols — except for the second-to-last symbol, which is determined by the second symbol: remembering it
across the whole inner string is the long-time-lag part.

Criterion (1997): a string is processed correctly when, at every step, the output units of the legal next
symbols are the most active ones (with k legal successors, the top-k outputs are exactly those); a trial
succeeds when all strings of a test set are.  The 1997 test set was 256 strings; LSTM succeeded in nearly all of
its trials, after on the order of 10,000 training strings.  Training here: softmax cross-entropy on the actual next
symbol at every step (its optimum puts probability only on legal symbols).
"""

from __future__ import annotations

import numpy as np

from ..nn import cross_entropy
from .base import Baseline, Batch, Task, one_hot

SYMBOLS = "BTPSXVE"
SYM = {s: i for i, s in enumerate(SYMBOLS)}
# node -> ((symbol, next node), (symbol, next node)); node 6 emits E and ends.
GRAPH = {1: (("T", 2), ("P", 3)), 2: (("S", 2), ("X", 4)), 3: (("T", 3), ("V", 5)),
         4: (("X", 3), ("S", 6)), 5: (("P", 4), ("V", 6))}
TEST_SIZE = 256


def reber_string(rng: np.random.Generator) -> str:
    """One string of the (plain) Reber grammar, B…E."""
    out, node = ["B"], 1
    while node != 6:
        symbol, node = GRAPH[node][int(rng.integers(2))]
        out.append(symbol)
    out.append("E")
    return "".join(out)


def embedded_reber_string(rng: np.random.Generator) -> str:
    """B, then T or P, then a Reber string, then the same T or P, then E."""
    wrap = "TP"[int(rng.integers(2))]
    return "B" + wrap + reber_string(rng) + wrap + "E"


def legal_next(string: str) -> list[frozenset]:
    """For each step t < len − 1, the set of symbols the embedded grammar allows after reading string[:t+1]."""
    inner_end = len(string) - 3                   # index of the inner E
    out = [frozenset("TP"), frozenset("B")]       # after the outer B; after the wrapper symbol
    node = 1                                      # the inner automaton after its B (string[2])
    for t in range(2, inner_end):
        if t > 2:
            node = dict(GRAPH[node])[string[t]]
        out.append(frozenset("E") if node == 6 else frozenset(s for s, _ in GRAPH[node]))
    out.append(frozenset(string[1]))              # after the inner E: the wrapper symbol, remembered
    out.append(frozenset("E"))                    # after the wrapper: the final E
    return out


class EmbeddedReber(Task):
    """Embedded Reber grammar: predict the legal next symbols (Hochreiter & Schmidhuber 1997, experiment 1)."""

    name = "reber"
    input_size = len(SYMBOLS)
    output_size = len(SYMBOLS)
    readout = "all"
    metric = "test_accuracy"
    higher_is_better = True
    test_size = TEST_SIZE

    def __init__(self, length: int | None = None):
        if length is not None:
            raise ValueError(f"reber: string lengths come from the grammar; got --length {length} (leave it out)")
        self.length = None

    def sample(self, n: int, rng: np.random.Generator) -> Batch:
        strings = [embedded_reber_string(rng) for _ in range(n)]
        lengths = np.array([len(s) - 1 for s in strings])               # inputs s[:-1], targets s[1:]
        T = int(lengths.max())
        ids = np.zeros((T + 1, n), dtype=np.int64)
        legal = np.zeros((T, n, len(SYMBOLS)), dtype=bool)              # (T, B, 7)
        for b, s in enumerate(strings):
            ids[:len(s), b] = [SYM[c] for c in s]
            for t, allowed in enumerate(legal_next(s)):
                legal[t, b, [SYM[c] for c in allowed]] = True
        target = ids[1:].copy()
        real = np.arange(T)[:, None] < lengths[None, :]                 # (T, B)
        target[~real] = -100                                            # ignored by the loss
        return Batch(x=one_hot(ids[:-1], self.input_size), target=target, lengths=lengths,
                     extra={"legal": legal, "real": real, "strings": strings})

    def loss(self, out, batch):
        return cross_entropy(out, batch.target)                         # out (T, B, 7)

    def evaluate(self, out, batch) -> dict:
        ok = criterion_per_step(out, batch.extra["legal"]) | ~batch.extra["real"]   # (T, B)
        strings_ok = ok.all(axis=0)
        loss, _ = cross_entropy(out.astype(np.float64), batch.target)
        return {"test_accuracy": float(strings_ok.mean()), "test_strings_correct": int(strings_ok.sum()),
                "test_strings": int(strings_ok.size), "test_loss": float(loss)}

    def baseline(self) -> Baseline:
        return Baseline("test_accuracy", 0.5, "all 256 test strings correct (the 1997 criterion: at every step the "
                        "legal next symbols are the most active outputs)",
                        "a predictor that knows the grammar but forgets the second symbol gets the second-to-last "
                        "step right half the time: ≈ 50% of strings; LSTM met the criterion in nearly all of its "
                        "1997 trials (Hochreiter & Schmidhuber 1997, §5.1)")

    def solved(self, metrics: dict) -> bool:
        return metrics["test_accuracy"] == 1.0


def criterion_per_step(out: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """(T, B) bool: the k most active outputs are exactly the k legal symbols (out, legal: (T, B, C))."""
    k = legal.sum(-1, keepdims=True)                                    # (T, B, 1)
    order = np.argsort(-out, axis=-1, kind="stable")                    # most active first
    rank = np.argsort(order, axis=-1)                                   # rank of each output, 0 = most active
    return ((rank < k) == legal).all(-1)
