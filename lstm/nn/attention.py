"""Attention over a set of keys (encoder outputs), with hand-written backward: Luong dot/general, Bahdanau additive.

Shapes: B batch, Tq queries per sequence (decoder steps), Tk keys per sequence (source steps), Dq query width,
Dk key width, A the additive layer's hidden width.  The keys are also the values (as in both papers)::

    s_{qk}  = score(q, k)                                   (B, Tq, Tk)
    a_{q·}  = softmax over the *valid* keys of s_{q·}        (B, Tq, Tk)   exactly 0 at padded keys
    c_q     = Σ_k a_{qk} k                                   (B, Tq, Dk)   the context vector

Scores:

    dot       (Luong 2015)     s = q · k                                      needs Dq == Dk, no parameters
    general   (Luong 2015)     s = q · (k Wᵀ)            weight W (Dq, Dk)
    additive  (Bahdanau 2015)  s = v · tanh(q W_qᵀ + k W_kᵀ + b)
                                                         weight_query (A, Dq), weight_key (A, Dk), bias (A,), v (A,)

Backward, with δc = ∂L/∂c (and optionally δa = ∂L/∂a, e.g. from a penalty on the weights)::

    δa  = δc kᵀ (+ δa)                                       (B, Tq, Tk)
    δk  = aᵀ δc                                              (B, Tk, Dk)   (the value path)
    δs  = a ⊙ (δa − Σ_k a δa)                                 softmax Jacobian; 0 at padded keys since a = 0 there
    dot:      δq = δs k;              δk += δsᵀ q
    general:  δq = δs (k Wᵀ);         δ(kWᵀ) = δsᵀ q;   δW = Σ δ(kWᵀ)ᵀ k;   δk += δ(kWᵀ) W
    additive: u = tanh(·) (B, Tq, Tk, A);  δv = Σ δs u;   δz = δs v (1 − u²);
              δq = (Σ_k δz) W_q;  δk += (Σ_q δz) W_k;  δW_q = Σ (Σ_k δz)ᵀ q;  δW_k = Σ (Σ_q δz)ᵀ k;  δb = Σ δz

Contract::

    context, weights = attn(query, keys, mask=None)     # query (B, Tq, Dq), keys (B, Tk, Dk), mask (B, Tk) 1 = real
    dquery, dkeys = attn.backward(dcontext, dweights=None)   # overwrites attn.grads (accumulate=True adds)

For step-by-step decoding, ``attn.project_keys(keys)`` once and pass ``projected=`` to every call (no backward then).
"""

from __future__ import annotations

import math

import numpy as np

from .._values import whole
from .checks import NOT_KEPT, as_float_array, kept_for_backward, take_kept
from .module import Module, resolve_dtype, resolve_rng, write_grad

__all__ = ["Attention", "LuongAttention", "BahdanauAttention", "masked_softmax", "make_attention"]


