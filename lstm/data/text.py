"""Text for language models: reading files safely, character and word vocabularies, encode/decode.

A :class:`Vocabulary` maps tokens to ids.  Id 0 is always ``<unk>``: at character level it only appears when text
holds characters never seen in training (``encode(..., errors="strict")`` refuses such text and names the
characters; ``errors="replace"`` maps them to ``<unk>``); at word level, words outside the ``max_size`` most
frequent ones become ``<unk>``.

Word tokens are words (contractions such as ``don't`` whole, and with their combining marks: ``हिन्दी``, ``é`` written
as e + U+0301), numbers (``3.14``, ``1,000``, ``10:30`` whole), single punctuation marks and newlines.
:meth:`Vocabulary.decode` (and :class:`Joiner`, token by token) puts them back together with single spaces: none
before punctuation, after an opening bracket, “ or ‘, or a hyphen, or inside quotes (``"`` and ``'`` alternate
opening and closing within a line).  Vocabularies saved before contractions and numbers
were kept whole record no tokenizer version and keep splitting them (``tokenize(..., version=1)``); those saved
before combining marks joined their words (version 2) keep splitting at them.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import re
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np

from .._values import whole

UNK = "<unk>"
TOKENIZER = 3                                   # the word tokenizer new vocabularies use
_WORD = {1: r"\w+|[^\w\s]|\n",
         2: r"\d+(?:[.,:]\d+)+|\w+(?:['’]\w+)*|[^\w\s]|\n",
         3: r"\d+(?:[.,:]\d+)+|[\w{marks}]+(?:['’][\w{marks}]+)*|[^\w\s]|\n"}
_QUOTES = ('"', "'")
_OPENING = ("(", "[", "{", "“", "‘", "«")         # no space after these; a space before (“ and ‘: typographic quotes)


@functools.lru_cache(maxsize=None)
def _word_pattern(version: int) -> re.Pattern:
    """The word tokenizer ``version``; 3 lets words hold combining marks (categories Mn, Mc, Me), which ``\\w``
    does not match: without them "हिन्दी" split at every vowel sign.  Built on first use (~20 ms)."""
    if version < 3:
        return re.compile(_WORD[version])
    marks = [cp for cp in (*range(0x30000), *range(0xE0100, 0xE01F0))
             if unicodedata.category(chr(cp)) in ("Mn", "Mc", "Me")]
    spans = []                                   # [first, last] runs of consecutive code points
    for cp in marks:
        if spans and spans[-1][1] == cp - 1:
            spans[-1][1] = cp
        else:
            spans.append([cp, cp])
    body = "".join(re.escape(chr(a)) + ("" if a == b else "-" + re.escape(chr(b))) for a, b in spans)
    return re.compile(_WORD[version].format(marks=body))


def tokenize(text: str, level: str, version: int = TOKENIZER) -> list[str]:
    """Characters (level="char") or word tokens (level="word") of ``text``; ``version`` 1 is the word tokenizer
    that split contractions and numbers (``don ' t``, ``3 . 14``)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}; decode bytes first, e.g. "
                        "data.decode('utf-8'), or read files with read_text")
    if level == "char":
        return list(text)
    if level == "word":
        return _word_pattern(version).findall(text)
    raise ValueError(f"level must be 'char' or 'word', got {level!r}")


