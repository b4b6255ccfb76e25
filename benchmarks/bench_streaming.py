"""Streaming latency: one time step from Python, batch 1 — our Stepper against PyTorch and onnxruntime.

    python benchmarks/bench_streaming.py            # H = 64 and 256, float32 and float64, plus the char model
    python benchmarks/bench_streaming.py --quick    # float32 only, fewer rounds

Per configuration (input I, hidden H, one layer, batch 1), every method advances a state by one step per Python
call, feeding its own output state back:

- ``ours``: ``y = stepper.step(x)`` (:mod:`lstm.nn.stepper`; the state stays inside, nothing is allocated);
- ``ours fn``: ``y, state = layer.step(x, state)`` (the functional form: state copied in and out);
- ``LSTMCell``: ``h, c = torch.nn.LSTMCell(x, (h, c))`` under ``no_grad``, torch on 2 threads;
- ``nn.LSTM``: ``torch.nn.LSTM`` on a (1, 1, I) input under ``no_grad``;
- ``ort``: ``session.run`` of a one-step ONNX ``LSTM`` graph built with ``onnx.helper``, 2 intra-op threads
  (float32 only: onnxruntime's LSTM kernel has no float64).

Each method runs in its own process (so one library's spinning thread pool cannot steal the core from another's
timed block), and the processes take turns: one block of consecutive steps each (~2 ms, whatever the method), in
an order that rotates every round, so a burst of load from elsewhere hits all of them alike.  Reported: the median
over rounds of the wall-clock µs per step, its 10th percentile, the CPU time of the calling thread for ours (what
a step costs on an idle core), and the ratio peer ÷ ours of the medians.  Before timing, every method's h after
five steps is checked against ours.  The char model is a saved-and-loaded ``LanguageModel`` (hidden 256,
2 layers, embedding 64): per character, ours ``stepper.step(token)`` (embedding → 2 layers → logits) against the
same weights in torch (Embedding → LSTM → Linear, one token per call).  Not part of the test suite.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CONFIGS = [(32, 64), (128, 256)]          # (input I, hidden H): the grid's small and medium input widths
BLOCK_SECONDS = 0.002                     # every timed block lasts about this long, whatever the method
CHAR_TEXT_CHARS = 200_000


# ---- methods: each returns a zero-argument step function (built inside its own process) ------------------------
def _layer(I, H, dt):
    from lstm.nn import LSTM
    return LSTM(I, H, dtype=dt, seed=0)


def _x(I, dt):
    return np.random.default_rng(1).standard_normal(I).astype(dt)


def make_ours(I, H, dt, threads):
    stepper = _layer(I, H, dt).stepper()
    x = _x(I, dt)
    return lambda: stepper.step(x)


def make_ours_fn(I, H, dt, threads):
    layer, x, state = _layer(I, H, dt), _x(I, dt), [None]

    def step():
        y, state[0] = layer.step(x, state[0])
        return y
    return step


def _torch(threads):
    import torch
    torch.set_num_threads(threads)
    return torch


def make_cell(I, H, dt, threads):
    torch = _torch(threads)
    layer, x = _layer(I, H, dt), _x(I, dt)
    tdt = torch.float32 if dt == np.float32 else torch.float64
    cell = torch.nn.LSTMCell(I, H, dtype=tdt)
    p = layer.parameters()
    with torch.no_grad():
        for stem in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, stem).copy_(torch.from_numpy(p[stem + "_l0"]))
    xt = torch.from_numpy(x[None])
    state = [torch.zeros(1, H, dtype=tdt), torch.zeros(1, H, dtype=tdt)]

    def step():
        with torch.no_grad():
            state[0], state[1] = cell(xt, (state[0], state[1]))
        return state[0]
    return step


def make_nn_lstm(I, H, dt, threads):
    torch = _torch(threads)
    layer, x = _layer(I, H, dt), _x(I, dt)
    tdt = torch.float32 if dt == np.float32 else torch.float64
    net = torch.nn.LSTM(I, H, dtype=tdt)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in layer.parameters().items()})
    xt = torch.from_numpy(x[None, None])
    state = [(torch.zeros(1, 1, H, dtype=tdt), torch.zeros(1, 1, H, dtype=tdt))]

    def step():
        with torch.no_grad():
            y, state[0] = net(xt, state[0])
        return y
    return step


def onnx_lstm_session(layer, threads: int):
    """An InferenceSession for one step of a one-layer LSTM: X (1, 1, I), h0, c0 (1, 1, H) → Y_h, Y_c."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    p, H, I = layer.parameters(), layer.hidden_size, layer.input_size
    iofc = np.concatenate([np.arange(0, H), np.arange(3 * H, 4 * H), np.arange(H, 2 * H), np.arange(2 * H, 3 * H)])
    W = p["weight_ih_l0"][iofc][None]                                            # ONNX gate order i, o, f, c
    R = p["weight_hh_l0"][iofc][None]
    Bias = np.concatenate([p["bias_ih_l0"][iofc], p["bias_hh_l0"][iofc]])[None]
    f32 = TensorProto.FLOAT
    graph = helper.make_graph(
        [helper.make_node("LSTM", ["X", "W", "R", "B", "", "h0", "c0"], ["Y", "Y_h", "Y_c"], hidden_size=H)],
        "lstm_step",
        [helper.make_tensor_value_info("X", f32, [1, 1, I]), helper.make_tensor_value_info("h0", f32, [1, 1, H]),
         helper.make_tensor_value_info("c0", f32, [1, 1, H])],
        [helper.make_tensor_value_info("Y_h", f32, [1, 1, H]), helper.make_tensor_value_info("Y_c", f32, [1, 1, H])],
        initializer=[numpy_helper.from_array(W, "W"), numpy_helper.from_array(R, "R"),
                     numpy_helper.from_array(Bias, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = min(model.ir_version, 10)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def make_ort(I, H, dt, threads):
    layer, x = _layer(I, H, dt), _x(I, dt)
    sess = onnx_lstm_session(layer, threads)
    feeds = {"X": x[None, None], "h0": np.zeros((1, 1, H), dt), "c0": np.zeros((1, 1, H), dt)}

    def step():
        h, c = sess.run(["Y_h", "Y_c"], feeds)
        feeds["h0"], feeds["c0"] = h, c
        return h
    return step


def _char_model():
    """A LanguageModel (hidden 256, 2 layers, embedding 64) with a vocabulary of Python's own docs, saved and loaded
    back (deterministic: every process builds the same weights)."""
    import pydoc_data.topics

    import lstm
    from lstm.data.text import Vocabulary
    from lstm.models import LanguageModel
    text = "".join(pydoc_data.topics.topics.values())[:CHAR_TEXT_CHARS]
    lm = LanguageModel(hidden_size=256, num_layers=2, embedding_dim=64, seed=0)
    lm._build(Vocabulary.build(text, "char"))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "char.lstm")
        lstm.save(lm, path)
        return lstm.load(path)


def _tokens(lm):
    return [int(t) for t in lm.vocab_.encode("the quick brown fox jumps over the lazy dog ")]


def make_char_ours(*_):
    lm = _char_model()
    stepper, tokens, pos = lm.stepper(), _tokens(lm), [0]

    def step():
        pos[0] = (pos[0] + 1) % len(tokens)
        return stepper.step(tokens[pos[0]])
    return step


def make_char_torch(_I, _H, _dt, threads):
    torch = _torch(threads)
    lm = _char_model()
    net = lm.net_
    V = net.head.weight.shape[0]
    emb, rnn, head = torch.nn.Embedding(V, 64), torch.nn.LSTM(64, 256, 2), torch.nn.Linear(256, V)
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(net.emb.weight))
        rnn.load_state_dict({k: torch.from_numpy(v) for k, v in net.rnn.parameters().items()})
        head.weight.copy_(torch.from_numpy(net.head.weight))
        head.bias.copy_(torch.from_numpy(net.head.bias))
    tokens = _tokens(lm)
    pos, state = [0], [None]

    def step():
        pos[0] = (pos[0] + 1) % len(tokens)
        with torch.no_grad():
            y, state[0] = rnn(emb(torch.tensor([[tokens[pos[0]]]])), state[0])
            return head(y[0, 0])
    return step


MAKERS = {"ours": make_ours, "ours fn": make_ours_fn, "LSTMCell": make_cell, "nn.LSTM": make_nn_lstm,
          "ort": make_ort, "char ours": make_char_ours, "char torch": make_char_torch}


# ---- one process per method ------------------------------------------------------------------------------------
def _child(conn, name, I, H, dt, threads):
    """Build the method, report its output after 5 steps, then time blocks of n steps on request."""
    try:
        step = MAKERS[name](I, H, dt, threads)
        for _ in range(4):
            out = step()
        out = step()
        out = np.asarray(out.numpy() if hasattr(out, "numpy") else out).reshape(-1).copy()
        conn.send(("ready", out))
        while True:
            n = conn.recv()
            if n is None:
                return
            t, c = time.perf_counter(), time.thread_time()
            for _ in range(n):
                step()
            conn.send(((time.perf_counter() - t) / n * 1e6, (time.thread_time() - c) / n * 1e6))
    except Exception as err:  # noqa: BLE001 - report any failure rather than hang the coordinator
        conn.send(("error", f"{type(err).__name__}: {err}"))


def run(names: list, I, H, dt, rounds: int, threads: int, tol: float) -> dict:
    """{name: (wall µs list, cpu µs list)} from interleaved blocks, one process per method.

    Every block lasts about the same time (BLOCK_SECONDS): on a loaded machine the scheduler lets a process that
    just woke up run a short burst undisturbed, so blocks of different lengths would not compare alike.
    """
    ctx = mp.get_context("spawn")
    procs, conns = {}, {}
    for name in names:
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_child, args=(child, name, I, H, dt, threads), daemon=True)
        p.start()
        procs[name], conns[name] = p, parent
    try:
        outs = {}
        for name in names:
            kind, value = conns[name].recv()
            if kind == "error":
                raise RuntimeError(f"{name} failed to build: {value}")
            outs[name] = value
        ref = outs[names[0]]
        for name in names[1:]:                       # a wrong peer would make its timing meaningless
            err = float(np.max(np.abs(outs[name] - ref)))
            if err > tol:
                raise AssertionError(f"{name} disagrees with {names[0]} after 5 steps: max |Δ| = {err:.2e}")
        n_steps = {}
        for name in names:                           # warm-up, then blocks of about BLOCK_SECONDS each
            per_step = []
            for _ in range(3):
                conns[name].send(20)
                per_step.append(conns[name].recv()[0])
            n_steps[name] = int(np.clip(BLOCK_SECONDS * 1e6 / min(per_step), 5, 20000))
        wall = {name: [] for name in names}
        cpu = {name: [] for name in names}
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                conns[name].send(n_steps[name])
                w, c = conns[name].recv()
                wall[name].append(w)
                cpu[name].append(c)
        return {name: (wall[name], cpu[name]) for name in names}
    finally:
        for name in names:
            try:
                conns[name].send(None)
            except (BrokenPipeError, OSError):
                pass
            procs[name].join(timeout=10)