def masked_softmax(scores: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Softmax over the last axis, restricted to ``mask`` (B, Tk) positions; exactly 0 elsewhere.

    scores (B, Tq, Tk) → weights (B, Tq, Tk), each row summing to 1 over the valid keys.
    """
    if mask is not None:
        scores = np.where(mask[:, None, :], scores, -np.inf)
    m = scores.max(axis=-1, keepdims=True)                 # (B, Tq, 1), finite: every row has a valid key
    e = np.exp(scores - m)                                 # exp(-inf) = 0 at padded keys
    return e / e.sum(axis=-1, keepdims=True)


class Attention(Module):
    """Base class: masking, softmax, context and their backward; subclasses supply the score and its backward."""

    kind = ""

    def __init__(self, query_size: int, key_size: int, *, dtype=np.float32) -> None:
        super().__init__()
        for name, value in (("query_size", query_size), ("key_size", key_size)):
            if not whole(value):
                raise ValueError(f"{type(self).__name__}: {name} must be a positive int, got {value!r}")
        self.query_size, self.key_size = int(query_size), int(key_size)
        self.dtype = resolve_dtype(dtype)
        self._cache = None

    # -- subclass hooks ----------------------------------------------------------------------------------------
    def project_keys(self, keys: np.ndarray):
        """What the score needs from the keys, computed once per source (identity for dot)."""
        return keys

    def _projected_width(self) -> int:
        """Last axis of :meth:`project_keys`' result."""
        return self.key_size

    def _scores(self, query, keys, projected):
        raise NotImplementedError

    def _score_backward(self, ds, query, keys, projected, extra, accumulate):
        """Return (δquery, δkeys through the score) and write parameter gradients."""
        raise NotImplementedError

    # -- checks ------------------------------------------------------------------------------------------------
    def _check(self, query, keys, mask):
        name = type(self).__name__
        query = as_float_array(query, self.dtype, f"{name} query")
        keys = as_float_array(keys, self.dtype, f"{name} keys")
        if query.ndim != 3 or query.shape[-1] != self.query_size:
            raise ValueError(f"{name}: query must have shape (B, Tq, {self.query_size}), got {query.shape}")
        if keys.ndim != 3 or keys.shape[-1] != self.key_size or keys.shape[0] != query.shape[0]:
            raise ValueError(f"{name}: keys must have shape ({query.shape[0]}, Tk, {self.key_size}) to match the "
                             f"query's batch, got {keys.shape}")
        if keys.shape[1] == 0:
            raise ValueError(f"{name}: keys must hold at least one position, got shape {keys.shape}")
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != keys.shape[:2]:
                raise ValueError(f"{name}: mask must have shape (B, Tk) = {keys.shape[:2]}, got {mask.shape}")
            if mask.dtype != np.bool_:
                if not np.all((mask == 0) | (mask == 1)):
                    raise ValueError(f"{name}: mask must hold only 0/1 (or bool), 1 marking real key positions")
                mask = mask != 0
            if not mask.any(axis=1).all():
                bad = int(np.flatnonzero(~mask.any(axis=1))[0])
                raise ValueError(f"{name}: sequence {bad} has no valid key position in mask; every source needs "
                                 "at least one real step")
        return query, keys, mask

    # -- forward / backward ------------------------------------------------------------------------------------
    def __call__(self, query, keys, mask=None, *, projected=None):
        """context (B, Tq, Dk), weights (B, Tq, Tk) for queries against keys (padded keys excluded by ``mask``)."""
        given = (query, keys, keys if projected is None else projected, mask)   # dot attention's projection is keys
        query, keys, mask = self._check(query, keys, mask)
        if projected is None:
            projected = self.project_keys(keys)
        else:
            projected = as_float_array(projected, self.dtype, "projected keys")
            expected = keys.shape[:2] + (self._projected_width(),)
            if projected.shape != expected:
                raise ValueError(f"{type(self).__name__}: projected keys must have shape {expected} for these keys, "
                                 f"got {projected.shape}; pass projected=attn.project_keys(keys) of the same keys")
        s, extra = self._scores(query, keys, projected)      # (B, Tq, Tk)
        a = masked_softmax(s, mask).astype(self.dtype, copy=False)
        context = a @ keys                                   # (B, Tq, Dk)
        kept = [kept_for_backward(arr, mine) for arr, mine in zip((query, keys, projected, mask), given)]
        self._cache = kept[0] if kept[0] is NOT_KEPT else (*kept, a, extra)
        return context, a.copy()                             # the caller's to change: backward reads its own

    forward = __call__

    def backward(self, dcontext, dweights=None, accumulate: bool = False):
        """(δquery, δkeys) from δcontext (B, Tq, Dk) and optionally δweights (B, Tq, Tk); writes ``grads``."""
        query, keys, projected, mask, a, extra = take_kept(self._cache, type(self).__name__, "attn(query, keys)")
        dcontext = as_float_array(dcontext, self.dtype, "dcontext")
        if dcontext.shape != a.shape[:2] + (self.key_size,):
            raise ValueError(f"dcontext must have the context's shape {a.shape[:2] + (self.key_size,)}, "
                             f"got {dcontext.shape}")
        da = dcontext @ keys.transpose(0, 2, 1)              # (B, Tq, Tk)
        if dweights is not None:
            dweights = as_float_array(dweights, self.dtype, "dweights")
            if dweights.shape != a.shape:
                raise ValueError(f"dweights must have the weights' shape {a.shape}, got {dweights.shape}")
            da = da + dweights
        dkeys = a.transpose(0, 2, 1) @ dcontext              # (B, Tk, Dk) value path
        ds = a * (da - np.sum(a * da, axis=-1, keepdims=True))   # (B, Tq, Tk), 0 where a = 0
        dquery, dkeys_score = self._score_backward(ds, query, keys, projected, extra, accumulate)
        return dquery, dkeys + dkeys_score

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}, dtype={self.dtype.name}"


