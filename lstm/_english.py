"""Words in messages (private): a count with its noun in the right number, and the article before a name."""


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 row``, ``2 rows``, ``0 rows``; ``plural`` for nouns that do not just add an s (``classes``)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def article(name: str) -> str:
    """The article before a name as it is read aloud: "an LSTMClassifier", "an lstm.model file", "a Seq2Seq",
    "an RNN" (LSTM and RNN are spelled out)."""
    return "an" if name[:1].lower() in "aeiou" or name.lower().startswith(("lstm", "rnn")) else "a"
