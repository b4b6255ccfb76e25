"""Built-in sequence-to-sequence tasks (offline generators) and ``source<TAB>target`` pair files.

Tasks (each ``*_pairs(n, seed)`` returns ``n`` ``(source, target)`` string pairs, deterministic for a seed):

- **dates** → ISO 8601: "Tuesday, 3 March 1998", "3/3/98", "March 3rd, 1998", "03.03.1998", ... → "1998-03-03".
  Dates are uniform over 1900-01-01 … 2099-12-31.  Conventions that make every source unambiguous: slashes are
  US month/day order (``3/4/98`` is 4 March) unless the year comes first (``1998/03/04``); dots are European
  day.month order (``4.3.98``); two-digit years pivot at 1950 (50–99 → 19xx, 00–49 → 20xx), so two-digit-year
  formats are only drawn for 1950–2049.  Weekdays, when written, are the true ones.  Word formats come in title,
  lower or upper case.
- **numbers** → digits: "three hundred forty-two thousand five hundred sixty-one" → "342561", for 0–999,999.
  The number of digits is drawn uniformly from 1–6 (so small numbers are as common as large ones), then the
  number uniformly among those with that many digits.  Styles: American ("three hundred forty-two") or British
  ("three hundred and forty-two"), tens joined by a hyphen or a space.

Held-out test sets come from a different seed (:func:`train_test`), never from the training draw.
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

import numpy as np

from .._values import whole
from .text import _text_codec, _wide_encoding

__all__ = ["date_pairs", "number_pairs", "number_to_words", "task_pairs", "train_test", "pad_sources",
           "read_pairs", "format_pairs", "split_lines", "TASKS", "TEST_SEED_OFFSET", "MAX_LEN"]

TEST_SEED_OFFSET = 1_000_003       # test seed = training seed + this: a different random stream, documented
MAX_LEN = 200                      # default limit on tokens per side (see read_pairs / Seq2Seq.max_len)

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def ordinal(n: int) -> str:
    """1 → "1st", 2 → "2nd", 11 → "11th", 23 → "23rd"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# Each format: (template, uses a two-digit year, has words that may change case).  Fields: {d} {dd} {D} (ordinal)
# {m} {mm} {Month} {Mon} {Weekday} {Wkd} {yyyy} {yy}.
DATE_FORMATS = [
    ("{Weekday}, {d} {Month} {yyyy}", False, True),
    ("{m}/{d}/{yy}", True, False),
    ("{Month} {D}, {yyyy}", False, True),
    ("{d} {Month} {yyyy}", False, True),
    ("{Month} {d}, {yyyy}", False, True),
    ("{Mon} {d}, {yyyy}", False, True),
    ("{d} {Mon} {yyyy}", False, True),
    ("{mm}/{dd}/{yyyy}", False, False),
    ("{m}/{d}/{yyyy}", False, False),
    ("{dd}.{mm}.{yyyy}", False, False),
    ("{d}.{m}.{yy}", True, False),
    ("{yyyy}/{mm}/{dd}", False, False),
    ("{yyyy}-{mm}-{dd}", False, False),
    ("{yyyy}{mm}{dd}", False, False),
    ("{Wkd}, {d} {Mon} {yyyy}", False, True),
    ("the {D} of {Month}, {yyyy}", False, True),
    ("{D} {Month} {yyyy}", False, True),
    ("{Weekday}, {Month} {d}, {yyyy}", False, True),
    ("{d}-{Mon}-{yyyy}", False, True),
    ("{Mon}. {d}, '{yy}", True, True),
]
_FIRST = _dt.date(1900, 1, 1).toordinal()
_LAST = _dt.date(2099, 12, 31).toordinal()
_FIRST_YY = _dt.date(1950, 1, 1).toordinal()
_LAST_YY = _dt.date(2049, 12, 31).toordinal()


def format_date(date: _dt.date, template: str) -> str:
    return template.format(
        d=date.day, dd=f"{date.day:02d}", D=ordinal(date.day), m=date.month, mm=f"{date.month:02d}",
        Month=MONTHS[date.month - 1], Mon=MONTHS[date.month - 1][:3], Weekday=WEEKDAYS[date.weekday()],
        Wkd=WEEKDAYS[date.weekday()][:3], yyyy=f"{date.year:04d}", yy=f"{date.year % 100:02d}")


