"""Data: batching that is a pure function of the step (exact resume); text, vocabularies and corpora."""

from .batching import ShuffledBatches, StreamBatches, StreamChunk
from .text import UNK, Joiner, Vocabulary, builtin_corpus, read_text, tokenize

__all__ = [
    "ShuffledBatches",
    "StreamBatches",
    "StreamChunk",
    "UNK",
    "Joiner",
    "Vocabulary",
    "builtin_corpus",
    "read_text",
    "tokenize",
]
