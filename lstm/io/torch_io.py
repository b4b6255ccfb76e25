"""Exact weight exchange with PyTorch: :func:`from_torch`, :func:`to_torch`, :func:`to_torch_state_dict`.

Our recurrent layers use PyTorch's parameter names, shapes and gate packing (i, f, g, o for the LSTM; r, z, n for
the GRU), so conversion is a copy, bit for bit, in either direction::

    weight_ih_l{k}[_reverse]  (G·H, I_k)     G = 4 (LSTM), 3 (GRU), 1 (RNN)
    weight_hh_l{k}[_reverse]  (G·H, H_out)   H_out = proj_size or H
    bias_ih_l{k}, bias_hh_l{k} (G·H,)
    weight_hr_l{k}            (proj_size, H) LSTM with a projection

What PyTorch cannot express is refused with a reason instead of approximated: LSTM peepholes and coupled input
and forget gates (``peephole=True``, ``coupled=True``; export those to ONNX, which has both).  Training-time
regularisers that PyTorch's layers lack (``variational_dropout``, ``weight_dropout``) do not change inference and
are not carried over.

The language model (:class:`lstm.models.LanguageModel`) maps to names ``emb.weight``, ``rnn.*``, ``head.weight``,
``head.bias``; :func:`to_torch` builds the matching ``torch.nn.Module`` (Embedding → LSTM → Dropout → Linear).
torch itself is needed only by :func:`to_torch` and to read tensors given to :func:`from_torch`.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from .._english import article
from ..nn import GRU, LSTM, RNN, Module
from ..nn.recurrent import _Recurrent
from ._optional import require

__all__ = ["from_torch", "to_torch", "to_torch_state_dict"]

_PARAM = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr|weight_peephole)_l(\d+)(_reverse)?$")
_FIND = re.compile(r"^(.*?)weight_ih_l0(?:_reverse)?$")
_GATES = {4: "LSTM", 3: "GRU", 1: "RNN"}
_CLASSES = {"LSTM": LSTM, "GRU": GRU, "RNN": RNN}
# torch's nn.RNNBase.mode -> (our kind, nonlinearity)
_TORCH_MODES = {"LSTM": ("LSTM", None), "GRU": ("GRU", None), "RNN": ("RNN", None),
                "RNN_TANH": ("RNN", "tanh"), "RNN_RELU": ("RNN", "relu")}


# ----------------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------------

def _as_numpy(value, name: str) -> np.ndarray:
    """A float32/float64 NumPy copy of a torch tensor or array-like (float16/bfloat16 widen to float32)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):            # a torch tensor, without importing torch
        t = value.detach().cpu()
        if str(t.dtype) in ("torch.float16", "torch.bfloat16"):
            t = t.float()
        value = t.numpy()
    arr = np.array(value, copy=True)
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    if arr.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name!r} must hold floating-point weights, got dtype {arr.dtype}")
    return arr


def _kind_of(kind) -> tuple[str, str | None]:
    """'LSTM' / 'GRU' / 'RNN' (also torch's 'RNN_TANH' / 'RNN_RELU', or our classes) -> (kind, nonlinearity)."""
    if isinstance(kind, type) and issubclass(kind, _Recurrent):
        kind = kind.__name__
    key = str(kind).upper()
    if key not in _TORCH_MODES:
        raise ValueError(f"kind must be 'LSTM', 'GRU' or 'RNN' (or 'RNN_TANH' / 'RNN_RELU'), got {kind!r}")
    return _TORCH_MODES[key]


def _check_torch_representable(layer) -> None:
    if isinstance(layer, LSTM) and (layer.peephole or layer.coupled):
        what = "peephole connections" if layer.peephole else "coupled input and forget gates"
        raise ValueError(
            f"torch.nn.LSTM has no {what}, so this {layer!r} cannot be expressed in PyTorch; "
            "export it with lstm.io.to_onnx instead (ONNX's LSTM has both)"
        )


def _language_net(obj):
    """The LanguageModelNet behind a LanguageModel estimator (or the net itself), else None."""
    from ..models.language_model import LanguageModelNet

    if isinstance(obj, LanguageModelNet):
        return obj
    net = getattr(obj, "net_", None)
    if isinstance(net, LanguageModelNet):
        return net
    if hasattr(obj, "_check_fitted") and not isinstance(obj, Module):
        obj._check_fitted()                                  # an unfitted estimator: say so
    return None


