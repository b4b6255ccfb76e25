"""The ``lstm`` command.

Each group of subcommands lives in its own module with an ``add_parser(s)`` function.  Bad input ends with one
line on stderr and exit code 2, never a traceback: :class:`UsageError`, ``ValueError``, ``TypeError`` and
``OSError`` (missing files) raised while handling user input become that line, and so do a missing optional
package (``ImportError``, naming what to install), a run too large for memory and a training run that diverges
(:class:`TrainingDiverged`).  ``LSTM_DEBUG=1`` shows the traceback instead.  A closed output pipe
(``lstm ... | head``) ends quietly.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from . import classify, core, seq2seq, series, ship, text, understand
from ..train.trainer import TrainingDiverged, TrainingInterrupted
from .common import UsageError

__all__ = ["main", "build_parser", "UsageError"]


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong and where to read more), exit code 2.  Each parser
    records its own name (``lstm classify train``), so errors found later start with the same prefix."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.set_defaults(prog=self.prog)          # the deepest subcommand's default wins
        # "-1e3" is a number, as "-1000" and "-0.5" are to argparse (it took it for an option name)
        self._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="lstm",
        description="Long Short-Term Memory networks from first principles: exact, hand-written, traceable.",
        epilog="Start with `lstm demo`. Every command has --help.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    text.add_parsers(sub)
    series.add_parsers(sub)
    classify.add_parsers(sub)
    understand.add_parsers(sub)
    seq2seq.add_parsers(sub)
    ship.add_parsers(sub)
    core.add_parser(sub)
    return parser


def main(argv=None) -> int:
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()                     # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:                        # e.g. `lstm ... | head`: the reader has what it wanted
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141                                 # 128 + SIGPIPE, as a shell tool killed by the pipe


def _run(argv) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        seed = getattr(args, "seed", None)
        if seed is not None and seed < 0:
            raise UsageError(f"--seed: expected an integer >= 0, got {seed}")
        return args.func(args)
    except TrainingDiverged as err:
        if os.environ.get("LSTM_DEBUG"):
            raise
        lr = getattr(args, "lr", None)                              # the library's advice names clip_norm
        print(f"{args.prog}: error: {err.what}; lower --lr" + (f" (it was {lr:g})" if lr else ""),
              file=sys.stderr)
        return 2
    except MemoryError as err:                                      # sizes the machine cannot hold
        if os.environ.get("LSTM_DEBUG"):
            raise
        sizes = [f"--{name.replace('_', '-')}" for name in ("hidden", "batch", "layers", "length", "seq_len")
                 if getattr(args, name, None) is not None]
        print(f"{args.prog}: error: not enough memory for this run ({err}); use smaller sizes"
              + (f" ({', '.join(sizes)})" if sizes else ""), file=sys.stderr)
        return 2
    except (UsageError, ValueError, TypeError, OSError, ImportError) as err:     # ImportError: a missing extra
        if isinstance(err, BrokenPipeError) or os.environ.get("LSTM_DEBUG"):
            raise
        print(f"{args.prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        print(f"\n{_interrupted(stop, args)}", file=sys.stderr)
        return 130


def _interrupted(stop: KeyboardInterrupt, args) -> str:
    """What Ctrl-C leaves: --resume is offered only where a checkpoint was written and the command takes it."""
    checkpoint = stop.checkpoint if isinstance(stop, TrainingInterrupted) else None
    if checkpoint is None:
        return "interrupted"
    if hasattr(args, "resume"):
        return f"interrupted; the run can go on from its checkpoint {checkpoint}: repeat the command with --resume"
    return f"interrupted; its last checkpoint is {checkpoint}"


if __name__ == "__main__":
    sys.exit(main())
