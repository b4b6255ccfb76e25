"""``lstm gradcheck``: the hand-written backward passes against finite differences, as a table."""

from __future__ import annotations

import numpy as np

from .common import positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("gradcheck", help="check every layer's backward pass against finite differences",
                       description="Compare the hand-written backward pass of LSTM, GRU, RNN and their cells with "
                                   "central finite differences in float64; exit 1 if any error is >= 1e-7.",
                       epilog="example: lstm gradcheck --hidden 8 --steps 12 --seed 1")
    p.add_argument("--hidden", type=positive_int, default=4, help="hidden size (default 4)")
    p.add_argument("--input", type=positive_int, default=3, help="input size (default 3)")
    p.add_argument("--steps", type=positive_int, default=6, help="sequence length (default 6)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import gradcheck
    from ..nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

    H, I, seed = args.hidden, args.input, args.seed
    layers = [
        ("LSTM", LSTM(I, H, seed=seed)),
        ("LSTM 2 layers, bidirectional, proj", LSTM(I, H + 1, 2, bidirectional=True, proj_size=max(1, H // 2),
                                                    seed=seed)),
        ("LSTM peephole", LSTM(I, H, peephole=True, seed=seed)),
        ("LSTM coupled input-forget", LSTM(I, H, coupled=True, forget_bias=1.0, seed=seed)),
        ("GRU 2 layers, bidirectional", GRU(I, H, 2, bidirectional=True, seed=seed)),
        ("RNN tanh", RNN(I, H, seed=seed)),
        ("RNN relu", RNN(I, H, nonlinearity="relu", seed=seed)),
        ("LSTMCell", LSTMCell(I, H, seed=seed)),
        ("GRUCell", GRUCell(I, H, seed=seed)),
        ("RNNCell", RNNCell(I, H, seed=seed)),
    ]
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
