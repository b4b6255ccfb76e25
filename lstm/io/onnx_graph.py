"""Building blocks for ONNX graphs: a small graph builder and emitters for our layers.

Exporters (:mod:`lstm.io.onnx_export`) compose these; a new estimator adds its own head by calling
:func:`emit_recurrent` on its input tensor and appending nodes, e.g.::

    g = Graph()
    x = g.input("x", "float", ["batch", "time", n_features])
    xt = g.node("Transpose", [x], perm=[1, 0, 2])                 # (T, B, F): ONNX recurrences are time-major
    y, states = emit_recurrent(g, net.rnn, xt)                      # (T, B, D·H), [h_n, (c_n)]
    last = ...; out = emit_linear(g, net.head, last)
    g.output(out, "y", "float", ["batch", n_out])
    model = g.model()

ONNX recurrent operators versus ours (PyTorch's packing), per layer::

    LSTM  W (D, 4H, I), R (D, 4H, H): gate blocks i, o, f, c   (ours i, f, g, o: blocks 0, 3, 1, 2)
          B (D, 8H) = [Wb; Rb] = [b_ih; b_hh] reordered the same way;  P (D, 3H) peepholes i, o, f (ours i, f, o)
          coupled gates (i = 1 − f): the i block holds −(f block), since σ(−a) = 1 − σ(a)
    GRU   gate blocks z, r, h (ours r, z, n: blocks 1, 0, 2);  linear_before_reset=1 is PyTorch's GRU
          (r ⊙ (h R_hᵀ + Rb_h)); the default 0 would compute (r ⊙ h) R_hᵀ, a different network
    RNN   one block; activations Tanh or Relu (one per direction)

Outputs: Y (T, D, B, H), Y_h (D, B, H), Y_c (D, B, H).  With ``sequence_lens`` the operators reverse each sequence
within its own length for the reverse direction, write zeros to Y past each length, and return in Y_h the state at
the last real step (forward) or after the first step (reverse) — our ``lengths`` semantics exactly.  Layers are
chained by turning Y into (T, B, D·H) (Transpose to (T, B, D, H), Reshape).  ONNX recurrences have no projection
(``proj_size``): such layers are refused.
"""

from __future__ import annotations

import numpy as np

from ..nn import GRU, LSTM, RNN
from ._optional import require

OPSET = 17            # LSTM/GRU/RNN-14, Softmax-13, Squeeze-13: supported by onnxruntime >= 1.11
IR_VERSION = 8        # the IR version that goes with opset 17

_LSTM_ORDER = (0, 3, 1, 2)      # ours i, f, g, o  -> ONNX i, o, f, c
_GRU_ORDER = (1, 0, 2)          # ours r, z, n     -> ONNX z, r, h
_PEEP_ORDER = (0, 2, 1)         # ours p_i, p_f, p_o -> ONNX P i, o, f


def _blocks(a: np.ndarray, order) -> np.ndarray:
    parts = np.split(a, len(order), axis=0)
    return np.concatenate([parts[j] for j in order], axis=0)


