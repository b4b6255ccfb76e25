"""Weight exchange with Keras 3: ``keras.layers.LSTM`` / ``GRU`` / ``SimpleRNN`` (and ``Bidirectional`` of them).

Keras keeps, per layer and direction, a transposed input kernel, a transposed recurrent kernel and its bias::

    LSTM       kernel (I, 4H)  gates i, f, c, o   = W_ihᵀ        (same gate order as ours / PyTorch's i, f, g, o)
               recurrent_kernel (H, 4H)           = W_hhᵀ
               bias (4H,)                         = b_ih + b_hh  (one bias)
    GRU        kernel (I, 3H)  gates z, r, h      = W_ih[z, r, n]ᵀ   (ours / PyTorch's order is r, z, n)
    (reset_after=True)
               recurrent_kernel (H, 3H)           = W_hh[z, r, n]ᵀ
               bias (2, 3H)                       = [b_ih[z, r, n]; b_hh[z, r, n]]   (both biases, exactly)
    SimpleRNN  kernel (I, H), recurrent_kernel (H, H), bias (H,) = b_ih + b_hh

Keras' GRU with ``reset_after=True`` (its default) computes h̃ = tanh(x W_h + b_xh + r ⊙ (h W_rh + b_rh)) and
h = z ⊙ h_{t-1} + (1 − z) ⊙ h̃: PyTorch's GRU exactly, with z, r, n renamed.  ``reset_after=False`` multiplies r
into h before the matrix product, which neither PyTorch nor lstm implement; it is refused.

One bias cannot be split back into two.  On import the Keras bias goes to ``bias_ih`` and ``bias_hh`` is zero
(LSTM, SimpleRNN); the layer computes exactly the same function (up to float rounding of the sum), and a second
export gives the same Keras weights bit for bit.  The GRU keeps both biases, so its round trip is exact both ways.

Bidirectional layers: Keras' ``Bidirectional`` lists the forward layer's weights, then the backward layer's, which
map to our ``_l{k}`` and ``_l{k}_reverse``.  Stacks are one Keras layer per lstm layer.  What Keras cannot express
is refused: LSTM projections (``proj_size``), peepholes and coupled gates.

Keras itself is needed only by :func:`to_keras` / :func:`from_keras` (``pip install lstm[keras]``); without
TensorFlow it runs on its PyTorch backend (``KERAS_BACKEND=torch``, chosen automatically when unset).
"""

from __future__ import annotations

import numpy as np

from ..nn import GRU, LSTM, RNN
from ._optional import require_keras

__all__ = ["to_keras_weights", "from_keras_weights", "to_keras", "to_keras_layers", "from_keras"]

_GRU_TO_KERAS = (1, 0, 2)          # ours r, z, n -> Keras z, r, h  (a swap: its own inverse)
_KINDS = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "RNN", "SIMPLERNN": "RNN"}


def _blocks(a: np.ndarray, order, axis: int = 0) -> np.ndarray:
    """Reorder the gate blocks of ``a`` along ``axis`` (a has G equal blocks there)."""
    parts = np.split(a, len(order), axis=axis)
    return np.concatenate([parts[j] for j in order], axis=axis)


def _kind(layer) -> str:
    if isinstance(layer, LSTM):
        return "LSTM"
    if isinstance(layer, GRU):
        return "GRU"
    if isinstance(layer, RNN):
        return "RNN"
    raise TypeError(f"expected an lstm.nn.LSTM, GRU or RNN layer, got {type(layer).__name__}")


def _check_keras_representable(layer) -> None:
    if isinstance(layer, LSTM):
        for flag, what in (("proj_size", "projection (proj_size)"), ("peephole", "peephole connections"),
                           ("coupled", "coupled input and forget gates")):
            if getattr(layer, flag):
                raise ValueError(f"keras.layers.LSTM has no {what}, so this {layer!r} cannot be exported to Keras")


# ----------------------------------------------------------------------------------------------------------------
# arrays only (no Keras needed)
# ----------------------------------------------------------------------------------------------------------------

