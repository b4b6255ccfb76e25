"""``lstm.io.to_onnx``: recurrent layers and estimators as ONNX graphs that onnxruntime runs.

Graphs are built with ``onnx.helper`` from the standard ``LSTM`` / ``GRU`` / ``RNN`` operators (see
:mod:`lstm.io.onnx_graph` for the weight layout).  What gets exported:

- a layer (``lstm.nn.LSTM`` / ``GRU`` / ``RNN``): input ``x`` in the layer's own layout ((T, B, I), or (B, T, I)
  with ``batch_first``), optional ``lengths`` (int64, (B,)) and ``h0`` / ``c0`` ((L·D, B, H)); outputs ``y``,
  ``h_n`` (and ``c_n``) — exactly what ``layer(x, state, lengths)`` returns, in eval mode.
- :class:`~lstm.models.LanguageModel`: input ``ids`` (int64, (B, T)), optional ``h0`` / ``c0`` ((L, B, H));
  Gather (embedding) → LSTM stack → MatMul + Add (head) → Softmax; outputs ``probs`` (B, T, V), ``h_n``,
  ``c_n`` (and ``logits`` with ``logits=True``).  The vocabulary travels in the model's metadata
  (``lstm.vocab``, JSON), so ids can be decoded without lstm.

Estimators add their own export with :func:`register_onnx_exporter` (see :mod:`lstm.io.onnx_graph` for the
building blocks, e.g. ``emit_recurrent`` for the LSTM stack and ``emit_linear`` for a head)::

    @register_onnx_exporter("Forecaster", check=_check_forecaster)
    def _export(model, g, **options):      # g: an onnx_graph.Graph; add inputs, nodes and outputs to it
        ...

Float32 by default (``dtype=np.float64`` for double graphs).  No torch, no ``torch.onnx``.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from .._english import article
from ..nn.recurrent import _Recurrent
from ._optional import require
from .onnx_graph import OPSET, Graph, emit_embedding, emit_linear, emit_recurrent

__all__ = ["to_onnx", "register_onnx_exporter", "onnx_session", "run_onnx", "check_onnx"]

_EXPORTERS: dict[str, Callable] = {}
_CHECKERS: dict[str, Callable] = {}


def register_onnx_exporter(class_name: str, check: Callable | None = None):
    """Decorator: ``fn(model, g, **options)`` adds ``model``'s inputs, nodes and outputs to Graph ``g``.

    ``check(model, session, rng, batch, steps) -> float``, if given, runs the onnxruntime ``session`` on input it
    draws from ``rng`` and returns the largest |difference| from the model itself (used by :func:`check_onnx`
    and ``lstm export``).
    """
    def decorate(fn):
        _EXPORTERS[class_name] = fn
        if check is not None:
            _CHECKERS[class_name] = check
        return fn
    return decorate


def _check_options(exporter, options: dict, what: str) -> None:
    """Refuse options ``exporter`` does not take, naming those it does (one that takes ``**options`` checks them)."""
    params = inspect.signature(exporter).parameters.values()
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return
    taken = [p.name for p in params if p.kind == p.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(taken))
    if unknown:
        offer = f"it takes {', '.join(taken)}" if taken else "it takes no options"
        raise TypeError(f"to_onnx: {what} has no option {', '.join(unknown)}; {offer}")


def _exporter_for(obj):
    for cls in type(obj).__mro__:
        if cls.__name__ in _EXPORTERS:
            return _EXPORTERS[cls.__name__]
    if hasattr(obj, "_to_onnx"):
        return lambda model, g, **options: model._to_onnx(g, **options)
    return None


def to_onnx(obj, path: str | os.PathLike | None = None, *, dtype=np.float32, opset: int = OPSET, **options):
    """Export ``obj`` (a recurrent layer or a fitted estimator) to ONNX.

    Returns the ``onnx.ModelProto``, or writes it to ``path`` (atomically) and returns the path.  Options for a
    layer: ``lengths=True`` adds the ``lengths`` input, ``initial_state=True`` adds ``h0`` (and ``c0``).  For a
    language model: ``initial_state`` (default True), ``logits`` (default False).  Needs ``pip install lstm[onnx]``.
    """
    g = Graph(dtype, opset)
    if isinstance(obj, _Recurrent):
        _check_options(_export_layer, options, f"{article(type(obj).__name__)} {type(obj).__name__} layer")
        _export_layer(obj, g, **options)
        doc = f"lstm {obj!r}"
    else:
        exporter = _exporter_for(obj)
        if exporter is None:
            known = ", ".join(sorted(_EXPORTERS))
            raise TypeError(f"to_onnx exports LSTM/GRU/RNN layers and these estimators: {known}; "
                            f"got {type(obj).__name__}")
        if hasattr(obj, "_check_fitted"):
            obj._check_fitted()
        _check_options(exporter, options, f"{article(type(obj).__name__)} {type(obj).__name__}")
        exporter(obj, g, **options)
        doc = f"lstm {type(obj).__name__}"
    model = g.model(doc)
    if path is None:
        return model
    from .safefile import write_atomic

    path = Path(path)
    write_atomic(path, model.SerializeToString())
    return path


# ----------------------------------------------------------------------------------------------------------------
# exporters
# ----------------------------------------------------------------------------------------------------------------

def _state_inputs(g: Graph, layer, rows, batch="batch") -> tuple[str, str | None]:
    h0 = g.input("h0", "float", [rows, batch, layer.output_size])
    c0 = g.input("c0", "float", [rows, batch, layer.hidden_size]) if len(layer.state_names) == 2 else None
    return h0, c0


def _state_outputs(g: Graph, layer, states, rows) -> None:
    for tensor, name in zip(states, layer.state_names):
        g.output(tensor, f"{name}_n", "float", [rows, "batch", layer.hidden_size])


def _export_layer(layer, g: Graph, *, lengths: bool = False, initial_state: bool = False) -> None:
    for name, value in (("lengths", lengths), ("initial_state", initial_state)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"to_onnx: {name} must be True or False (whether the graph gets that input; its values "
                            f"are fed when the model runs), got {type(value).__name__}")
    I, bf = layer.input_size, layer.batch_first
    rows, width = layer.num_layers * layer.num_directions, layer.num_directions * layer.hidden_size
    x = g.input("x", "float", ["batch", "time", I] if bf else ["time", "batch", I])
    xt = g.node("Transpose", [x], base="x_time_major", perm=[1, 0, 2]) if bf else x       # (T, B, I)
    lens = None
    if lengths:
        raw = g.input("lengths", "int64", ["batch"])
        lens = g.node("Cast", [raw], base="lengths_int32", to=g.onnx.TensorProto.INT32)  # the operators take int32
    h0 = c0 = None
    if initial_state:
        h0, c0 = _state_inputs(g, layer, rows)
    y, states = emit_recurrent(g, layer, xt, lengths=lens, h0=h0, c0=c0)                  # (T, B, D·H)
    if bf:
        y = g.node("Transpose", [y], base="y_batch_major", perm=[1, 0, 2])
    g.output(y, "y", "float", ["batch", "time", width] if bf else ["time", "batch", width])
    _state_outputs(g, layer, states, rows)


@register_onnx_exporter("LanguageModel")
def _export_language_model(model, g: Graph, *, initial_state: bool = True, logits: bool = False) -> None:
    net = model.net_
    rnn, V = net.rnn, net.emb.num_embeddings
    ids = g.input("ids", "int64", ["batch", "time"])
    e, table = emit_embedding(g, net.emb, ids)                                       # (B, T, E)
    et = g.node("Transpose", [e], base="emb_time_major", perm=[1, 0, 2])              # (T, B, E)
    h0 = c0 = None
    if initial_state:
        h0, c0 = _state_inputs(g, rnn, rnn.num_layers)
    y, states = emit_recurrent(g, rnn, et, h0=h0, c0=c0)                              # (T, B, H)
    yb = g.node("Transpose", [y], base="rnn_batch_major", perm=[1, 0, 2])             # (B, T, H)
    if net.tie_weights:                                                               # W_out = E: one table
        wt = g.node("Transpose", [table], base="emb_weight_T", perm=[1, 0])           # (H, V)
        z = g.node("Add", [g.node("MatMul", [yb, wt], base="head_matmul"), g.const("head_bias", net.head.bias)],
                   base="head_out")
    else:
        z = emit_linear(g, net.head, yb)                                              # (B, T, V)
    probs = g.node("Softmax", [z], base="softmax", axis=-1)
    g.output(probs, "probs", "float", ["batch", "time", V])
    if logits:
        g.output(z, "logits", "float", ["batch", "time", V])
    _state_outputs(g, rnn, states, rnn.num_layers)
    g.metadata.update({"lstm.class": "LanguageModel", "lstm.level": model.vocab_.level,
                       "lstm.vocab": json.dumps(model.vocab_.tokens, ensure_ascii=False)})


# ----------------------------------------------------------------------------------------------------------------
# running and checking
# ----------------------------------------------------------------------------------------------------------------

def onnx_session(model, threads: int | None = None):
    """An ``onnxruntime.InferenceSession`` (CPU) for a ModelProto, serialized bytes or a file path."""
    ort = require("onnxruntime", "running ONNX models")
    if hasattr(model, "SerializeToString"):
        model = model.SerializeToString()
    elif isinstance(model, (str, os.PathLike)):
        model = str(model)
    opts = ort.SessionOptions()
    # 4 = fatal only: onnxruntime logs a refused node at level 3 (error) to stderr as well as raising; the raise,
    # which carries the same text, is reported once, as _cannot_run's one line
    opts.log_severity_level = 4
    if threads:
        opts.intra_op_num_threads = opts.inter_op_num_threads = int(threads)
    try:
        return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    except Exception as err:    # onnxruntime raises its own classes (NotImplemented, InvalidGraph, ...)
        raise _cannot_run(err) from None


def _cannot_run(err: Exception) -> RuntimeError:
    """onnxruntime's error as one line, with the fix when it is the float64 recurrent operators it lacks."""
    from onnxruntime import __version__

    detail = " ".join(str(err).split())[:200]
    hint = ("; onnxruntime's CPU LSTM/GRU/RNN operators run float32 only: export with dtype='float32'"
            if "double" in detail or "NOT_IMPLEMENTED" in detail else "")
    return RuntimeError(f"onnxruntime {__version__} cannot run this model ({detail}){hint}")


