"""A small Embedding → Dropout → LSTM → Linear language model and its data, shared by the trainer tests and the
subprocess script they kill and resume."""

from __future__ import annotations

import numpy as np

from lstm.data import StreamBatches
from lstm.nn import LSTM, Dropout, Embedding, Linear, Module, cross_entropy


def corpus_ids(n_chars: int = 6000):
    """Characters of Python's own help text (ships with CPython), as ids, and the vocabulary size."""
    from pydoc_data.topics import topics

    text = "".join(topics[k] for k in sorted(topics))[:n_chars]
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    return np.array([index[ch] for ch in text], dtype=np.int64), len(vocab)


class TinyLM(Module):
    def __init__(self, vocab, emb=16, hidden=32, dropout=0.0, seed=0, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.emb = Embedding(vocab, emb, seed=rng, dtype=dtype)
        self.drop = Dropout(dropout, seed=rng)
        self.rnn = LSTM(emb, hidden, batch_first=True, seed=rng, dtype=dtype)
        self.head = Linear(hidden, vocab, seed=rng, dtype=dtype)

    def forward(self, x, state=None):
        h, state = self.rnn(self.drop(self.emb(x)), state)    # (B, T, H)
        return self.head(h), state                            # (B, T, V)

    def train_step(self, chunk, carry):
        """Loss and gradients for one TBPTT chunk; the state is carried as plain arrays (no gradient crosses)."""
        state = None if chunk.reset else carry
        logits, state = self.forward(chunk.x, state)
        loss, dlogits = cross_entropy(logits, chunk.y)
        dh = self.head.backward(dlogits)
        de, _ = self.rnn.backward(dh)
        self.emb.backward(self.drop.backward(de))
        return loss, state

    def evaluate(self, ids, seq_len=50):
        logits, _ = self.forward(ids[None, :-1])
        return cross_entropy(logits, ids[None, 1:])[0]


def stream(ids, batch=8, seq_len=20):
    return StreamBatches(ids, batch, seq_len)