# ----------------------------------------------------------------------------------------------------------------
# from PyTorch
# ----------------------------------------------------------------------------------------------------------------

def _infer_config(params: dict[str, np.ndarray], kind, nonlinearity) -> dict:
    """Layer configuration from PyTorch-named recurrent weights (shapes tell everything but the nonlinearity)."""
    layers = sorted({int(m.group(2)) for k in params if (m := _PARAM.match(k)) and m.group(1) == "weight_ih"})
    if layers != list(range(len(layers))):
        raise ValueError(f"the recurrent weights skip a layer: found weight_ih for layers {layers}")
    W_ih = params["weight_ih_l0"]
    if W_ih.ndim != 2 or "weight_hh_l0" not in params or params["weight_hh_l0"].ndim != 2:
        raise ValueError(
            "weight_ih_l0 and weight_hh_l0 must both be present and 2-D (gates·hidden, width), got "
            f"{W_ih.shape} and {params['weight_hh_l0'].shape if 'weight_hh_l0' in params else 'nothing'}"
        )
    cfg = {"input_size": int(W_ih.shape[1]), "num_layers": len(layers), "bias": "bias_ih_l0" in params,
           "bidirectional": any(k.endswith("_reverse") for k in params), "proj_size": 0, "peephole": False}
    if "weight_hr_l0" in params:
        proj, hidden = params["weight_hr_l0"].shape
        cfg["proj_size"] = int(proj)
    else:
        hidden = params["weight_hh_l0"].shape[1]
    gates, rem = divmod(W_ih.shape[0], hidden) if hidden else (0, 0)
    if rem or gates not in _GATES:
        raise ValueError(
            f"weight_ih_l0 has {W_ih.shape[0]} rows, which is not 4, 3 or 1 times the hidden size {hidden}: "
            "these are not LSTM, GRU or RNN weights"
        )
    inferred = _GATES[gates]
    if kind is not None:
        given, given_nl = _kind_of(kind)
        if given != inferred:
            raise ValueError(f"kind={kind!r} was given, but weight_ih_l0 has {gates} × hidden rows: a {inferred}")
        if nonlinearity is not None and given_nl is not None and nonlinearity != given_nl:
            raise ValueError(f"kind={kind!r} and nonlinearity={nonlinearity!r} disagree; give one of them")
        nonlinearity = nonlinearity or given_nl
    if nonlinearity is not None and inferred != "RNN":
        raise ValueError(f"nonlinearity applies to RNN weights, and these are {article(inferred)} {inferred}'s (its "
                         "activations are fixed): leave nonlinearity out")
    if inferred != "LSTM" and (cfg["proj_size"] or any(k.startswith("weight_peephole") for k in params)):
        raise ValueError(f"weight_hr / weight_peephole belong to an LSTM, but these weights are a {inferred}")
    cfg["peephole"] = "weight_peephole_l0" in params
    cfg["hidden_size"] = int(hidden)
    cfg["kind"] = inferred
    cfg["nonlinearity"] = nonlinearity or "tanh"
    return cfg


def _select(state_dict, prefix: str | None) -> tuple[dict, str]:
    """The recurrent weights inside a (possibly larger) state dict, with ``prefix`` removed."""
    if not hasattr(state_dict, "items"):
        raise TypeError(
            f"from_torch expects a torch.nn.LSTM/GRU/RNN or a state dict, got {type(state_dict).__name__}"
        )
    keys = [str(k) for k in state_dict]
    if prefix is None:
        found = sorted({m.group(1) for k in keys if (m := _FIND.match(k))})
        if not found:
            shown = ", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "")
            raise ValueError(f"no recurrent weights in this state dict (expected names like 'weight_ih_l0'); "
                             f"it has: {shown or 'nothing'}")
        if len(found) > 1:
            raise ValueError(f"this state dict holds several recurrent layers (prefixes {found}); pass prefix=...")
        prefix = found[0]
    out = {}
    for key, value in state_dict.items():
        key = str(key)
        if key.startswith(prefix) and "." not in key[len(prefix):]:
            out[key[len(prefix):]] = _as_numpy(value, key)
    if "weight_ih_l0" not in out:
        raise ValueError(f"no '{prefix}weight_ih_l0' in this state dict; check prefix={prefix!r}")
    return out, prefix


