"""The ``lstm`` command.

Each group of subcommands lives in its own module with an ``add_parser(s)`` function.  Bad input ends with one
line on stderr and exit code 2, never a traceback: :class:`UsageError`, ``ValueError``, ``TypeError`` and
``OSError`` (missing files) raised while handling user input become that line.  ``LSTM_DEBUG=1`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import core, seq2seq, series, ship, text, understand
from .common import UsageError

__all__ = ["main", "build_parser", "UsageError"]


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong and where to read more), exit code 2."""

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
    understand.add_parsers(sub)
    seq2seq.add_parsers(sub)
    ship.add_parsers(sub)
    core.add_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (UsageError, ValueError, TypeError, OSError) as err:
        if os.environ.get("LSTM_DEBUG"):
            raise
        print(f"lstm {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; a resumable checkpoint is kept where the run was writing (use --resume)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