def _session_run(sess, names, feeds):
    try:
        return sess.run(names, feeds)
    except Exception as err:
        raise _cannot_run(err) from None


def run_onnx(model, threads: int | None = None, **inputs) -> dict[str, np.ndarray]:
    """Run an exported model in onnxruntime: ``run_onnx(m, x=x, lengths=l)`` → {output name: array}."""
    sess = onnx_session(model, threads)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, _session_run(sess, names, inputs)))


def _max_diff(sess, want: dict, feeds: dict) -> float:
    names = {i.name for i in sess.get_inputs()}
    out = _session_run(sess, list(want), {k: v for k, v in feeds.items() if k in names})
    return float(max(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(want[k], np.float64)))
                     for k, a in zip(want, out)))


def _check_layer(layer, sess, rng, batch: int, steps: int) -> float:
    types = {i.name: i.type for i in sess.get_inputs()}
    names = set(types)
    dt = np.float64 if types.get("x") == "tensor(double)" else np.float32       # the graph's own dtype
    shape = (batch, steps, layer.input_size) if layer.batch_first else (steps, batch, layer.input_size)
    feeds = {"x": rng.normal(size=shape).astype(dt)}
    kwargs = {}
    if "lengths" in names:
        feeds["lengths"] = kwargs["lengths"] = rng.integers(1, steps + 1, size=batch).astype(np.int64)
    state = None
    if "h0" in names:
        rows = layer.num_layers * layer.num_directions
        state = [rng.normal(size=(rows, batch, layer.hidden_size)).astype(dt) for _ in layer.state_names]
        feeds.update(zip(("h0", "c0"), state))
    was = layer.training
    layer.eval()
    try:
        y, st = layer(feeds["x"], None if state is None else tuple(state) if len(state) > 1 else state[0], **kwargs)
    finally:
        layer.train(was)
    want = {"y": y}
    want.update(zip(("h_n", "c_n"), st if isinstance(st, tuple) else (st,)))
    return _max_diff(sess, want, feeds)