def to_keras_weights(layer) -> list[list[np.ndarray]]:
    """Keras weight lists for ``layer``: one list per stacked layer, each what ``keras_layer.set_weights`` takes.

    Per direction ``[kernel, recurrent_kernel, bias]`` (no bias when ``bias=False``); a bidirectional layer's list
    is the forward direction's arrays followed by the backward direction's (``keras.layers.Bidirectional``'s
    order).  A one-layer network gives a list of one list: ``keras_lstm.set_weights(to_keras_weights(l)[0])``.
    """
    kind = _kind(layer)
    _check_keras_representable(layer)
    p = layer.parameters()
    out = []
    for k in range(layer.num_layers):
        arrays = []
        for d in range(layer.num_directions):
            s = f"_l{k}" + ("_reverse" if d else "")
            W_ih, W_hh = p["weight_ih" + s], p["weight_hh" + s]            # (G·H, I_k), (G·H, H)
            if kind == "GRU":
                W_ih, W_hh = _blocks(W_ih, _GRU_TO_KERAS), _blocks(W_hh, _GRU_TO_KERAS)
            arrays += [np.ascontiguousarray(W_ih.T), np.ascontiguousarray(W_hh.T)]   # (I_k, G·H), (H, G·H)
            if layer.bias:
                b_ih, b_hh = p["bias_ih" + s], p["bias_hh" + s]
                if kind == "GRU":
                    arrays.append(np.stack([_blocks(b_ih, _GRU_TO_KERAS), _blocks(b_hh, _GRU_TO_KERAS)]))  # (2, 3H)
                else:
                    arrays.append(b_ih + b_hh)                                # (G·H,)
        out.append(arrays)
    return out


def _per_layer(weights) -> list[list[np.ndarray]]:
    """Accept one Keras weight list or a list of them (a stack)."""
    if not isinstance(weights, (list, tuple)) or not weights:
        raise TypeError("weights must be a Keras weight list [kernel, recurrent_kernel, bias] or a list of them")
    if all(isinstance(w, (list, tuple)) for w in weights):
        return [[np.asarray(a) for a in w] for w in weights]
    return [[np.asarray(a) for a in weights]]