def date_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (human-readable date, ISO 8601 date) pairs; see the module docstring for the formats."""
    n = _count(n)
    rng = np.random.default_rng([_seed(seed), 1])
    out = []
    for _ in range(n):
        template, two_digit, words = DATE_FORMATS[rng.integers(len(DATE_FORMATS))]
        lo, hi = (_FIRST_YY, _LAST_YY) if two_digit else (_FIRST, _LAST)
        date = _dt.date.fromordinal(int(rng.integers(lo, hi + 1)))
        text = format_date(date, template)
        if words:
            case = rng.random()
            text = text.lower() if case < 0.15 else text.upper() if case < 0.25 else text
        out.append((text, date.isoformat()))
    return out


ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _below_100(n: int, joiner: str) -> str:
    if n < 20:
        return ONES[n]
    return TENS[n // 10] + (joiner + ONES[n % 10] if n % 10 else "")


def _below_1000(n: int, british: bool, joiner: str) -> str:
    hundreds, rest = divmod(n, 100)
    if not hundreds:
        return _below_100(rest, joiner)
    head = f"{ONES[hundreds]} hundred"
    if not rest:
        return head
    return head + (" and " if british else " ") + _below_100(rest, joiner)


def number_to_words(n: int, british: bool = False, joiner: str = "-") -> str:
    """English words for 0 ≤ n ≤ 999,999: 342 → "three hundred forty-two" (British: "three hundred and forty-two")."""
    if not whole(n, None):
        raise TypeError(f"number_to_words needs a whole number (int), got {n!r}")
    if not 0 <= n <= 999_999:
        raise ValueError(f"number_to_words covers 0 to 999,999, got {n}")
    if n == 0:
        return "zero"
    thousands, rest = divmod(n, 1000)
    parts = []
    if thousands:
        parts.append(_below_1000(thousands, british, joiner) + " thousand")
    if rest:
        words = _below_1000(rest, british, joiner)
        parts.append(("and " + words) if (british and thousands and rest < 100) else words)
    return " ".join(parts)


def number_pairs(n: int, seed: int = 0, uniform: bool = False) -> list[tuple[str, str]]:
    """``n`` (English number words, decimal digits) pairs for 0–999,999.

    The digit count is uniform in 1–6 (default), or with ``uniform=True`` the number itself is uniform over
    0–999,999 (then 90% have six digits).
    """
    n = _count(n)
    rng = np.random.default_rng([_seed(seed), 2 if not uniform else 4])
    out = []
    for _ in range(n):
        if uniform:
            value = int(rng.integers(0, 1_000_000))
        else:
            digits = int(rng.integers(1, 7))
            lo = 0 if digits == 1 else 10 ** (digits - 1)
            value = int(rng.integers(lo, 10 ** digits))
        british = bool(rng.random() < 0.3)
        joiner = " " if rng.random() < 0.2 else "-"
        out.append((number_to_words(value, british, joiner), str(value)))
    return out


TASKS = {"dates": date_pairs, "numbers": number_pairs}


def task_pairs(name: str, n: int, seed: int = 0) -> list[tuple[str, str]]:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {sorted(TASKS)}")
    return TASKS[name](n, seed)


def train_test(name: str, n_train: int, n_test: int, seed: int = 0):
    """(train, test) pairs: the test set is drawn with seed + TEST_SEED_OFFSET, a different random stream."""
    return task_pairs(name, n_train, seed), task_pairs(name, n_test, seed + TEST_SEED_OFFSET)


def pad_sources(pairs, length: int, seed: int = 0, filler: str = "_") -> list[tuple[str, str]]:
    """Pad every source to ``length`` characters with ``filler``, the original text at a random offset.

    For the long-input experiment: the answer is unchanged, but the encoder must carry it across many more steps.
    """
    if not whole(length, None):
        raise TypeError(f"length must be a whole number, got {length!r}")
    if not isinstance(filler, str) or len(filler) != 1:
        raise ValueError(f"filler must be one character, got {filler!r}")
    rng = np.random.default_rng([_seed(seed), 3])
    out = []
    for src, tgt in pairs:
        extra = length - len(src)
        if extra < 0:
            raise ValueError(f"source {src!r} is longer than the padded length {length}")
        left = int(rng.integers(0, extra + 1))
        out.append((filler * left + src + filler * (extra - left), tgt))
    return out


def _count(n) -> int:
    if not whole(n, 0):
        raise ValueError(f"the number of pairs must be a non-negative integer, got {n!r}")
    return int(n)


def _seed(seed) -> int:
    if not whole(seed, 0):
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    return int(seed)


# ------------------------------------------------------------------------------------------------------------------
# pair files
# ------------------------------------------------------------------------------------------------------------------
_NEWLINE = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    r"""The lines of ``text`` as Python's universal newlines (and editors) count them: split at ``\r\n``, ``\n`` or
    ``\r`` only.  ``str.splitlines`` also splits at form feeds, ``\x1c``–``\x1e``, ``\x85`` and ``\u2028``, which
    would shift every later line number and put output lines out of step with input lines."""
    lines = _NEWLINE.split(text)
    if lines[-1] == "":
        lines.pop()
    return lines


def read_pairs(path, encoding: str = "utf-8", *, require_target: bool = True) -> list[tuple[str, str]]:
    """``source<TAB>target`` lines → pairs, refusing bad lines with one-line errors that give the line number.

    Blank lines are skipped.  A line without a tab, or with an empty side, is an error; so is a file with no pairs.
    ``require_target=False`` allows plain lines (target "") — for translating a file of sources.
    """
    p = Path(path)
    codec = _text_codec(encoding)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {p}")
    if p.is_dir():
        raise ValueError(f"{p} is a directory; pass a tab-separated file of source<TAB>target lines")
    data = p.read_bytes()
    wide = None if codec.startswith(("utf-16", "utf-32")) else _wide_encoding(data)
    if wide:
        raise ValueError(f"{p} looks like {wide} text, not {encoding}; re-save it as UTF-8 (or read it with "
                         f"encoding={wide.lower()!r})")
    binary = ValueError(f"{p} looks binary (it contains NUL bytes); give a UTF-8 text file of source<TAB>target lines")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        if b"\x00" in data[:8192]:
            raise binary from None
        raise ValueError(f"{p} is not valid {encoding} (byte {err.start}); re-save it as UTF-8") from None
    if "\x00" in text[:8192]:                  # decoded first: UTF-16 text has NUL bytes, binary data NUL characters
        raise binary
    text = text.removeprefix("\ufeff")          # a byte-order mark is not part of the first source
    pairs = []
    for lineno, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        if "\t" not in line:
            if require_target:
                raise ValueError(f"{p}:{lineno}: expected source<TAB>target, found no tab in {_short(line)}; "
                                 "separate the two sides with one tab character")
            pairs.append((line, ""))
            continue
        src, tgt = line.split("\t", 1)
        if not src.strip():
            raise ValueError(f"{p}:{lineno}: the source side is empty; every line needs text before the tab")
        if require_target and not tgt.strip():
            raise ValueError(f"{p}:{lineno}: the target side is empty; every line needs text after the tab")
        if "\t" in tgt:
            raise ValueError(f"{p}:{lineno}: more than one tab; a line holds exactly one source<TAB>target pair")
        pairs.append((src, tgt))
    if not pairs:
        raise ValueError(f"{p} holds no pairs; give lines of the form source<TAB>target")
    return pairs


def format_pairs(pairs) -> str:
    """Pairs as TSV text (one ``source<TAB>target`` line each); refuses sides holding tabs or newlines."""
    lines = []
    for i, (src, tgt) in enumerate(pairs):
        for name, side in (("source", src), ("target", tgt)):
            if not isinstance(side, str):
                raise TypeError(f"pair {i}: the {name} must be a str, got {side!r} ({type(side).__name__})")
            if "\t" in side or "\n" in side or "\r" in side:
                raise ValueError(f"pair {i}: {side!r} contains a tab or newline, which a TSV line cannot hold")
        lines.append(f"{src}\t{tgt}\n")
    return "".join(lines)


def _short(line: str, width: int = 40) -> str:
    return repr(line if len(line) <= width else line[:width] + "…")