class Graph:
    """Collects nodes, initializers, inputs and outputs, giving every tensor a unique name."""

    def __init__(self, dtype=np.float32, opset: int = OPSET):
        self.onnx = require("onnx", "ONNX export")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"ONNX export dtype must be float32 or float64, got {self.dtype}")
        newest = self.onnx.defs.onnx_opset_version()
        if not isinstance(opset, (int, np.integer)) or not 14 <= opset <= newest:
            raise ValueError(f"opset must be an integer from 14 (LSTM/GRU/RNN version 14) to {newest} (this onnx), "
                             f"got {opset!r}")
        self.opset = int(opset)
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        self._used: set[str] = set()
        self._int_consts: dict = {}
        self.metadata: dict[str, str] = {}     # key -> text, stored in the model's metadata_props

    @property
    def float_type(self) -> str:
        return "float" if self.dtype == np.float32 else "double"

    def name(self, base: str) -> str:
        """A fresh tensor name starting with ``base``."""
        name, n = base, 1
        while name in self._used:
            name, n = f"{base}_{n}", n + 1
        self._used.add(name)
        return name

    def _elem(self, elem_type) -> int:
        T = self.onnx.TensorProto
        return {"float": T.FLOAT, "double": T.DOUBLE, "int64": T.INT64, "int32": T.INT32}[elem_type]

    def const(self, base: str, array) -> str:
        """An initializer: float arrays in the graph's dtype, integer arrays as int64 (int32 kept)."""
        a = np.asarray(array)
        if np.issubdtype(a.dtype, np.floating):
            a = a.astype(self.dtype)
        else:
            a = a if a.dtype == np.int32 else a.astype(np.int64)
            key = (a.dtype.str, a.shape, a.tobytes())           # small index constants are shared
            if key in self._int_consts:
                return self._int_consts[key]
            self._int_consts[key] = name = self.name(base)
            self.initializers.append(self.onnx.numpy_helper.from_array(np.array(a, order="C"), name))
            return name
        name = self.name(base)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.array(a, order="C"), name))
        return name

    def input(self, name: str, elem_type: str, shape: list) -> str:
        """A graph input; ``elem_type`` 'float' (the graph's float type), 'int64' or 'int32'; shape of ints/names."""
        if elem_type == "float":
            elem_type = self.float_type
        self._used.add(name)
        self.inputs.append(self.onnx.helper.make_tensor_value_info(name, self._elem(elem_type), shape))
        return name

    def output(self, tensor: str, name: str, elem_type: str, shape: list) -> str:
        """Expose ``tensor`` as graph output ``name`` (an Identity node renames it)."""
        if elem_type == "float":
            elem_type = self.float_type
        self._used.add(name)
        self.nodes.append(self.onnx.helper.make_node("Identity", [tensor], [name], name=f"out_{name}"))
        self.outputs.append(self.onnx.helper.make_tensor_value_info(name, self._elem(elem_type), shape))
        return name

    def node(self, op: str, inputs: list[str], n_out: int = 1, base: str | None = None, **attrs):
        """Add a node; returns its output name (or a list of ``n_out`` names)."""
        while inputs and inputs[-1] == "":                 # trailing optional inputs may be left out
            inputs = inputs[:-1]
        stem = base or op.lower()
        outs = [self.name(f"{stem}_out{i}" if n_out > 1 else stem) for i in range(n_out)]
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), outs, name=self.name(f"node_{stem}"), **attrs))
        return outs if n_out > 1 else outs[0]

    def model(self, doc: str = ""):
        """The checked ``onnx.ModelProto``."""
        from .. import __version__

        helper = self.onnx.helper
        graph = helper.make_graph(self.nodes, "lstm", self.inputs, self.outputs, initializer=self.initializers,
                                  doc_string=doc)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                                  producer_name="lstm", producer_version=__version__)
        model.ir_version = IR_VERSION
        for key, value in self.metadata.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, str(value)
        self.onnx.checker.check_model(model)
        return model


# ----------------------------------------------------------------------------------------------------------------
# emitters
# ----------------------------------------------------------------------------------------------------------------

def check_exportable(layer) -> None:
    """Refuse what the ONNX recurrent operators cannot express."""
    if not isinstance(layer, (LSTM, GRU, RNN)):
        raise TypeError(f"expected an lstm.nn.LSTM, GRU or RNN layer, got {type(layer).__name__}")
    if isinstance(layer, LSTM) and layer.proj_size:
        raise ValueError(f"ONNX's LSTM operator has no projection, so this {layer!r} cannot be exported; "
                         "train without proj_size to export to ONNX")


def _layer_weights(layer, k: int) -> dict:
    """W (D, G·H, I_k), R (D, G·H, H), B (D, 2·G·H) or None, P (D, 3H) or None — in ONNX's gate order."""
    p = layer.parameters()
    order = _LSTM_ORDER if isinstance(layer, LSTM) else _GRU_ORDER if isinstance(layer, GRU) else (0,)
    coupled = isinstance(layer, LSTM) and layer.coupled
    W, R, B, P = [], [], [], []
    for d in range(layer.num_directions):
        s = f"_l{k}" + ("_reverse" if d else "")
        W.append(_blocks(_couple(p["weight_ih" + s], coupled), order))
        R.append(_blocks(_couple(p["weight_hh" + s], coupled), order))
        if layer.bias:
            B.append(np.concatenate([_blocks(_couple(p["bias_ih" + s], coupled), order),
                                     _blocks(_couple(p["bias_hh" + s], coupled), order)]))
        if isinstance(layer, LSTM) and layer.peephole:
            P.append(_blocks(_couple(p["weight_peephole" + s], coupled, blocks=3), _PEEP_ORDER))
    return {"W": np.stack(W), "R": np.stack(R), "B": np.stack(B) if B else None, "P": np.stack(P) if P else None}


