"""Batches as pure functions of the global step number, so a resumed run sees exactly the batches it would have.

Two shapes of data:

- :class:`ShuffledBatches` — a dataset of N independent items (sequences to classify, forecast windows):
  each epoch is a fresh permutation drawn from ``(seed, epoch)``; step s takes the s-th slice of it.
- :class:`StreamBatches` — one long token stream for truncated BPTT (language models): the stream is cut into
  B parallel rows; step s takes the chunk of ``seq_len`` steps at column offset (s mod chunks) · seq_len from each
  row, with targets shifted by one.  ``reset`` is True on the first chunk of each pass, where the carried
  recurrent state must start from zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class ShuffledBatches:
    """Indices of the batch for step ``s``: ``batches(s) -> np.ndarray`` of at most ``batch_size`` item indices.

    Every item appears once per epoch; ``drop_last=True`` (default) keeps every batch the same size.
    """

    def __init__(self, n_items: int, batch_size: int, seed: int = 0, shuffle: bool = True, drop_last: bool = True):
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
        epoch, k = divmod(int(step), self.steps_per_epoch)
        return self.order(epoch)[k * self.batch_size:(k + 1) * self.batch_size]


@dataclass
class StreamChunk:
    x: np.ndarray        # (B, T) input ids
    y: np.ndarray        # (B, T) next-token targets
    reset: bool          # start of a pass: the carried state must be zeroed


class StreamBatches:
    """Truncated-BPTT chunks over one token stream: ``batches(s) -> StreamChunk`` with x, y of shape (B, seq_len)."""

    def __init__(self, ids, batch_size: int, seq_len: int):
        ids = np.asarray(ids)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"ids must be a 1-D integer array, got shape {ids.shape} and dtype {ids.dtype}")
        if batch_size < 1 or seq_len < 1:
            raise ValueError(f"batch_size and seq_len must be >= 1, got {batch_size} and {seq_len}")
        row_len = (len(ids) - 1) // batch_size            # each row needs one extra id for the last target
        if row_len < seq_len:
            raise ValueError(
                f"the stream has {len(ids)} tokens, too short for batch_size={batch_size} rows of seq_len={seq_len} "
                f"(needs at least {batch_size * seq_len + 1}); use a smaller --batch or --seq-len, or more text"
            )
        self.batch_size, self.seq_len = int(batch_size), int(seq_len)
        self.chunks = row_len // seq_len                  # chunks per pass
        usable = self.chunks * seq_len
        starts = np.arange(batch_size) * row_len
        cols = np.arange(usable + 1)
        self._rows = ids[starts[:, None] + cols[None, :]]  # (B, usable + 1)

    def __len__(self) -> int:
        return self.chunks

    def __call__(self, step: int) -> StreamChunk:
        k = int(step) % self.chunks
        a = k * self.seq_len
        return StreamChunk(x=self._rows[:, a:a + self.seq_len], y=self._rows[:, a + 1:a + 1 + self.seq_len],
                           reset=(k == 0))