def _split_directions(arrays: list[np.ndarray], k: int) -> list[list[np.ndarray]]:
    n = len(arrays)
    if n in (2, 3):
        return [arrays]
    if n in (4, 6):
        return [arrays[: n // 2], arrays[n // 2:]]
    raise ValueError(
        f"Keras layer {k} has {n} weight arrays; expected 3 (kernel, recurrent_kernel, bias), 2 without bias, "
        "or twice that for a Bidirectional layer"
    )


def _infer_kind(arrays, k: int) -> str:
    rec = arrays[1]
    if rec.ndim != 2 or rec.shape[0] == 0 or rec.shape[1] % rec.shape[0]:
        raise ValueError(f"Keras layer {k}: recurrent_kernel must be (units, gates·units), got shape {rec.shape}")
    gates = rec.shape[1] // rec.shape[0]
    if gates not in (4, 3, 1):
        raise ValueError(f"Keras layer {k}: recurrent_kernel {rec.shape} has {gates} gate blocks; expected 4, 3 or 1")
    return {4: "LSTM", 3: "GRU", 1: "RNN"}[gates]


def from_keras_weights(weights, kind: str | None = None, *, nonlinearity: str = "tanh", batch_first: bool = True,
                       dtype=None, **options):
    """An lstm layer from Keras weights (one ``get_weights()`` list, or a list of them for a stack).

    ``kind`` ('LSTM', 'GRU', 'RNN' / 'SimpleRNN') is inferred from the recurrent kernel's shape when omitted;
    ``nonlinearity`` is the SimpleRNN activation ('tanh' or 'relu').  ``batch_first`` defaults to True, Keras'
    layout.  ``dtype`` defaults to float64 when every array is float64, else float32.  Other keywords go to the
    layer's constructor.  See the module notes for how the single LSTM/RNN bias is placed (all in ``bias_ih``).
    """
    layers = _per_layer(weights)
    per_dir = [_split_directions(arrays, k) for k, arrays in enumerate(layers)]
    D = len(per_dir[0])
    if any(len(dirs) != D for dirs in per_dir):
        raise ValueError("every layer of the stack must be bidirectional, or none")
    n_arrays = {len(a) for dirs in per_dir for a in dirs}
    if len(n_arrays) != 1:
        raise ValueError("every layer of the stack must have a bias, or none")
    has_bias = n_arrays.pop() == 3
    inferred = _infer_kind(per_dir[0][0], 0)
    if kind is not None:
        key = str(kind).upper()
        if key not in _KINDS:
            raise ValueError(f"kind must be 'LSTM', 'GRU' or 'RNN' ('SimpleRNN'), got {kind!r}")
        if _KINDS[key] != inferred:
            raise ValueError(f"kind={kind!r} was given, but the recurrent kernel has the shape of a {inferred}")
    kind = inferred
    G = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]
    H = per_dir[0][0][1].shape[0]
    input_size = per_dir[0][0][0].shape[0]
    state = {}
    for k, dirs in enumerate(per_dir):
        I_k = input_size if k == 0 else D * H
        for d, arrays in enumerate(dirs):
            s = f"_l{k}" + ("_reverse" if d else "")
            kernel, rec = arrays[0], arrays[1]
            if kernel.shape != (I_k, G * H) or rec.shape != (H, G * H):
                raise ValueError(
                    f"Keras layer {k}{' (backward)' if d else ''}: expected kernel {(I_k, G * H)} and recurrent_kernel "
                    f"{(H, G * H)}, got {kernel.shape} and {rec.shape}"
                )
            W_ih, W_hh = kernel.T, rec.T                                     # (G·H, I_k), (G·H, H)
            if kind == "GRU":
                W_ih, W_hh = _blocks(W_ih, _GRU_TO_KERAS), _blocks(W_hh, _GRU_TO_KERAS)
            state["weight_ih" + s], state["weight_hh" + s] = W_ih, W_hh
            if has_bias:
                bias = arrays[2]
                if kind == "GRU":
                    if bias.shape != (2, G * H):
                        raise ValueError(
                            f"Keras GRU layer {k}: bias has shape {bias.shape}, expected {(2, G * H)}; a GRU built "
                            "with reset_after=False applies the reset gate before the recurrent matrix product, which "
                            "PyTorch and lstm do not implement: rebuild it with reset_after=True (Keras' default)"
                        )
                    state["bias_ih" + s] = _blocks(bias[0], _GRU_TO_KERAS)
                    state["bias_hh" + s] = _blocks(bias[1], _GRU_TO_KERAS)
                else:
                    if bias.shape != (G * H,):
                        raise ValueError(f"Keras layer {k}: bias has shape {bias.shape}, expected {(G * H,)}")
                    state["bias_ih" + s] = bias
                    state["bias_hh" + s] = np.zeros_like(bias)      # one bias in Keras: all of it into bias_ih
    for name, a in state.items():
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"Keras weights must be float32 or float64, got {a.dtype} for {name}")
    if dtype is None:
        dtype = np.float64 if all(a.dtype == np.float64 for a in state.values()) else np.float32
    common = dict(num_layers=len(per_dir), bias=has_bias, batch_first=batch_first, bidirectional=D == 2,
                  dtype=dtype, **options)
    if kind == "LSTM":
        layer = LSTM(input_size, H, **common)
    elif kind == "GRU":
        layer = GRU(input_size, H, **common)
    else:
        layer = RNN(input_size, H, nonlinearity=nonlinearity, **common)
    layer.load_state_dict(state)
    return layer


# ----------------------------------------------------------------------------------------------------------------
# actual Keras layers
# ----------------------------------------------------------------------------------------------------------------

def _keras_layer(keras, layer, return_sequences: bool, return_state: bool):
    kind = _kind(layer)
    opts = dict(units=layer.hidden_size, use_bias=layer.bias, return_sequences=return_sequences,
                return_state=return_state, dtype=layer.dtype.name)
    if kind == "LSTM":
        return keras.layers.LSTM(**opts)
    if kind == "GRU":
        return keras.layers.GRU(reset_after=True, **opts)
    return keras.layers.SimpleRNN(activation=layer.nonlinearity, **opts)


def to_keras_layers(layer, *, return_state: bool = False) -> list:
    """Built Keras layers (one per stacked layer, ``Bidirectional`` when bidirectional) holding these weights.

    Every layer returns its full sequence (B, T, D·H); ``return_state=True`` makes each also return its final
    states (Keras' order: h, c for an LSTM; forward then backward for ``Bidirectional``).
    """
    keras = require_keras()
    weights = to_keras_weights(layer)
    out = []
    for k in range(layer.num_layers):
        kl = _keras_layer(keras, layer, True, return_state)
        if layer.bidirectional:
            kl = keras.layers.Bidirectional(kl, merge_mode="concat", dtype=layer.dtype.name)
        width = layer.input_size if k == 0 else layer.num_directions * layer.hidden_size
        kl.build((None, None, width))
        kl.set_weights(weights[k])
        out.append(kl)
    return out