def _check_language_model(model, sess, rng, batch: int, steps: int) -> float:
    net = model.net_
    names = {i.name for i in sess.get_inputs()}
    V, rnn = net.emb.num_embeddings, net.rnn
    feeds = {"ids": rng.integers(0, V, size=(batch, steps)).astype(np.int64)}
    state = None
    if "h0" in names:
        state = tuple(rng.normal(size=(rnn.num_layers, batch, rnn.hidden_size)).astype(np.float32) for _ in "hc")
        feeds.update(h0=state[0], c0=state[1])
    was = net.training
    net.eval()
    try:
        z, (h, c) = net.forward(feeds["ids"], state)
    finally:
        net.train(was)
    z = z.astype(np.float64)
    p = np.exp(z - z.max(-1, keepdims=True))
    return _max_diff(sess, {"probs": p / p.sum(-1, keepdims=True), "h_n": h, "c_n": c}, feeds)


_CHECKERS["LanguageModel"] = _check_language_model


def check_onnx(obj, model, *, batch: int = 2, steps: int = 12, seed: int = 0, threads: int | None = 1) -> float:
    """Largest |difference| between ``obj`` and its ONNX ``model`` in onnxruntime, on random input.

    Works for layers (with or without the ``lengths`` / ``h0`` / ``c0`` inputs) and for estimators whose exporter
    was registered with a ``check`` function.
    """
    rng = np.random.default_rng(seed)
    sess = onnx_session(model, threads)
    if isinstance(obj, _Recurrent):
        return _check_layer(obj, sess, rng, batch, steps)
    for cls in type(obj).__mro__:
        if cls.__name__ in _CHECKERS:
            return _CHECKERS[cls.__name__](obj, sess, rng, batch, steps)
    raise TypeError(f"check_onnx has no check for {type(obj).__name__}; register one with "
                    "register_onnx_exporter(name, check=...)")


from . import onnx_forecaster  # noqa: E402, F401  (registers the LSTMForecaster exporter)