class Vocabulary:
    """Token <-> id map; build with :meth:`build`, persist with :meth:`to_config` / :meth:`from_config`."""

    def __init__(self, tokens: list[str], level: str, tokenizer: int = TOKENIZER):
        if level not in ("char", "word"):
            raise ValueError(f"level must be 'char' or 'word', got {level!r}")
        if tokenizer not in _WORD:
            raise ValueError(f"tokenizer must be one of {sorted(_WORD)}, got {tokenizer!r}")
        if not tokens or tokens[0] != UNK:
            tokens = [UNK] + [t for t in tokens if t != UNK]
        odd = next((t for t in tokens if not isinstance(t, str)), None)
        if odd is not None:
            raise TypeError(f"tokens must be str, got {odd!r} ({type(odd).__name__}); build from text with "
                            "Vocabulary.build")
        if len(set(tokens)) != len(tokens):
            twice = next(t for t, c in Counter(tokens).items() if c > 1)
            raise ValueError(f"the vocabulary lists {twice!r} twice; each token needs exactly one id")
        self.level, self.tokenizer = level, tokenizer
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(cls, text: str, level: str = "char", max_size: int | None = None, min_count: int = 1) -> "Vocabulary":
        """All characters of ``text`` (char level), or its most frequent words (word level), sorted for stability.

        ``max_size`` (counting ``<unk>``) and ``min_count`` apply at word level only: a character vocabulary keeps
        every character of the text.
        """
        if max_size is not None:
            if not whole(max_size, None):
                raise TypeError(f"max_size must be a whole number or None, got {max_size!r}")
            if max_size < 1:
                raise ValueError(f"max_size must be at least 1 (it counts {UNK}), got {max_size}")
        if not whole(min_count, None):
            raise TypeError(f"min_count must be a whole number, got {min_count!r}")
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
        seen = dict.fromkeys(t for t in self.tokenize(text) if t not in self.index)
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
        return np.array([self.index.get(t, 0) for t in self.tokenize(text)], dtype=np.int64)

    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text`` as this vocabulary reads them."""
        return tokenize(text, self.level, self.tokenizer)

    def decode(self, ids) -> str:
        """Text of ``ids`` (N,), integer token ids in 0 … len(self) - 1; word tokens are joined as
        :class:`Joiner` joins them."""
        arr = np.asarray(ids)
        if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
            raise TypeError(f"ids must be a 1-D sequence of integer token ids, got shape {arr.shape} and dtype "
                            f"{arr.dtype}; pass e.g. a list of ints ([i] for one token)")
        if arr.size:
            _check_id(int(arr.min()), len(self.tokens))
            _check_id(int(arr.max()), len(self.tokens))
        join = Joiner(self)
        return "".join(join.piece(int(i)) for i in arr)

    def to_config(self) -> dict:
        return {"level": self.level, "tokens": self.tokens, "tokenizer": self.tokenizer}

    @classmethod
    def from_config(cls, config: dict) -> "Vocabulary":
        return cls(list(config["tokens"]), config["level"], config.get("tokenizer", 1))


class Joiner:
    """Tokens back into text one at a time, for streaming: ``piece(id)`` is the text the token adds.

    Characters are themselves.  A word token gets a leading space unless it starts a line or the text, is
    punctuation, or follows an opening bracket or typographic quote (“ ‘ «), a hyphen or an opening quote; ``"``
    and ``'`` alternate opening (space before) and closing (none) within a line.  :meth:`feed` reads tokens
    already shown, e.g. a prime."""

    def __init__(self, vocab: Vocabulary):
        self.vocab = vocab
        self.prev: str | None = None
        self.opened = dict.fromkeys(_QUOTES, False)   # inside a quote of this kind on the current line

    def feed(self, ids) -> None:
        for i in ids:
            self.piece(int(i))

    def piece(self, token: int) -> str:
        _check_id(token, len(self.vocab.tokens))
        tok, prev = self.vocab.tokens[token], self.prev
        self.prev = tok
        if self.vocab.level == "char":
            return tok
        if tok == "\n":
            self.opened = dict.fromkeys(_QUOTES, False)
            return tok
        after_opening = prev in _QUOTES and self.opened[prev]
        if tok in _QUOTES:
            self.opened[tok] = not self.opened[tok]
            space = self.opened[tok]                       # an opening quote is spaced from what comes before
        else:
            space = tok[0].isalnum() or tok[0] == "_" or tok == UNK or tok in _OPENING
        if prev is None or prev == "\n" or after_opening or prev in _OPENING or prev == "-":
            space = False
        return " " + tok if space else tok


def _check_id(token: int, size: int) -> None:
    if not 0 <= token < size:
        raise ValueError(f"token ids must be in 0..{size - 1} (the vocabulary has {size} tokens), got {token}")


def _text_codec(encoding) -> str:
    """The codec name of a text encoding ("utf_8" → "utf-8"); unknown names and codecs that are not text encodings
    ('hex', 'base64', 'rot13') are a ValueError."""
    try:
        info = codecs.lookup(encoding)
        if not getattr(info, "_is_text_encoding", True):
            raise LookupError(encoding)
        return info.name
    except (LookupError, TypeError):
        raise ValueError(f"unknown encoding {encoding!r}; try utf-8 or latin-1") from None


def read_text(paths, encoding: str = "utf-8") -> str:
    """Concatenate text files, refusing what is not text with one-line reasons.

    Missing and empty (or only white space) files, binary files (a NUL character in the first 8 KiB), UTF-16 or
    UTF-32 text (or UTF-8 with a byte-order mark) read with another encoding and bytes that do not decode are
    errors that name the file and say what to do.  Line ends are read as Python's text mode reads them (\\r\\n
    and \\r become \\n), and a leading byte-order mark is dropped, so neither becomes a token of the vocabulary.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = list(paths)
    if not paths:
        raise ValueError("no files given; pass at least one text file")
    codec = _text_codec(encoding)
    pieces = []
    for p in map(Path, paths):
        if not p.exists():
            raise FileNotFoundError(f"no such file: {p}")
        if p.is_dir():
            raise ValueError(f"{p} is a directory; pass the text files inside it")
        data = p.read_bytes()
        if not data:
            raise ValueError(f"{p} is empty; give a file with some text in it")
        wide = None if codec.startswith(("utf-16", "utf-32")) else _wide_encoding(data)
        if wide is None and data.startswith(codecs.BOM_UTF8) and codec not in ("utf-8", "utf-8-sig"):
            wide = "UTF-8"                     # its byte-order mark would otherwise be read as three characters
        if wide:
            raise ValueError(f"{p} looks like {wide} text, not {encoding}; pass --encoding {wide.lower()}")
        binary = ValueError(f"{p} looks binary (it contains NUL bytes); give a plain text file")
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as err:
            if b"\x00" in data[:8192] and codec in ("utf-8", "ascii"):
                raise binary from None
            raise ValueError(
                f"{p} is not valid {encoding} (byte {err.start}: {data[err.start:err.start + 1]!r}); "
                "pass its encoding with --encoding, e.g. --encoding latin-1"
            ) from None
        if "\x00" in text[:8192]:              # decoded first: UTF-16 text has NUL bytes, binary data NUL characters
            raise binary
        text = text.removeprefix("\ufeff")
        if not text.strip():
            raise ValueError(f"{p} is empty (only white space); give a file with some text in it")
        pieces.append(text.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n".join(pieces)


def _wide_encoding(data: bytes) -> str | None:
    """"UTF-16" or "UTF-32" when ``data`` starts with that encoding's byte-order mark, "UTF-16-LE" or "UTF-16-BE"
    when it looks like UTF-16 without one (NUL bytes on one side only, as the high byte of ASCII characters, in at
    least three quarters of the first 256 characters), else None."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "UTF-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16"
    head = data[:512]
    pairs, even, odd = len(head) // 2, head[0::2].count(0), head[1::2].count(0)
    if len(head) % 2 == 0 and pairs >= 4 and min(even, odd) == 0 and 4 * max(even, odd) >= 3 * pairs:
        return "UTF-16-LE" if odd else "UTF-16-BE"
    return None


def builtin_corpus() -> str:
    """English prose that ships with every CPython: the interactive help topics (``pydoc_data.topics``)."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k].strip() for k in sorted(topics))