def to_keras(layer, *, return_state: bool = False):
    """A Keras model of ``layer``: the Keras layer itself for one layer, a ``keras.Sequential`` for a stack.

    Inputs and outputs are batch-first (B, T, ·), as in Keras.  ``return_state`` needs a one-layer network
    (for a stack, use :func:`to_keras_layers` and call them in turn).
    """
    keras = require_keras()
    if return_state and layer.num_layers > 1:
        raise ValueError("return_state=True needs a one-layer network; use to_keras_layers for a stack's states")
    layers = to_keras_layers(layer, return_state=return_state)
    if len(layers) == 1:
        return layers[0]
    return keras.Sequential([keras.Input((None, layer.input_size), dtype=layer.dtype.name)] + layers)


def _describe_keras(kl, backward: bool = False) -> tuple[str, dict]:
    """(kind, config) of a Keras recurrent layer, refusing settings that have no lstm equivalent.

    ``backward``: the layer is the backward half of a ``Bidirectional`` (which runs with go_backwards=True).
    """
    cls = type(kl).__name__
    if cls not in ("LSTM", "GRU", "SimpleRNN"):
        masked = " (and lstm's lengths= for what Keras masked)" if cls == "Masking" else ""
        raise TypeError(f"from_keras reads LSTM, GRU and SimpleRNN layers (or Bidirectional of one), got {cls}; "
                        f"give it the recurrent layers alone, as a list{masked}")
    cfg = kl.get_config()
    if bool(cfg.get("go_backwards")) != backward:
        raise ValueError(f"Keras {cls} with go_backwards=True is not supported; wrap it in Bidirectional instead")
    act = cfg.get("activation")
    if cls == "SimpleRNN":
        if act not in ("tanh", "relu"):
            raise ValueError(f"Keras SimpleRNN activation must be 'tanh' or 'relu', got {act!r}")
    else:
        if act != "tanh" or cfg.get("recurrent_activation") != "sigmoid":
            raise ValueError(f"Keras {cls} must use activation='tanh' and recurrent_activation='sigmoid', got "
                             f"{act!r} and {cfg.get('recurrent_activation')!r}")
        if cls == "GRU" and not cfg.get("reset_after", True):
            raise ValueError("Keras GRU with reset_after=False has no PyTorch or lstm equivalent; use reset_after=True")
    return {"LSTM": "LSTM", "GRU": "GRU", "SimpleRNN": "RNN"}[cls], cfg


def from_keras(obj, **options):
    """An lstm layer from a Keras LSTM / GRU / SimpleRNN layer, a ``Bidirectional`` of one, or a list or
    ``keras.Sequential`` of such layers (a stack).  Keywords as :func:`from_keras_weights`."""
    if isinstance(obj, (list, tuple)):
        layers = list(obj)
    elif hasattr(obj, "layers") and not hasattr(obj, "cell") and type(obj).__name__ != "Bidirectional":
        layers = [kl for kl in obj.layers if type(kl).__name__ != "InputLayer"]   # a functional model's input
    else:
        layers = [obj]
    if not layers:
        raise ValueError("from_keras needs a Keras LSTM, GRU or SimpleRNN layer (or a list or Sequential of them); "
                         "got no layers")
    kinds, weights, acts = set(), [], set()
    for kl in layers:
        inner = kl
        if type(kl).__name__ == "Bidirectional":
            if kl.merge_mode != "concat":
                raise ValueError(f"Bidirectional merge_mode must be 'concat', got {kl.merge_mode!r}")
            inner = kl.forward_layer
            back, back_cfg = _describe_keras(kl.backward_layer, backward=True)
            kinds.add(back)
            if back == "RNN":
                acts.add(back_cfg["activation"])
        kind, cfg = _describe_keras(inner)
        kinds.add(kind)
        if kind == "RNN":
            acts.add(cfg["activation"])
        weights.append([np.asarray(w) for w in kl.get_weights()])
        if not weights[-1]:
            raise ValueError(f"Keras {type(kl).__name__} layer {len(weights) - 1} has no weights yet: build it first "
                             "(call it on an input, or kl.build((None, None, input_size)))")
    if len(kinds) != 1 or len(acts) > 1:
        raise ValueError("a stack must use one kind of layer (and one activation) throughout")
    kind = kinds.pop()
    if acts:
        options.setdefault("nonlinearity", acts.pop())
    return from_keras_weights(weights, kind, **options)
