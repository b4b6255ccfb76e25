"""The adding problem, in the form of Arjovsky, Shah & Bengio (2016, "Unitary evolution recurrent neural
networks", §4.2), after Hochreiter & Schmidhuber (1997, experiment 4).

Each sequence has T steps and two input channels::

    x_t = (v_t, m_t)      v_t ~ U[0, 1]
                          m_t = 1 at exactly two steps: one drawn uniformly from the first half [0, ⌊T/2⌋),
                          one from the second half [⌊T/2⌋, T); 0 elsewhere
    target = Σ_t v_t m_t  (the sum of the two marked values, in [0, 2])

The network reads the target from its output at the last step; the loss is the mean squared error.  Predicting
the constant 1 (the target's mean) gives MSE = Var(v₁ + v₂) = 2 · 1/12 ≈ 0.167: the baseline a network that
remembers nothing reaches, and where plain RNNs stay for T ≳ 100.  Arjovsky et al. report the LSTM well below it
at T = 100…750.  Success here: test MSE < 0.01.
"""

from __future__ import annotations

import numpy as np

from ..nn import mse_loss
from .base import Baseline, Batch, Task, check_length

BASELINE_MSE = 2.0 / 12.0     # Var(U1 + U2), U ~ U[0, 1]


class AddingProblem(Task):
    """Adding problem: add the two marked numbers of a length-T sequence (Arjovsky et al. 2016)."""

    name = "adding"
    input_size = 2
    output_size = 1
    readout = "last"
    metric = "test_mse"
    higher_is_better = False
    success_mse = 0.01

    def __init__(self, length: int = 200):
        self.length = check_length("adding", length, 2)

    def sample(self, n: int, rng: np.random.Generator) -> Batch:
        T, half = self.length, self.length // 2
        x = np.zeros((T, n, 2), dtype=np.float32)                     # (T, B, 2)
        x[:, :, 0] = rng.uniform(0.0, 1.0, size=(T, n))
        first = rng.integers(0, half, size=n)                         # (B,)
        second = rng.integers(half, T, size=n)                        # (B,)
        cols = np.arange(n)
        x[first, cols, 1] = 1.0
        x[second, cols, 1] = 1.0
        target = (x[first, cols, 0] + x[second, cols, 0]).astype(np.float32)   # (B,)
        return Batch(x=x, target=target, extra={"marks": np.stack([first, second])})

    def loss(self, out, batch):
        loss, grad = mse_loss(out[:, 0], batch.target)                # out (B, 1)
        return loss, grad[:, None]

    def evaluate(self, out, batch) -> dict:
        return {"test_mse": float(np.mean((out[:, 0].astype(np.float64) - batch.target) ** 2))}

    def baseline(self) -> Baseline:
        return Baseline("test_mse", BASELINE_MSE, "test MSE < 0.01",
                        "always predicting 1 gives MSE = 1/6 ≈ 0.167 (Arjovsky et al. 2016, §4.2)")

    def solved(self, metrics: dict) -> bool:
        return metrics["test_mse"] < self.success_mse