def from_torch(source, *, kind=None, nonlinearity: str | None = None, batch_first: bool | None = None,
               dropout: float | None = None, prefix: str | None = None, dtype=None, **options):
    """An :class:`lstm.nn.LSTM` / ``GRU`` / ``RNN`` holding exactly the weights of ``source``.

    ``source`` is a ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` (every setting is read from it, and the layer is in
    training or eval mode as the module is), or a state dict of tensors or arrays.  From a state dict the shapes
    give the kind, sizes, layers, directions, bias and ``proj_size``; what they cannot tell is taken from the
    keywords: ``nonlinearity`` of an RNN (default 'tanh'), ``batch_first`` and ``dropout`` (default False and 0).
    A state dict of a larger model works too: the recurrent layer is found by its names (``prefix="rnn."`` picks
    one when there are several).

    ``dtype`` defaults to float64 when every weight is float64, else float32.  Other keywords (``seed``,
    ``backend``, ...) go to the layer's constructor.  Exact: the arrays are copied, not recomputed.
    """
    torch_cfg = {}
    if hasattr(source, "state_dict") and hasattr(source, "mode") and hasattr(source, "hidden_size"):
        mode = str(source.mode)
        if mode not in _TORCH_MODES or mode == "RNN":
            raise ValueError(f"unsupported torch recurrent mode {mode!r}")
        src_kind, src_nl = _TORCH_MODES[mode]
        if kind is not None and _kind_of(kind)[0] != src_kind:
            raise ValueError(f"kind={kind!r} was given, but the module is a torch {type(source).__name__}")
        kind, nonlinearity = src_kind, src_nl
        torch_cfg = {"batch_first": bool(source.batch_first), "dropout": float(source.dropout),
                     "training": bool(source.training)}
        params, _ = _select(source.state_dict(), "")
    elif isinstance(source, _Recurrent):
        raise TypeError("from_torch got an lstm layer already; use to_torch(layer) to go the other way")
    else:
        params, _ = _select(source, prefix)
    cfg = _infer_config(params, kind, nonlinearity)
    if dtype is None:
        dtype = np.float64 if all(a.dtype == np.float64 for a in params.values()) else np.float32
    bf = torch_cfg.get("batch_first", False) if batch_first is None else batch_first
    dp = torch_cfg.get("dropout", 0.0) if dropout is None else dropout
    common = dict(num_layers=cfg["num_layers"], bias=cfg["bias"], batch_first=bf, dropout=dp,
                  bidirectional=cfg["bidirectional"], dtype=dtype, **options)
    if cfg["kind"] == "LSTM":
        layer = LSTM(cfg["input_size"], cfg["hidden_size"], proj_size=cfg["proj_size"], peephole=cfg["peephole"],
                     **common)
    elif cfg["kind"] == "GRU":
        layer = GRU(cfg["input_size"], cfg["hidden_size"], **common)
    else:
        layer = RNN(cfg["input_size"], cfg["hidden_size"], nonlinearity=cfg["nonlinearity"], **common)
    layer.load_state_dict(params)   # names and shapes checked exactly; values copied
    return layer.train(torch_cfg.get("training", True))


# ----------------------------------------------------------------------------------------------------------------
# to PyTorch
# ----------------------------------------------------------------------------------------------------------------

def to_torch_state_dict(obj) -> dict[str, np.ndarray]:
    """PyTorch-named weights as NumPy arrays (copies); needs no torch.

    For a recurrent layer the keys are ``torch.nn.LSTM``'s own; for a :class:`~lstm.models.LanguageModel` (or its
    ``net_``) they are ``emb.weight``, ``rnn.*``, ``head.weight``, ``head.bias`` — with tied weights
    ``head.weight`` is a copy of ``emb.weight``, as PyTorch's ``state_dict`` of a tied model lists both.  Any
    other :class:`~lstm.nn.Module` (or estimator) gives its own ``state_dict``, whose names already follow
    PyTorch's conventions.
    """
    if isinstance(obj, _Recurrent):
        _check_torch_representable(obj)
        return obj.state_dict()
    net = _language_net(obj)
    if net is not None:
        out = {}
        for name, value in net.state_dict().items():
            if name == "head.bias" and net.tie_weights:
                out["head.weight"] = net.emb.weight.copy()       # torch lists a tied weight under both names
            out[name] = value
        return out
    module = obj._module() if hasattr(obj, "_module") else obj
    if not isinstance(module, Module):
        raise TypeError(f"to_torch_state_dict expects an lstm layer, module or estimator, got {type(obj).__name__}")
    for _, child in module.named_modules():
        if isinstance(child, _Recurrent):
            _check_torch_representable(child)
    return module.state_dict()


