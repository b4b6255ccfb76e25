"""Data: batching that is a pure function of the step (exact resume); text, vocabularies and corpora; time series
from CSV files."""

from .batching import ShuffledBatches, StreamBatches, StreamChunk
from .series import Series, read_series
from .text import UNK, Joiner, Vocabulary, builtin_corpus, read_text, tokenize

__all__ = [
    "ShuffledBatches",
    "StreamBatches",
    "StreamChunk",
    "UNK",
    "Joiner",
    "Vocabulary",
    "builtin_corpus",
    "read_series",
    "read_text",
    "Series",
    "tokenize",
]