class LuongAttention(Attention):
    """Luong et al. (2015) multiplicative attention: ``score="dot"`` (q · k) or ``"general"`` (q · k Wᵀ)."""

    def __init__(self, query_size: int, key_size: int, score: str = "general", *, dtype=np.float32,
                 seed=None) -> None:
        super().__init__(query_size, key_size, dtype=dtype)
        if score not in ("dot", "general"):
            raise ValueError(f"LuongAttention: score must be 'dot' or 'general', got {score!r}")
        if score == "dot" and self.query_size != self.key_size:
            raise ValueError(f"LuongAttention(score='dot') needs query_size == key_size, got {query_size} and "
                             f"{key_size}; use score='general' to learn a projection")
        self.score, self.kind = score, score
        if score == "general":
            rng = resolve_rng(seed)
            bound = 1.0 / math.sqrt(self.key_size)
            self.register_parameter("weight", rng.uniform(-bound, bound, (self.query_size, self.key_size))
                                    .astype(self.dtype))

    def _projected_width(self):
        return self.key_size if self.score == "dot" else self.query_size

    def project_keys(self, keys):
        if self.score == "dot":
            return keys
        return keys @ self._params["weight"].T               # (B, Tk, Dq)

    def _scores(self, query, keys, projected):
        return query @ projected.transpose(0, 2, 1), None    # (B, Tq, Tk)

    def _score_backward(self, ds, query, keys, projected, extra, accumulate):
        dquery = ds @ projected                              # (B, Tq, Dq)
        dproj = ds.transpose(0, 2, 1) @ query                # (B, Tk, Dq)
        if self.score == "dot":
            return dquery, dproj
        W = self._params["weight"]
        write_grad(self._grads["weight"], dproj.reshape(-1, self.query_size).T @ keys.reshape(-1, self.key_size),
                   accumulate)                               # (Dq, Dk)
        return dquery, dproj @ W                             # (B, Tk, Dk)

    def extra_repr(self):
        return super().extra_repr() + f", score={self.score!r}"


class BahdanauAttention(Attention):
    """Bahdanau et al. (2015) additive ("concat") attention: s = v · tanh(q W_qᵀ + k W_kᵀ + b).

    All queries are scored at once, which builds a (B, Tq, Tk, A) tensor: fine for sentence-length inputs.
    """

    kind = "additive"

    def __init__(self, query_size: int, key_size: int, attention_size: int | None = None, *, dtype=np.float32,
                 seed=None) -> None:
        super().__init__(query_size, key_size, dtype=dtype)
        A = self.query_size if attention_size is None else attention_size
        if not whole(A):
            raise ValueError(f"BahdanauAttention: attention_size must be a positive int, got {attention_size!r}")
        self.attention_size = int(A)
        rng = resolve_rng(seed)
        bq, bk, bv = (1.0 / math.sqrt(n) for n in (self.query_size, self.key_size, self.attention_size))
        self.register_parameter("weight_query", rng.uniform(-bq, bq, (A, self.query_size)).astype(self.dtype))
        self.register_parameter("weight_key", rng.uniform(-bk, bk, (A, self.key_size)).astype(self.dtype))
        self.register_parameter("bias", rng.uniform(-bk, bk, (A,)).astype(self.dtype))
        self.register_parameter("v", rng.uniform(-bv, bv, (A,)).astype(self.dtype))

    def _projected_width(self):
        return self.attention_size

    def project_keys(self, keys):
        return keys @ self._params["weight_key"].T + self._params["bias"]      # (B, Tk, A)

    def _scores(self, query, keys, projected):
        qp = query @ self._params["weight_query"].T                           # (B, Tq, A)
        u = np.tanh(qp[:, :, None, :] + projected[:, None, :, :])             # (B, Tq, Tk, A)
        return u @ self._params["v"], u                                       # (B, Tq, Tk)

    def _score_backward(self, ds, query, keys, projected, u, accumulate):
        p, g = self._params, self._grads
        A = self.attention_size
        write_grad(g["v"], np.einsum("bqk,bqka->a", ds, u), accumulate)        # (A,)
        dz = (ds[..., None] * p["v"]) * (1.0 - u * u)                          # (B, Tq, Tk, A)
        dqp = dz.sum(axis=2)                                                  # (B, Tq, A)
        dkp = dz.sum(axis=1)                                                  # (B, Tk, A)
        write_grad(g["bias"], dkp.sum(axis=(0, 1)), accumulate)
        write_grad(g["weight_query"], dqp.reshape(-1, A).T @ query.reshape(-1, self.query_size), accumulate)
        write_grad(g["weight_key"], dkp.reshape(-1, A).T @ keys.reshape(-1, self.key_size), accumulate)
        return dqp @ p["weight_query"], dkp @ p["weight_key"]

    def extra_repr(self):
        return super().extra_repr() + f", attention_size={self.attention_size}"


def make_attention(kind: str, query_size: int, key_size: int, *, dtype=np.float32, seed=None) -> Attention:
    """By name: 'dot', 'general' (= 'luong'), 'additive' (= 'bahdanau')."""
    if kind in ("luong", "general"):
        return LuongAttention(query_size, key_size, "general", dtype=dtype, seed=seed)
    if kind == "dot":
        return LuongAttention(query_size, key_size, "dot", dtype=dtype, seed=seed)
    if kind in ("bahdanau", "additive"):
        return BahdanauAttention(query_size, key_size, dtype=dtype, seed=seed)
    raise ValueError(f"attention must be one of 'luong', 'general', 'dot', 'bahdanau', 'additive', got {kind!r}")
