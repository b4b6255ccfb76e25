"""What every subcommand shares: the usage error, argument types, and one-line output helpers."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit code 2."""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def finite_float(text: str) -> float:
    value = _number(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    value = _number(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def probability(text: str) -> float:
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1), got {text}")
    return value


def factor(text: str) -> float:
    """A multiplier in (0, 1]."""
    value = _number(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a factor in (0, 1], got {text}")
    return value


def check_output(path: Path | None, option: str, suffix: str | None = None) -> None:
    """Refuse, before any work, an output path that cannot be written: a directory, a wrong suffix, or a parent
    that is not a directory (or cannot be created)."""
    if path is None:
        return
    if path.is_dir():
        raise UsageError(f"{option} {path} is a directory; give the path of a file to write")
    if suffix and path.suffix.lower() != suffix:
        raise UsageError(f"{option} must name a {suffix[1:].upper()} file ending in {suffix}, got {path}")
    if path.exists() and not path.is_file():                # a device or pipe such as /dev/null: written through
        return
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: {parent} is a file, not a directory; choose another path")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{option} {path}: cannot write in {parent}; choose a writable directory")


def check_input(path: Path, what: str) -> None:
    """A directory where a file was expected is named as such (not as "no such file")."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give {what}")