def _torch_dtype(torch, dtype):
    return torch.float64 if np.dtype(dtype) == np.float64 else torch.float32


def _load_into(module, arrays: dict[str, np.ndarray]) -> None:
    import torch

    module.load_state_dict({k: torch.from_numpy(np.array(v, copy=True)) for k, v in arrays.items()}, strict=True)


def _torch_recurrent(layer, torch):
    _check_torch_representable(layer)
    common = dict(num_layers=layer.num_layers, bias=layer.bias, batch_first=layer.batch_first,
                  dropout=layer.dropout, bidirectional=layer.bidirectional, dtype=_torch_dtype(torch, layer.dtype))
    if isinstance(layer, LSTM):
        mod = torch.nn.LSTM(layer.input_size, layer.hidden_size, proj_size=layer.proj_size, **common)
    elif isinstance(layer, GRU):
        mod = torch.nn.GRU(layer.input_size, layer.hidden_size, **common)
    else:
        mod = torch.nn.RNN(layer.input_size, layer.hidden_size, nonlinearity=layer.nonlinearity, **common)
    _load_into(mod, layer.state_dict())
    return mod.train(layer.training)


@lru_cache(maxsize=None)
def _torch_language_model_class():
    import torch

    class TorchLanguageModel(torch.nn.Module):
        """PyTorch twin of lstm's LanguageModelNet: ids (B, T) → logits (B, T, V), state."""

        def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers, dropout=0.0, tie_weights=False,
                     dtype=torch.float32):
            super().__init__()
            self.emb = torch.nn.Embedding(vocab_size, embedding_dim, dtype=dtype)
            self.rnn = torch.nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True,
                                     dropout=dropout if num_layers > 1 else 0.0, dtype=dtype)
            self.drop = torch.nn.Dropout(dropout)
            self.head = torch.nn.Linear(hidden_size, vocab_size, dtype=dtype)
            if tie_weights:
                self.head.weight = self.emb.weight

        def forward(self, ids, state=None):
            h, state = self.rnn(self.emb(ids), state)               # (B, T, H)
            return self.head(self.drop(h)), state                   # (B, T, V)

    return TorchLanguageModel


def builds_torch_module(obj) -> bool:
    """Whether :func:`to_torch` builds a module for ``obj`` (a recurrent layer or a language model); for any other
    model, :func:`to_torch_state_dict` gives its weights."""
    return isinstance(obj, _Recurrent) or _language_net(obj) is not None


def to_torch(obj):
    """A PyTorch module holding exactly these weights (needs ``pip install lstm[torch]``).

    A recurrent layer gives a ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` with the same settings (and float64 weights
    for a float64 layer); a :class:`~lstm.models.LanguageModel` (or its ``net_``) gives a module with children
    ``emb``, ``rnn``, ``drop``, ``head`` whose ``forward(ids, state=None)`` returns ``(logits, state)`` as ours
    does.  The module is in training or eval mode as ``obj`` is.  For weights without torch, see
    :func:`to_torch_state_dict`.
    """
    torch = require("torch", "lstm.io.to_torch")
    if isinstance(obj, _Recurrent):
        return _torch_recurrent(obj, torch)
    net = _language_net(obj)
    if net is None:
        raise TypeError(
            f"to_torch builds modules for LSTM/GRU/RNN layers and LanguageModel, not {type(obj).__name__}; "
            "lstm.io.to_torch_state_dict(obj) gives its weights with PyTorch names"
        )
    cls = _torch_language_model_class()
    mod = cls(net.emb.num_embeddings, net.emb.embedding_dim, net.rnn.hidden_size, net.rnn.num_layers,
              net.rnn.dropout, net.tie_weights, dtype=_torch_dtype(torch, net.rnn.dtype))
    mod.drop.p = net.drop.p
    sd = to_torch_state_dict(net)
    _load_into(mod, sd)
    return mod.train(net.training)