def _couple(a: np.ndarray, coupled: bool, blocks: int = 4) -> np.ndarray:
    """Coupled gates, i = 1 − f, written with the plain operator: the input-gate block becomes −(forget block),
    so i = σ(−a_f) = 1 − σ(a_f).  (ONNX's ``input_forget`` does not say which gate is derived from which, and
    onnxruntime derives f from i, the opposite of ours; this form needs no such attribute.)"""
    if not coupled:
        return a
    parts = np.split(a, blocks, axis=0)
    return np.concatenate([-parts[1]] + parts[1:], axis=0)


def _slice0(g: Graph, tensor: str, start: int, stop: int, base: str) -> str:
    """tensor[start:stop] along axis 0."""
    return g.node("Slice", [tensor, g.const("starts", [start]), g.const("ends", [stop]), g.const("axes", [0])],
                  base=base)


def emit_recurrent(g: Graph, layer, x: str, *, lengths: str | None = None, h0: str | None = None,
                   c0: str | None = None, prefix: str = "rnn"):
    """Nodes computing ``layer`` (eval mode) on the time-major tensor ``x`` (T, B, I).

    ``lengths``: an int32 tensor (B,) of sequence lengths, or None; ``h0`` / ``c0``: initial states
    (num_layers·D, B, H) or None (zeros).  Returns ``(y, states)``: y (T, B, D·H) and [h_n] or [h_n, c_n], each
    (num_layers·D, B, H), in our (and PyTorch's) layout.
    """
    check_exportable(layer)
    is_lstm, D, H = isinstance(layer, LSTM), layer.num_directions, layer.hidden_size
    op = "LSTM" if is_lstm else "GRU" if isinstance(layer, GRU) else "RNN"
    attrs = {"hidden_size": H, "direction": "bidirectional" if D == 2 else "forward"}
    if isinstance(layer, GRU):
        attrs["linear_before_reset"] = 1
    if isinstance(layer, RNN):
        attrs["activations"] = ["Tanh" if layer.nonlinearity == "tanh" else "Relu"] * D
    inp, finals_h, finals_c = x, [], []
    for k in range(layer.num_layers):
        w = _layer_weights(layer, k)
        names = [inp, g.const(f"{prefix}_W_l{k}", w["W"]), g.const(f"{prefix}_R_l{k}", w["R"]),
                 "" if w["B"] is None else g.const(f"{prefix}_B_l{k}", w["B"]), lengths or ""]
        one = layer.num_layers == 1
        names.append("" if h0 is None else h0 if one else _slice0(g, h0, k * D, (k + 1) * D, f"{prefix}_h0_l{k}"))
        if is_lstm:
            names.append("" if c0 is None else c0 if one else _slice0(g, c0, k * D, (k + 1) * D, f"{prefix}_c0_l{k}"))
            names.append("" if w["P"] is None else g.const(f"{prefix}_P_l{k}", w["P"]))
        outs = g.node(op, names, n_out=3 if is_lstm else 2, base=f"{prefix}_l{k}", **attrs)
        Y = outs[0]                                                              # (T, D, B, H)
        finals_h.append(outs[1])
        if is_lstm:
            finals_c.append(outs[2])
        if D == 1:
            inp = g.node("Squeeze", [Y, g.const("axes", [1])], base=f"{prefix}_y_l{k}")   # (T, B, H)
        else:
            Yt = g.node("Transpose", [Y], base=f"{prefix}_yt_l{k}", perm=[0, 2, 1, 3])    # (T, B, D, H)
            inp = g.node("Reshape", [Yt, g.const("shape", [0, 0, D * H])], base=f"{prefix}_y_l{k}")
    states = []
    for finals, name in ((finals_h, "h_n"), (finals_c, "c_n")):
        if finals:
            states.append(finals[0] if len(finals) == 1 else
                          g.node("Concat", finals, base=f"{prefix}_{name}", axis=0))      # (L·D, B, H)
    return inp, states


def emit_linear(g: Graph, linear, x: str, prefix: str = "head") -> str:
    """x (..., in) → x Wᵀ + b (..., out) as MatMul (+ Add)."""
    y = g.node("MatMul", [x, g.const(f"{prefix}_weight_T", linear.weight.T)], base=f"{prefix}_matmul")
    if linear.bias is not None:
        y = g.node("Add", [y, g.const(f"{prefix}_bias", linear.bias)], base=f"{prefix}_out")
    return y


def emit_embedding(g: Graph, embedding, ids: str, prefix: str = "emb") -> tuple[str, str]:
    """ids (int64, any shape S) → rows of the table (S, E) by Gather; returns (output, table initializer name)."""
    table = g.const(f"{prefix}_weight", embedding.weight)
    return g.node("Gather", [table, ids], base=f"{prefix}_out", axis=0), table
