"""Batches as pure functions of the global step number, so a resumed run sees exactly the batches it would have.

Two shapes of data:

- :class:`ShuffledBatches` — a dataset of N independent items (sequences to classify, forecast windows):
  each epoch is a fresh permutation drawn from ``(seed, epoch)``; step s takes the s-th slice of it.
- :class:`StreamBatches` — one long token stream for truncated BPTT (language models): the stream is cut into
  B parallel rows; step s takes the chunk of ``seq_len`` steps at column offset (s mod chunks) · seq_len from each
  row, with targets shifted by one.  ``reset`` is True on the first chunk of each pass, where the carried
  recurrent state must start from zero.  The last chunk of a pass is shorter when ``seq_len`` does not divide the
  rows (``row_len mod seq_len`` steps, as PyTorch's word-language-model example batches), so every position of a
  row is read once per pass; only the ``(n - 1) mod B`` tokens at the end of the stream (fewer than B) are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._values import whole


class ShuffledBatches:
    """Indices of the batch for step ``s``: ``batches(s) -> np.ndarray`` of at most ``batch_size`` item indices.

    Every item appears at most once per epoch: all of them with ``drop_last=False``; ``drop_last=True`` (default)
    keeps every batch the same size and skips the ``n_items mod batch_size`` items at the end of that epoch's
    permutation (different ones each epoch when shuffled).
    """

    def __init__(self, n_items: int, batch_size: int, seed: int = 0, shuffle: bool = True, drop_last: bool = True):
        for name, value in (("n_items", n_items), ("batch_size", batch_size), ("seed", seed)):
            if not whole(value, None):
                raise TypeError(f"{name} must be a whole number, got {value!r}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if n_items < 1 or batch_size < 1:
            raise ValueError(f"need at least one item and batch_size >= 1, got n_items={n_items}, "
                             f"batch_size={batch_size}")
        self.n_items, self.shuffle, self.drop_last = int(n_items), shuffle, drop_last
        self.batch_size = min(int(batch_size), self.n_items)
        self.seed = int(seed)
        full, rest = divmod(self.n_items, self.batch_size)
        self.steps_per_epoch = full if drop_last or rest == 0 else full + 1

    def order(self, epoch: int) -> np.ndarray:
        """The permutation of items used in ``epoch`` (identity when shuffle=False)."""
        if not self.shuffle:
            return np.arange(self.n_items)
        return np.random.default_rng([self.seed, int(epoch)]).permutation(self.n_items)

    def __call__(self, step: int) -> np.ndarray:
        epoch, k = divmod(_step(step), self.steps_per_epoch)
        return self.order(epoch)[k * self.batch_size:(k + 1) * self.batch_size]


@dataclass
class StreamChunk:
    x: np.ndarray        # (B, T) input ids
    y: np.ndarray        # (B, T) next-token targets
    reset: bool          # start of a pass: the carried state must be zeroed


class StreamBatches:
    """Truncated-BPTT chunks over one token stream: ``batches(s) -> StreamChunk`` with x, y of shape (B, T), T =
    seq_len but for a shorter last chunk of each pass; fresh arrays (changing them in place leaves the stream as it
    was).  ``predictions(s)`` is B·T, the weight of step s's mean loss in a mean over the pass."""

    def __init__(self, ids, batch_size: int, seq_len: int):
        ids = np.asarray(ids)
        if ids.ndim == 1 and ids.size == 0:
            ids = ids.astype(np.int64)                    # [] reads as float64: empty, refused below for its size
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"ids must be a 1-D integer array, got shape {ids.shape} and dtype {ids.dtype}")
        if not (whole(batch_size, None) and whole(seq_len, None)):
            raise TypeError(f"batch_size and seq_len must be whole numbers, got {batch_size!r} and {seq_len!r}")
        if ids.size and ids.min() < 0:
            raise ValueError(f"token ids must be >= 0, got {ids.min()} at position {int(np.argmin(ids))}")
        if batch_size < 1 or seq_len < 1:
            raise ValueError(f"batch_size and seq_len must be >= 1, got {batch_size} and {seq_len}")
        row_len = (len(ids) - 1) // batch_size            # each row needs one extra id for the last target
        if row_len < seq_len:
            raise ValueError(
                f"the stream has {len(ids)} tokens, too short for batch_size={batch_size} rows of seq_len={seq_len} "
                f"(needs at least {batch_size * seq_len + 1}); use a smaller --batch or --seq-len, or more text"
            )
        self.batch_size, self.seq_len, self.row_len = int(batch_size), int(seq_len), int(row_len)
        self.chunks = -(-row_len // seq_len)              # chunks per pass, the last one shorter if need be
        starts = np.arange(batch_size) * row_len
        self._rows = ids[starts[:, None] + np.arange(row_len + 1)[None, :]]  # (B, row_len + 1)

    def __len__(self) -> int:
        return self.chunks

    def _span(self, step: int) -> tuple[int, int]:
        k = _step(step) % self.chunks
        a = k * self.seq_len
        return a, min(self.seq_len, self.row_len - a)

    def predictions(self, step: int) -> int:
        """How many next-token predictions step ``step``'s chunk holds: B·T."""
        return self.batch_size * self._span(step)[1]

    def __call__(self, step: int) -> StreamChunk:
        a, T = self._span(step)
        return StreamChunk(x=self._rows[:, a:a + T].copy(), y=self._rows[:, a + 1:a + 1 + T].copy(), reset=(a == 0))


def _step(step) -> int:
    if not whole(step, None):
        raise TypeError(f"step must be a whole number, got {step!r}")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    return int(step)