def _fmt(values) -> str:
    return f"{statistics.median(values):.2f} ({np.percentile(values, 10):.2f})"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="float32 only, fewer rounds")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds per configuration")
    ap.add_argument("--threads", type=int, default=2,
                    help="torch / onnxruntime threads (default 2, as the reference figures)")
    args = ap.parse_args(argv)
    rounds = args.rounds or (9 if args.quick else 25)
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        have_ort = True
    except ImportError:
        print("onnx/onnxruntime not installed (pip install lstm[onnx]): skipping the ort column")
        have_ort = False
    import numba
    import torch
    print(f"torch {torch.__version__}, numba {numba.__version__}, numpy {np.__version__}, {os.cpu_count()} cpus; "
          f"peers on {args.threads} threads; load average before: {os.getloadavg()[0]:.1f}")
    dtypes = [np.float32] if args.quick else [np.float32, np.float64]
    peers = ["LSTMCell", "nn.LSTM", "ort"]
    head = ("| dtype | I, H | ours µs (p10) | ours CPU µs | ours fn µs | "
            + " | ".join(f"{p} µs (p10)" for p in peers) + " | " + " | ".join(f"{p} ÷ ours" for p in peers) + " |")
    print("\nmedian wall µs per step over interleaved rounds (10th percentile in brackets); ratio = peer ÷ ours "
          "(medians)\n\n" + head + "\n" + "|---" * (head.count("|") - 1) + "|", flush=True)
    for dt in dtypes:
        for I, H in CONFIGS:
            names = ["ours", "ours fn", "LSTMCell", "nn.LSTM"] + (["ort"] if have_ort and dt == np.float32 else [])
            res = run(names, I, H, dt, rounds, args.threads, 1e-4 if dt == np.float32 else 1e-10)
            med = {k: statistics.median(w) for k, (w, _) in res.items()}
            row = [np.dtype(dt).name, f"{I}, {H}", _fmt(res["ours"][0]), f"{statistics.median(res['ours'][1]):.2f}",
                   f"{med['ours fn']:.2f}"]
            row += [_fmt(res[p][0]) if p in res else "–" for p in peers]
            row += [f"{med[p] / med['ours']:.1f}×" if p in res else "–" for p in peers]
            print("| " + " | ".join(row) + " |", flush=True)
    res = run(["char ours", "char torch"], 0, 0, np.float32, rounds, args.threads, 1e-4)
    med = {k: statistics.median(w) for k, (w, _) in res.items()}
    print(f"\nchar model (embedding 64, hidden 256, 2 layers, float32, saved and loaded), per character: "
          f"ours {_fmt(res['char ours'][0])} µs, CPU {statistics.median(res['char ours'][1]):.1f} µs; "
          f"torch {_fmt(res['char torch'][0])} µs; torch ÷ ours {med['char torch'] / med['char ours']:.1f}×")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
