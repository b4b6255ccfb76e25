"""What every long-time-lag task provides: a generator, a loss, a test metric and its published baseline.

A task draws batches from a ``numpy.random.Generator`` (so a batch is a pure function of ``(seed, step)``)::

    batch = task.sample(n, rng)
    batch.x        (T, B, input_size) float32, time-major, one-hot or real inputs
    batch.target   (B,) floats (regression at the last step), (B,) class ids (classification at the last step),
                   or (T, B) class ids (a prediction at every step)
    batch.lengths  (B,) real lengths when sequences differ in length (padding after them), else None
    batch.extra    task-specific arrays the metric needs (e.g. the legal next symbols of the Reber grammar)

``readout`` says where the network's output is read: ``"last"`` (the last real step of each sequence) or ``"all"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._values import whole


@dataclass
class Batch:
    x: np.ndarray                        # (T, B, I)
    target: np.ndarray                   # (B,) or (T, B)
    lengths: np.ndarray | None = None    # (B,)
    extra: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.x.shape[1]


@dataclass(frozen=True)
class Baseline:
    """A published reference point beside which a result is reported."""

    metric: str          # the metric it refers to, e.g. "test_mse"
    value: float         # the baseline's value of that metric
    target: str          # the success criterion, in words
    source: str          # where it comes from


class Task:
    """Base class: subclasses set the class attributes and implement ``sample``, ``loss``, ``evaluate``."""

    name = ""
    input_size = 1
    output_size = 1
    readout = "last"            # "last" or "all"
    metric = ""                 # the headline test metric, e.g. "test_mse"
    higher_is_better = False

    def sample(self, n: int, rng: np.random.Generator) -> Batch:
        raise NotImplementedError

    def loss(self, out: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        """Training loss and its gradient with respect to ``out`` (the head's output)."""
        raise NotImplementedError

    def evaluate(self, out: np.ndarray, batch: Batch) -> dict:
        """Test metrics on a batch, keyed by plain names (``test_mse``, ``test_accuracy``, ...)."""
        raise NotImplementedError

    def baseline(self) -> Baseline:
        raise NotImplementedError

    def solved(self, metrics: dict) -> bool:
        """Whether ``metrics`` (from :meth:`evaluate`) meets the task's success criterion."""
        raise NotImplementedError

    def describe(self) -> str:
        return (type(self).__doc__ or self.name).strip().splitlines()[0]


def one_hot(ids: np.ndarray, n: int) -> np.ndarray:
    """ids (...) → one-hot float32 (..., n)."""
    return np.eye(n, dtype=np.float32)[ids]


def check_length(name: str, length, minimum: int) -> int:
    if not whole(length, minimum):
        raise ValueError(f"{name}: length must be an integer >= {minimum}, got {length!r}")
    return int(length)
