"""Text for language models: reading files safely, character and word vocabularies, encode/decode.

A :class:`Vocabulary` maps tokens to ids.  Id 0 is always ``<unk>``: at character level it only appears when text
holds characters never seen in training (``encode(..., errors="strict")`` refuses such text and names the
characters; ``errors="replace"`` maps them to ``<unk>``); at word level, words outside the ``max_size`` most
frequent ones become ``<unk>``.

Word tokens are runs of letters/digits, single punctuation marks and newlines; :meth:`Vocabulary.decode` joins
them back with single spaces (no space before punctuation or after a newline).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import numpy as np

UNK = "<unk>"
_WORD = re.compile(r"\w+|[^\w\s]|\n")


def tokenize(text: str, level: str) -> list[str]:
    """Characters (level="char") or word tokens (level="word") of ``text``."""
    if level == "char":
        return list(text)
    if level == "word":
        return _WORD.findall(text)
    raise ValueError(f"level must be 'char' or 'word', got {level!r}")


class Vocabulary:
    """Token <-> id map; build with :meth:`build`, persist with :meth:`to_config` / :meth:`from_config`."""

    def __init__(self, tokens: list[str], level: str):
        if level not in ("char", "word"):
            raise ValueError(f"level must be 'char' or 'word', got {level!r}")
        if not tokens or tokens[0] != UNK:
            tokens = [UNK] + [t for t in tokens if t != UNK]
        self.level = level
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(cls, text: str, level: str = "char", max_size: int | None = None, min_count: int = 1) -> "Vocabulary":
        """All characters of ``text`` (char level), or its most frequent words (word level), sorted for stability."""
        counts = Counter(tokenize(text, level))
        if level == "word":
            # Newlines are structure, not vocabulary: always kept, so decoded text keeps its lines.
            kept = [t for t, c in counts.most_common() if c >= min_count and t != "\n"]
            if "\n" in counts:
                kept.insert(0, "\n")
            if max_size is not None:
                kept = kept[: max(0, max_size - 1)]
        else:
            kept = list(counts)
        return cls(sorted(kept), level)

    def __len__(self) -> int:
        return len(self.tokens)

    def describe(self) -> str:
        """Size and a digest of the tokens in order, e.g. "104 chars #3f2a9c01": equal only for the same map."""
        digest = hashlib.sha256("\x00".join(self.tokens).encode("utf-8", "surrogatepass")).hexdigest()[:8]
        return f"{len(self.tokens)} {self.level}s #{digest}"

    def unknown(self, text: str) -> list[str]:
        """Tokens of ``text`` this vocabulary has never seen, in order of first appearance."""
        seen = dict.fromkeys(t for t in tokenize(text, self.level) if t not in self.index)
        return list(seen)

    def encode(self, text: str, errors: str = "replace") -> np.ndarray:
        """Ids of ``text`` (int64).  ``errors="strict"`` raises ValueError naming unseen tokens; ``"replace"``
        maps them to ``<unk>`` (id 0)."""
        if errors not in ("strict", "replace"):
            raise ValueError(f"errors must be 'strict' or 'replace', got {errors!r}")
        if errors == "strict":
            missing = self.unknown(text)
            if missing:
                shown = ", ".join(repr(t) for t in missing[:10]) + (" …" if len(missing) > 10 else "")
                raise ValueError(f"the text holds {len(missing)} {self.level}(s) the model never saw: {shown}")
        return np.array([self.index.get(t, 0) for t in tokenize(text, self.level)], dtype=np.int64)

    def decode(self, ids) -> str:
        pieces, prev = [], None
        for i in ids:
            pieces.append(self.piece(prev, int(i)))
            prev = int(i)
        return "".join(pieces)

    def piece(self, prev: int | None, token: int) -> str:
        """The text ``token`` adds after ``prev`` (None at the start): a word gets a leading space unless it
        follows a newline or is punctuation."""
        tok = self.tokens[token]
        if self.level == "char" or prev is None or tok == "\n" or self.tokens[prev] == "\n":
            return tok
        return " " + tok if (tok[0].isalnum() or tok == UNK or tok in "([{\"'") else tok

    def to_config(self) -> dict:
        return {"level": self.level, "tokens": self.tokens}

    @classmethod
    def from_config(cls, config: dict) -> "Vocabulary":
        return cls(list(config["tokens"]), config["level"])


def read_text(paths, encoding: str = "utf-8") -> str:
    """Concatenate text files, refusing what is not text with one-line reasons.

    Missing and empty files, binary files (a NUL character in the first 8 KiB) and bytes that do not decode are
    errors that name the file and say what to do.  Line ends are read as Python's text mode reads them (\\r\\n and
    \\r become \\n), and a leading byte-order mark is dropped, so neither becomes a token of the vocabulary.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    pieces = []
    for p in map(Path, paths):
        if not p.exists():
            raise FileNotFoundError(f"no such file: {p}")
        if p.is_dir():
            raise ValueError(f"{p} is a directory; pass the text files inside it")
        data = p.read_bytes()
        if not data.strip():
            raise ValueError(f"{p} is empty; give a file with some text in it")
        binary = ValueError(f"{p} looks binary (it contains NUL bytes); give a plain text file")
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as err:
            if b"\x00" in data[:8192] and encoding.lower().replace("-", "").replace("_", "") in ("utf8", "ascii"):
                raise binary from None
            raise ValueError(
                f"{p} is not valid {encoding} (byte {err.start}: {data[err.start:err.start + 1]!r}); "
                "pass its encoding with --encoding, e.g. --encoding latin-1"
            ) from None
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r}; try utf-8 or latin-1") from None
        if "\x00" in text[:8192]:              # decoded first: UTF-16 text has NUL bytes, binary data NUL characters
            raise binary
        pieces.append(text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n"))
    return "\n".join(pieces)


def builtin_corpus() -> str:
    """English prose that ships with every CPython: the interactive help topics (``pydoc_data.topics``)."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k].strip() for k in sorted(topics))
