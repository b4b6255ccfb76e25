"""What every subcommand shares: the usage error, argument types, and one-line output helpers."""

from __future__ import annotations

import argparse
import math
import os
import shlex
import shutil
import sys
import time
from collections import Counter
from itertools import takewhile
from pathlib import Path

from ..io.safefile import nearest_existing


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit code 2."""


def _whole(text: str, low: int, expected: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _whole(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """argparse type: an integer ≥ 0."""
    return _whole(text, 0, "a whole number of 0 or more")


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


def _up_to_one(text: str, noun: str) -> float:
    value = _number(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected {noun} in (0, 1], got {text}")
    return value


def factor(text: str) -> float:
    """A multiplier in (0, 1]."""
    return _up_to_one(text, "a factor")


def fraction(text: str) -> float:
    """A share of a whole in (0, 1], e.g. of the probability mass."""
    return _up_to_one(text, "a fraction")


def path_arg(text: str) -> Path:
    """argparse type: a path, not an empty string (``--out "$DIR"`` with DIR unset would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a path, got {text!r}")
    return Path(text)


def refuse_repeats(items, option: str, what: str, example: str = "", show=str) -> None:
    """Refuse a list option that names an item more than once, naming each repeated item and its count."""
    repeats = [f"{show(item)} {'twice' if n == 2 else f'{n} times'}" for item, n in Counter(items).items() if n > 1]
    if repeats:
        like = f", like {example}" if example else ""
        raise UsageError(f"{option} has {' and '.join(repeats)}; give each {what} once{like}")


def comma_list(text: str, option: str, what: str, example: str = "", show=str) -> list[str]:
    """The items of a comma-separated option (stripped, blanks dropped), each given once."""
    items = [v.strip() for v in text.split(",") if v.strip()]
    refuse_repeats(items, option, what, example, show)
    return items


def refuse_clashes(outputs, inputs) -> None:
    """Refuse, before any work, an output path that is one of the command's input files (writing it would destroy
    it) or that another output of the same run also names; devices such as /dev/null are written through.
    ``outputs``: (option, path or None) pairs; ``inputs``: (what it is, path or None) pairs."""
    seen = {}
    for option, path in outputs:
        if path is None:
            continue
        path = Path(path)
        if path.exists() and not path.is_file():
            continue
        key = path.resolve()
        for what, src in inputs:
            if src is None or not Path(src).is_file():
                continue
            if key == Path(src).resolve() or (path.exists() and path.samefile(src)):
                raise UsageError(f"{option} {path} is an input of this command (the {what}); writing it would "
                                 "replace it: choose another path")
        if key in seen:
            raise UsageError(f"{seen[key]} and {option} both name {path}: the second file would replace the first; "
                             "give each its own path")
        seen[key] = option


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
    parent = nearest_existing(path.absolute().parent)
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: {parent} is a file, not a directory; choose another path")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{option} {path}: cannot write in {parent}; choose a writable directory")


def run_folder(out: Path | None, default: Path, *, resume: bool = False, overwrite: bool = False,
               resumable: bool = True) -> Path:
    """The folder a training command writes to.  A previous run (its model.safetensors or last.safetensors) is
    never replaced silently: without --out the default folder takes the first free name (runs/demo, runs/demo-2,
    …, passing by a file of that name too); an --out holding a run needs --resume to continue it (commands that
    have it: ``resumable``) or --overwrite to replace it."""
    def holds_run(folder: Path) -> bool:
        return (folder / "model.safetensors").exists() or (folder / "last.safetensors").exists()

    if out is None:
        out, k = default, 2
        while not resume and (holds_run(out) or out.exists() and not out.is_dir()):
            out, k = default.with_name(f"{default.name}-{k}"), k + 1
        return out
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for the run's files")
    if holds_run(out) and not (resume or overwrite):
        advice = "pass --resume to continue it, --overwrite to replace it," if resumable else \
            "pass --overwrite to replace it"
        raise UsageError(f"--out {out} holds a previous run; {advice} or another --out")
    return out


EARLIER_MODEL = ".previous-model"     # where a fresh run keeps the earlier run's model.safetensors until it checkpoints


def train_in_folder(model, out: Path, fit, resume: bool = False) -> tuple[Path, float]:
    """Run ``fit()`` (which writes checkpoints into ``out``) and save the model as out/model.safetensors; returns
    that path and the seconds ``fit`` took.  ``out`` and any missing parents are created here.  Ctrl-C still saves
    the best weights reached; a run that fails (refused, out of memory, diverged, interrupted) before writing a
    checkpoint leaves none of the folders it created (nor the log of its first steps), and a fresh run (not
    ``resume``) replacing an earlier one in ``out`` leaves that run as it was: the trainer puts back its log and
    checkpoints (:class:`lstm.io.set_aside.SetAside`), and its model.safetensors is set aside here likewise."""
    from ..io.set_aside import SetAside
    from ..train.trainer import TrainingInterrupted

    folder = nearest_existing(out)
    made = list(takewhile(lambda f: f != folder, (out, *out.parents)))    # the folders made here, innermost first
    if not folder.is_dir():
        raise UsageError(f"--out {out}: {folder} is a file, not a folder; choose another --out")
    t0 = time.perf_counter()
    earlier_model = None
    try:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UsageError(f"--out {out}: cannot create the folder ({err.strerror or err}); choose another --out"
                             ) from None
        earlier_model = None if resume else SetAside(out, ["model.safetensors"], EARLIER_MODEL)
        last = _identity(out / "last.safetensors")
        fit()
    except BaseException as err:
        if earlier_model is not None:             # the earlier run's model goes with its checkpoints: kept if the
            if _identity(out / "last.safetensors") == last:       # trainer put them back, else replaced
                earlier_model.put_back()
            earlier_model.drop()
        if isinstance(err, TrainingInterrupted) and err.restored:     # keep a usable model of what was reached
            path = model.save(out / "model.safetensors")
            print(f"\n{err}: {path} holds {err.restored}", file=sys.stderr)
        if out in made and not any(out.glob("*.safetensors")):         # nothing usable: not even the run's log
            (out / "metrics.jsonl").unlink(missing_ok=True)
        for folder in made:
            try:
                folder.rmdir()                          # only while empty
            except OSError:
                break
        raise
    seconds = time.perf_counter() - t0
    path = model.save(out / "model.safetensors")
    shutil.rmtree(out / EARLIER_MODEL, ignore_errors=True)    # this run's, or left by one killed after a checkpoint
    return path, seconds


def _identity(path: Path):
    """What tells a file from its replacement: (inode, modification time), or None if there is none."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def free_name(default: Path) -> Path:
    """``default`` if nothing is there yet, else the first free NAME-2, NAME-3, … beside it (a default output
    never replaces an earlier run's file)."""
    path, k = default, 2
    while path.exists():
        path, k = default.with_name(f"{default.stem}-{k}{default.suffix}"), k + 1
    return path


def shell_quote(path: Path) -> str:
    """``path`` as a shell reads it back, for commands printed to be pasted (a folder named "my run" or "it's")."""
    text = str(path)
    return shlex.quote(f"./{text}" if text.startswith("-") else text)    # not taken for an option either


def check_input(path: Path, what: str) -> None:
    """A directory where a file was expected is named as such (not as "no such file")."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give {what}")
