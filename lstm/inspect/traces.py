"""Traces made easy to read: run a trained model on text (or any input) and keep every gate of every step.

A layer called with ``return_trace=True`` returns ``trace[k]`` of shape (layers, directions, T, B, H) for
k in i, f, g, o, c, h (LSTM; GRU gives r, z, n, h; RNN gives h).  This module only *selects* from those arrays —
one sequence, one direction (0 unless asked), its real steps only — it never recomputes a gate::

    tt = trace_text(model, "def f(x):\\n    return x")
    tt.values["f"]          # (layers, T, H) forget gates at every step
    tt.unit(0, "c", 17)     # (T,) the cell state of unit 17 of layer 0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("i", "f", "g", "o", "c", "h")
KIND_NAMES = {"i": "input gate", "f": "forget gate", "g": "candidate g", "o": "output gate", "c": "cell state",
              "h": "hidden state", "r": "reset gate", "z": "update gate", "n": "candidate n"}


@dataclass
class TextTrace:
    """What a recurrent layer did at each step of one sequence."""

    tokens: list            # (T,) the text each step read, for display
    values: dict            # kind -> (layers, T, H) float array
    ids: np.ndarray | None = None   # (T,) token ids, when the input was text

    @property
    def kinds(self) -> tuple:
        return tuple(self.values)

    @property
    def num_layers(self) -> int:
        return next(iter(self.values.values())).shape[0]

    @property
    def steps(self) -> int:
        return next(iter(self.values.values())).shape[1]

    @property
    def hidden_size(self) -> int:
        return self.values["h"].shape[2] if "h" in self.values else next(iter(self.values.values())).shape[2]

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    def unit(self, layer: int, kind: str, unit: int) -> np.ndarray:
        """(T,) one unit's values over time."""
        if kind not in self.values:
            raise ValueError(f"kind must be one of {', '.join(self.values)}, got {kind!r}")
        a = self.values[kind]
        if not isinstance(layer, (int, np.integer)) or not isinstance(unit, (int, np.integer)):
            raise TypeError(f"layer and unit must be integers, got layer={layer!r} and unit={unit!r}")
        if not 0 <= layer < a.shape[0]:
            raise ValueError(f"layer must be in [0, {a.shape[0] - 1}], got {layer}")
        if not 0 <= unit < a.shape[2]:
            raise ValueError(f"unit must be in [0, {a.shape[2] - 1}], got {unit}")
        return a[layer, :, unit]


def select_sequence(trace: dict, b: int = 0, direction: int = 0, length: int | None = None) -> dict:
    """From a layer's trace {k: (layers, D, T, B, H)} keep one sequence and direction: {k: (layers, T, H)}, cut to
    its first ``length`` steps when given (the padded steps after it are not steps of the sequence)."""
    return {k: np.ascontiguousarray(v[:, direction, :length, b, :]) for k, v in trace.items()}


def trace_layer(layer, x, tokens=None, b: int = 0, lengths=None, direction: int = 0) -> TextTrace:
    """Run a recurrent ``layer`` on input ``x`` (its own layout) and keep sequence ``b``'s trace.

    ``x`` may be one unbatched sequence (T, input_size).  With ``lengths`` (one per sequence) the layer reads the
    batch as padded and the trace keeps only sequence ``b``'s ``lengths[b]`` real steps, so padding never enters
    saturation or any other statistic.  ``direction`` 1 is the reverse direction of a bidirectional layer.
    """
    was = layer.training
    layer.eval()
    try:
        _, _, trace = layer(x, lengths=lengths, return_trace=True)
    finally:
        layer.train(was)
    first = next(iter(trace.values()))
    if first.ndim == 4:                                           # an unbatched sequence: (layers, D, T, H)
        trace = {k: v[:, :, :, None, :] for k, v in trace.items()}
        first = next(iter(trace.values()))
    B, D = first.shape[3], first.shape[1]
    if not isinstance(b, (int, np.integer)) or not -B <= b < B:
        raise ValueError(f"b must be a sequence index in [0, {B - 1}] (the batch holds {B}), got {b!r}")
    if not isinstance(direction, (int, np.integer)) or not 0 <= direction < D:
        raise ValueError(f"direction must be in [0, {D - 1}] (the layer has {D} direction(s)), got {direction!r}")
    length = None if lengths is None else int(np.asarray(lengths)[b])
    values = select_sequence(trace, b, direction, length)
    T = next(iter(values.values())).shape[1]
    if tokens is not None and len(tokens) != T:
        raise ValueError(f"tokens must hold one entry per step of sequence {b} ({T} steps), got {len(tokens)}; "
                         "pass one token per step")
    return TextTrace(tokens=list(tokens) if tokens is not None else [str(t) for t in range(T)], values=values)


def model_parts(model):
    """(vocabulary, embedding, recurrent layer) of a language model estimator or its network."""
    net = getattr(model, "net_", model)
    vocab = getattr(model, "vocab_", None)
    if not (hasattr(net, "emb") and hasattr(net, "rnn")):
        raise ValueError(f"expected a language model (Embedding → recurrent layer → Linear, e.g. from "
                         f"lstm train-text), got a {type(model).__name__}")
    return vocab, net.emb, net.rnn


def trace_text(model, text: str, max_tokens: int | None = None) -> TextTrace:
    """Trace a language model (``LanguageModel`` or its ``net_``) reading ``text``.

    Characters the model never saw are read as ``<unk>`` but shown as themselves.  ``max_tokens`` keeps the first
    N tokens (reports stay small).
    """
    from ..data.text import Joiner

    vocab, emb, rnn = model_parts(model)
    if vocab is None:
        raise ValueError("trace_text needs the vocabulary: pass the LanguageModel, not only its network")
    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty string, got {text!r:.40}")
    if max_tokens is not None and (not isinstance(max_tokens, (int, np.integer)) or max_tokens < 1):
        raise ValueError(f"max_tokens must be a positive integer or None (all tokens), got {max_tokens!r}")
    pieces = vocab.tokenize(text)
    if max_tokens is not None:
        pieces = pieces[:max_tokens]
    if not pieces:
        raise ValueError("the text holds no tokens the model could read")
    ids = np.array([vocab.index.get(p, 0) for p in pieces], dtype=np.int64)
    if vocab.level == "char":
        tokens = pieces
    else:
        tokens, join = [], Joiner(vocab)
        for p, i in zip(pieces, ids):
            shown = join.piece(int(i))
            tokens.append(shown if i else shown.replace("<unk>", p))
    was = emb.training
    emb.eval()
    try:
        e = emb(ids[None, :])                                     # (1, T, E)
    finally:
        emb.train(was)
    tt = trace_layer(rnn, e, tokens)
    tt.ids = ids
    return tt
