"""The ``lstm`` command.

Each subcommand lives in a small function; bad input ends with one line on stderr and exit code 2, never a
traceback (:class:`UsageError`, ``ValueError`` and ``TypeError`` raised for user input are turned into that).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit code 2."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def cmd_gradcheck(args) -> int:
    """Finite-difference check of every layer type's hand-written backward pass, as a table."""
    from . import gradcheck
    from .nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

    H, I, seed = args.hidden, args.input, args.seed
    layers = [
        ("LSTM", LSTM(I, H, seed=seed)),
        ("LSTM 2 layers, bidirectional, proj", LSTM(I, H, 2, bidirectional=True, proj_size=max(1, H // 2), seed=seed)),
        ("LSTM peephole", LSTM(I, H, peephole=True, seed=seed)),
        ("LSTM coupled input-forget", LSTM(I, H, coupled=True, forget_bias=1.0, seed=seed)),
        ("GRU 2 layers, bidirectional", GRU(I, H, 2, bidirectional=True, seed=seed)),
        ("RNN tanh", RNN(I, H, seed=seed)),
        ("RNN relu", RNN(I, H, nonlinearity="relu", seed=seed)),
        ("LSTMCell", LSTMCell(I, H, seed=seed)),
        ("GRUCell", GRUCell(I, H, seed=seed)),
        ("RNNCell", RNNCell(I, H, seed=seed)),
    ]
    lengths = None
    print("Hand-written backward vs central finite differences (float64, worst relative error per layer)")
    print(f"{'layer':40s} {'params':>7s} {'worst error':>12s}  worst entry")
    failed = 0
    for name, layer in layers:
        if hasattr(layer, "num_layers"):
            x = np.random.default_rng(seed).normal(size=(args.steps, 3, I))
            lengths = np.array([args.steps, max(1, args.steps // 2), 1])
            report = gradcheck(layer, x, lengths=lengths, seed=seed)
        else:
            report = gradcheck(layer, seed=seed)
        worst = max(report, key=report.get)
        ok = report[worst] < 1e-7
        failed += not ok
        print(f"{name:40s} {layer.num_parameters():7d} {report[worst]:12.2e}  {worst}{'' if ok else '  FAIL'}")
    print("all gradients agree (< 1e-7)" if not failed else f"{failed} layer(s) disagree")
    return 0 if not failed else 1


def cmd_demo(args) -> int:
    """Until the text demo lands: show the core working — a gradient check and the gates of one sequence."""
    from .nn import LSTM

    print("lstm demo: the recurrent core\n")
    code = cmd_gradcheck(argparse.Namespace(hidden=4, input=3, steps=6, seed=args.seed))
    layer = LSTM(1, 4, seed=args.seed, forget_bias=1.0)
    x = np.sin(np.linspace(0, 3 * np.pi, 12))[:, None, None]   # (T, B=1, I=1)
    _, _, trace = layer(x, return_trace=True)
    print("\nGates of a fresh LSTM reading a sine wave (unit 0; rows: i, f, g, o, c, h):")
    for name in "ifgoch":
        row = trace[name][0, 0, :, 0, 0]
        print(f"  {name}  " + " ".join(f"{v:+.2f}" for v in row))
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstm",
        description="Long Short-Term Memory networks from first principles: exact, hand-written, traceable.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="show the recurrent core at work (no downloads)",
                       description="Gradient-check every layer type and print the gates of an LSTM over a sine wave.")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("gradcheck", help="check every layer's backward pass against finite differences",
                       description="Compare the hand-written backward pass of LSTM, GRU, RNN and their cells with "
                                   "central finite differences in float64; exit 1 if any error is >= 1e-7.")
    p.add_argument("--hidden", type=_positive_int, default=4, help="hidden size (default 4)")
    p.add_argument("--input", type=_positive_int, default=3, help="input size (default 3)")
    p.add_argument("--steps", type=_positive_int, default=6, help="sequence length (default 6)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=cmd_gradcheck)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (UsageError, ValueError, TypeError) as err:
        if os.environ.get("LSTM_DEBUG"):
            raise
        print(f"lstm {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
