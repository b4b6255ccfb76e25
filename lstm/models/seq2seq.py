"""Encoder–decoder LSTMs (Sutskever, Vinyals & Le 2014) with optional attention (Luong 2015 / Bahdanau 2015).

Shapes: B batch, Ts source steps, Tt target steps, E embedding width, H hidden width, L layers, V target vocab::

    encoder   k_s     = BiLSTM(E_src[x_s])                      (B, Ts, H)   H/2 per direction when bidirectional
    bridge    (h0, c0)_l = [fwd_l ; bwd_l]                      (L, B, H)    the two directions' final states,
                                                                              concatenated (no parameters)
    decoder   h_t     = LSTM(E_tgt[y_{t-1}], (h0, c0))          (B, Tt, H)   y_0 = <s>; teacher forcing in training
    attention c_t     = Σ_s a_ts k_s,  a_t = softmax_valid(score(h_t, k))          (Luong's "global attention")
              h̃_t     = tanh(W_c [c_t ; h_t] + b_c)             (B, Tt, H)   (without attention h̃_t = h_t)
    output    z_t     = W_o h̃_t + b_o                           (B, Tt, V)
    loss      L       = mean over real target tokens of −log softmax(z_t)[y_t]      (y ends with </s>)

The decoder LSTM runs over the whole target in one call and attention is applied on top of all its outputs at
once (no input feeding), so training costs two sequence calls per batch, not one Python step per token.  The
attention score is Luong's ``general`` (default, "luong"), ``dot``, or Bahdanau's additive ``v·tanh(W_q h + W_k k)``
("bahdanau"), all in :mod:`lstm.nn.attention`.  Padded source steps are excluded from the softmax; padded
target steps are ignored by the loss.  Decoding: :mod:`lstm.models.seq2seq_search`.

Vocabularies are :class:`lstm.data.text.Vocabulary` per side (characters or words) with special tokens
``<unk>`` = 0, ``<pad>`` = 1, ``<s>`` = 2, ``</s>`` = 3.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._values import real, whole
from ..data.text import UNK, Vocabulary, tokenize
from ..io.model_file import register
from ..nn import LSTM, Embedding, Linear, Module, cross_entropy, linear_cross_entropy, no_grad
from ..nn.module import write_grad
from ..nn.attention import make_attention
from .estimator import Estimator
from .seq2seq_search import beam_search, greedy_search

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
PAD_ID, BOS_ID, EOS_ID = 1, 2, 3
ATTENTION_KINDS = ("luong", "dot", "bahdanau", "none")

__all__ = ["Seq2Seq", "Seq2SeqNet", "build_vocabulary", "PAD", "BOS", "EOS"]


def build_vocabulary(texts, level: str) -> Vocabulary:
    """<unk>, <pad>, <s>, </s>, then every token of ``texts`` (sorted, so the ids do not depend on order)."""
    seen = set()
    for text in texts:
        seen.update(tokenize(text, level))
    return Vocabulary([UNK, PAD, BOS, EOS] + sorted(seen - {UNK, PAD, BOS, EOS}), level)


def pad_batch(seqs, *, prefix: int | None = None, suffix: int | None = None):
    """Id sequences → (ids (B, T) padded with <pad>, lengths (B,)), optionally with a token before/after each."""
    extra = (prefix is not None) + (suffix is not None)
    lengths = np.array([len(s) + extra for s in seqs], dtype=np.int64)
    ids = np.full((len(seqs), int(lengths.max())), PAD_ID, dtype=np.int64)
    for i, s in enumerate(seqs):
        row = list(s)
        if prefix is not None:
            row = [prefix] + row
        if suffix is not None:
            row = row + [suffix]
        ids[i, :len(row)] = row
    return ids, lengths


@dataclass
class Memory:
    """What every decoder step reads: encoder outputs (keys), their projection for the score, the valid mask."""

    keys: np.ndarray            # (N, Ts, H)
    projected: np.ndarray | None
    mask: np.ndarray            # (N, Ts) bool

    def take(self, rows) -> "Memory":
        return Memory(self.keys[rows], None if self.projected is None else self.projected[rows], self.mask[rows])


class Seq2SeqNet(Module):
    """The network of the module docstring, with a hand-written backward through all of it."""

    def __init__(self, source_vocab_size, target_vocab_size, embedding_dim=64, hidden_size=128, num_layers=1,
                 bidirectional=True, attention="luong", seed=None, dtype=np.float32):
        super().__init__()
        if attention not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {attention!r}")
        if bidirectional and hidden_size % 2:
            raise ValueError(f"a bidirectional encoder needs an even hidden_size (H/2 per direction), got "
                             f"{hidden_size}")
        rng = np.random.default_rng(seed)
        H, E = int(hidden_size), int(embedding_dim)
        self.hidden_size, self.num_layers, self.bidirectional = H, int(num_layers), bool(bidirectional)
        self.attention_kind = attention
        self.dtype = np.dtype(dtype)
        D = 2 if bidirectional else 1
        self.src_emb = Embedding(source_vocab_size, E, padding_idx=PAD_ID, seed=rng, dtype=dtype)
        self.encoder = LSTM(E, H // D, num_layers, batch_first=True, bidirectional=bidirectional, seed=rng,
                            dtype=dtype)
        self.tgt_emb = Embedding(target_vocab_size, E, padding_idx=PAD_ID, seed=rng, dtype=dtype)
        self.decoder = LSTM(E, H, num_layers, batch_first=True, seed=rng, dtype=dtype)
        if attention != "none":
            self.attn = make_attention(attention, H, H, seed=rng, dtype=dtype)
            self.combine = Linear(2 * H, H, seed=rng, dtype=dtype)
        self.out = Linear(H, target_vocab_size, seed=rng, dtype=dtype)
        self._cache = None

    @property
    def has_attention(self) -> bool:
        return self.attention_kind != "none"

    # -- bridge: encoder final states (L·D, B, H/D) ↔ decoder initial states (L, B, H) -------------------------
    def _bridge(self, s: np.ndarray) -> np.ndarray:
        L, D = self.num_layers, 2 if self.bidirectional else 1
        B, Hd = s.shape[1], s.shape[2]
        return s.reshape(L, D, B, Hd).transpose(0, 2, 1, 3).reshape(L, B, D * Hd)

    def _unbridge(self, ds: np.ndarray) -> np.ndarray:
        L, D = self.num_layers, 2 if self.bidirectional else 1
        B = ds.shape[1]
        return ds.reshape(L, B, D, -1).transpose(0, 2, 1, 3).reshape(L * D, B, -1)

    # -- encoder -----------------------------------------------------------------------------------------------
    def start(self, src, src_len):
        """Encode: src (N, Ts) ids, src_len (N,) → Memory, decoder initial state (h0, c0) each (L, N, H)."""
        keys, (h, c) = self.src_emb.feed(self.encoder, src, lengths=src_len)     # (N, Ts, H)
        mask = np.arange(src.shape[1])[None, :] < np.asarray(src_len)[:, None]   # (N, Ts)
        projected = self.attn.project_keys(keys) if self.has_attention else None
        return Memory(keys, projected, mask), (self._bridge(h), self._bridge(c))

    def _attend(self, hdec, memory: Memory, projected=None):
        """h (N, T, H) → h̃ (N, T, H), weights (N, T, Ts)."""
        ctx, a = self.attn(hdec, memory.keys, memory.mask, projected=projected)   # (N, T, H), (N, T, Ts)
        ht = np.tanh(self.combine(np.concatenate([ctx, hdec], axis=-1)))          # (N, T, H)
        return ht, a

    def step(self, tokens, state, memory: Memory):
        """One decoder step for N rows: tokens (N,) → logits (N, V), new state, attention weights (N, Ts) or None."""
        y, state = self.decoder(self.tgt_emb(tokens[:, None]), state)             # (N, 1, H)
        a = None
        if self.has_attention:
            y, a = self._attend(y, memory, memory.projected)
            a = a[:, 0]
        return self.out(y)[:, 0], state, a

    # -- teacher forcing ---------------------------------------------------------------------------------------
    def forward(self, src, src_len, tgt_in, tgt_len):
        """Logits (B, Tt, V) for targets fed one step behind (tgt_in starts with <s>), and the attention weights."""
        ht, a = self._features(src, src_len, tgt_in, tgt_len)
        return self.out(ht), a

    def _features(self, src, src_len, tgt_in, tgt_len):
        """The output layer's input (B, Tt, H) under teacher forcing, and the attention weights."""
        memory, state = self.start(src, src_len)
        hdec, _ = self.tgt_emb.feed(self.decoder, tgt_in, state, tgt_len)        # (B, Tt, H)
        a = None
        ht = hdec
        if self.has_attention:
            ht, a = self._attend(hdec, Memory(memory.keys, None, memory.mask))
        self._cache = (ht, memory.keys.shape)
        return ht, a

    def backward(self, dlogits) -> None:
        """Fill ``grads`` from ∂L/∂logits (B, Tt, V), through output, attention, decoder, bridge and encoder."""
        self._features_backward(self.out.backward(dlogits))

    def _features_backward(self, dht) -> None:
        """Fill the grads of everything below the output layer from ∂L/∂h̃ (B, Tt, H)."""
        ht, key_shape = self._cache
        H = self.hidden_size
        if self.has_attention:
            dz = dht * (1.0 - ht * ht)                                            # tanh'
            dcat = self.combine.backward(dz)                                      # (B, Tt, 2H)
            dq, dkeys = self.attn.backward(dcat[..., :H])
            dh = dcat[..., H:] + dq
        else:
            dh, dkeys = dht, np.zeros(key_shape, self.dtype)
        demb, (dh0, dc0) = self.decoder.backward(dh)
        self.tgt_emb.feed_backward(demb)
        dsrc, _ = self.encoder.backward(dkeys, (self._unbridge(dh0), self._unbridge(dc0)))
        self.src_emb.feed_backward(dsrc)

    def loss(self, src, src_len, tgt_in, tgt_out, tgt_len) -> float:
        """Forward + backward on one batch; returns the mean nats per target token (</s> included).  The output
        layer and the loss are one :func:`lstm.nn.linear_cross_entropy`."""
        ht, _ = self._features(src, src_len, tgt_in, tgt_len)
        loss, dht, dW, db = linear_cross_entropy(ht, self.out.weight, self.out.bias, tgt_out, ignore_index=PAD_ID)
        write_grad(self.out._grads["weight"], dW, False)
        write_grad(self.out._grads["bias"], db, False)
        self._features_backward(dht)
        return loss


@register
class Seq2Seq(Estimator):
    """Encoder–decoder LSTM for pairs of sequences: ``fit(pairs)``, ``translate(texts, beam=1)``.

    ``source_level`` / ``target_level``: "char" or "word" vocabularies.  ``attention``: "luong" (general score),
    "dot", "bahdanau" (additive) or "none".  ``max_len``: the most tokens a side may have (longer pairs are
    refused at fit and at translate time).  Trained with Adam on shuffled batches; ``val_fraction`` of the pairs
    is held out for validation loss (the best weights are kept).
    """

    def __init__(self, source_level="char", target_level="char", attention="luong", bidirectional=True,
                 hidden_size=128, num_layers=1, embedding_dim=64, batch_size=64, lr=3e-3, steps=2000, minutes=None,
                 clip_norm=5.0, val_fraction=0.05, eval_every=250, max_len=200, seed=0):
        self.source_level, self.target_level, self.attention = source_level, target_level, attention
        self.bidirectional, self.hidden_size, self.num_layers = bidirectional, hidden_size, num_layers
        self.embedding_dim, self.batch_size, self.lr, self.steps, self.minutes = (embedding_dim, batch_size, lr,
                                                                                  steps, minutes)
        self.clip_norm, self.val_fraction, self.eval_every = clip_norm, val_fraction, eval_every
        self.max_len, self.seed = max_len, seed

    # -- building ----------------------------------------------------------------------------------------------
    def _build(self, source_vocab: Vocabulary, target_vocab: Vocabulary, max_decode: int) -> None:
        self.source_vocab_, self.target_vocab_, self.max_decode_ = source_vocab, target_vocab, int(max_decode)
        self.net_ = Seq2SeqNet(len(source_vocab), len(target_vocab), self.embedding_dim, self.hidden_size,
                               self.num_layers, self.bidirectional, self.attention, seed=self.seed)

    def _check_params(self) -> None:
        for name in ("source_level", "target_level"):
            if getattr(self, name) not in ("char", "word"):
                raise ValueError(f"{name} must be 'char' or 'word', got {getattr(self, name)!r}")
        if self.attention not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {', '.join(ATTENTION_KINDS)}, got {self.attention!r}")
        for name in ("hidden_size", "num_layers", "embedding_dim", "batch_size", "max_len", "eval_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.bidirectional, (bool, np.bool_)):
            raise TypeError(f"bidirectional must be True or False, got {self.bidirectional!r}")
        if not whole(self.seed, 0):
            raise ValueError(f"seed must be a whole number >= 0, got {self.seed!r}")
        if self.bidirectional and self.hidden_size % 2:
            raise ValueError(f"bidirectional=True needs an even hidden_size, got {self.hidden_size}")
        if self.steps is None and self.minutes is None:
            raise ValueError("give a training budget: steps and/or minutes")
        if not (real(self.val_fraction) and 0 <= self.val_fraction < 1):
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")

    def _encode_pairs(self, pairs):
        """(source ids, target ids) lists for checked pairs of strings (unseen tokens become <unk>)."""
        return ([self.source_vocab_.encode(s) for s, _ in pairs], [self.target_vocab_.encode(t) for _, t in pairs])

    @staticmethod
    def _pair_list(pairs, what: str = "pair") -> list[tuple[str, str]]:
        """``pairs`` as a list, each checked to be a (source, target) pair of strings (either side may be empty)."""
        if isinstance(pairs, (str, bytes)) or not hasattr(pairs, "__iter__"):
            raise TypeError(f"{what}s must be a list of (source, target) strings, got {type(pairs).__name__}")
        pairs = list(pairs)
        for i, pair in enumerate(pairs):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(s, str) for s in pair)):
                raise TypeError(f"{what} {i} must be a (source, target) pair of strings, got {pair!r:.60}")
        return pairs

    @staticmethod
    def _check_pairs(pairs, max_len: int, levels, what: str = "pair") -> list[tuple[str, str]]:
        pairs = Seq2Seq._pair_list(pairs, what)
        if not pairs:
            raise ValueError(f"fit needs at least one (source, target) {what}")
        for i, pair in enumerate(pairs):
            for side, text, level in (("source", pair[0], levels[0]), ("target", pair[1], levels[1])):
                n = len(tokenize(text, level))
                if n == 0:
                    raise ValueError(f"{what} {i}: the {side} side is empty ({text!r}); every pair needs text on both "
                                     "sides")
                if n > max_len:
                    raise ValueError(f"{what} {i}: the {side} side has {n} {level}s, more than max_len={max_len}; "
                                     "shorten or split it, or raise max_len")
        return pairs

    # -- fitting -----------------------------------------------------------------------------------------------
    def fit(self, pairs, *, validation=None, out_dir=None, resume: bool = False, callbacks=(), progress=True):
        """Learn vocabularies and weights from (source, target) string pairs; returns self.

        ``validation``: pairs for the validation loss (default: ``val_fraction`` of ``pairs``, chosen by seed;
        ``[]``: none).
        """
        from ..data.batching import ShuffledBatches
        from ..optim import Adam
        from ..train import Trainer

        self._check_params()
        levels = (self.source_level, self.target_level)
        pairs = self._check_pairs(pairs, self.max_len, levels)
        if validation is None and self.val_fraction > 0 and len(pairs) >= 20:
            order = np.random.default_rng([int(self.seed), 7]).permutation(len(pairs))
            n_val = max(1, int(len(pairs) * self.val_fraction))
            validation = [pairs[i] for i in order[:n_val]]
            pairs = [pairs[i] for i in np.sort(order[n_val:])]
        elif validation is not None:
            validation = self._pair_list(validation, "validation pair")
            if validation:                        # [] = hold nothing out
                validation = self._check_pairs(validation, self.max_len, levels, "validation pair")
        longest = max(len(tokenize(t, self.target_level)) for _, t in pairs)
        self._build(build_vocabulary((s for s, _ in pairs), self.source_level),
                    build_vocabulary((t for _, t in pairs), self.target_level),
                    min(self.max_len, 2 * longest + 10) + 1)
        src, tgt = self._encode_pairs(pairs)
        self.n_train_pairs_, self.validation_ = len(src), list(validation or [])
        net = self.net_

        def batch(idx, s_ids, t_ids):
            s, s_len = pad_batch([s_ids[i] for i in idx])
            t_in, t_len = pad_batch([t_ids[i] for i in idx], prefix=BOS_ID)
            t_out, _ = pad_batch([t_ids[i] for i in idx], suffix=EOS_ID)
            return s, s_len, t_in, t_out, t_len

        order = ShuffledBatches(len(src), self.batch_size, seed=self.seed)

        def train_step(idx, carry):
            return net.loss(*batch(idx, src, tgt)), None

        evaluate = None
        if validation:
            v_src, v_tgt = self._encode_pairs(validation)
            v_batches = [batch(range(i, min(i + 256, len(v_src))), v_src, v_tgt) for i in range(0, len(v_src), 256)]

            def evaluate():
                total = count = 0.0
                for s, s_len, t_in, t_out, t_len in v_batches:
                    logits, _ = net.forward(s, s_len, t_in, t_len)
                    n = float(t_len.sum())
                    total += cross_entropy(logits, t_out, ignore_index=PAD_ID)[0] * n
                    count += n
                return total / count
        trainer = Trainer(net, Adam(net, lr=self.lr), train_step, order, steps=self.steps, minutes=self.minutes,
                          evaluate=evaluate, eval_every=self.eval_every, clip_norm=self.clip_norm, out_dir=out_dir,
                          callbacks=callbacks, progress=progress, items_per_step=order.batch_size,
                          val_format="val {:.4f} nats",
                          run_key={"source_vocabulary": self.source_vocab_.describe(),
                                   "target_vocabulary": self.target_vocab_.describe(),
                                   "batch_size": order.batch_size, "lr": self.lr})
        t0 = time.perf_counter()
        result = trainer.fit(resume=resume)
        self.fit_seconds_ = time.perf_counter() - t0
        self.history_, self.train_result_ = result.history, result
        return self

    # -- using -------------------------------------------------------------------------------------------------
    @staticmethod
    def _texts(texts, one: str = "") -> list:
        """``texts`` (a list of strings) as a list; a lone string or something not iterable is refused."""
        if isinstance(texts, (str, bytes)) or not hasattr(texts, "__iter__"):
            raise TypeError(f"texts must be {one}a list of strings, got {type(texts).__name__}; decode bytes "
                            "first, e.g. data.decode('utf-8')")
        return list(texts)

    def _encode_sources(self, texts, errors: str = "strict") -> list[np.ndarray]:
        max_len = self.fitted_params()["max_len"]       # as fitted (set_params changes only the next fit)
        out = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"input {i} must be a string, got {type(text).__name__}")
            toks = self.source_vocab_.tokenize(text)
            if not toks:
                raise ValueError(f"input {i} is empty; give some text to translate")
            if len(toks) > max_len:
                raise ValueError(f"input {i} has {len(toks)} {self.source_vocab_.level}s, more than max_len={max_len}; "
                                 "shorten or split it")
            if errors == "strict":
                missing = self.source_vocab_.unknown(text)
                if missing:
                    shown = ", ".join(repr(t) for t in missing[:10]) + (" …" if len(missing) > 10 else "")
                    n, them = len(missing), "them" if len(missing) > 1 else "it"
                    level = self.source_vocab_.level
                    raise ValueError(f"input {i} holds {n} {level}{'s' if n > 1 else ''} the model never "
                                     f"saw: {shown}; remove {them} or train on pairs that have {them}")
            out.append(self.source_vocab_.encode(text))
        return out

    def search(self, texts, beam: int = 1, length_penalty: float = 0.0, *, batch_size: int = 256,
               errors: str = "strict", keep_greedy: bool = True, use_beam_search: bool = False):
        """Hypotheses (tokens, log-probability, score, attention weights) for each text; see seq2seq_search.

        ``beam=1`` runs greedy search unless ``use_beam_search`` (beam search of width 1: the same result, for
        checking); ``keep_greedy=False`` gives plain beam search, which can rarely score below greedy.
        """
        self._check_fitted()
        texts = self._texts(texts)
        if isinstance(beam, bool) or not isinstance(beam, (int, np.integer)) or beam < 1:
            raise ValueError(f"beam must be a positive integer, got {beam!r}")
        if not whole(batch_size):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not (isinstance(length_penalty, (int, float)) and 0 <= length_penalty <= 10):
            raise ValueError(f"length_penalty must be a number in [0, 10] (0 = plain log-probability), got "
                             f"{length_penalty!r}")
        if errors not in ("strict", "replace"):
            raise ValueError(f"errors must be 'strict' or 'replace', got {errors!r}")
        ids = self._encode_sources(texts, errors)
        net = self.net_
        was_training = net.training
        net.eval()
        out = []
        try:
            for i in range(0, len(ids), batch_size):
                src, src_len = pad_batch(ids[i:i + batch_size])
                kw = dict(bos=BOS_ID, eos=EOS_ID, max_len=self.max_decode_, alpha=float(length_penalty),
                          banned=(0, PAD_ID, BOS_ID))
                if beam == 1 and not use_beam_search:
                    out.extend(greedy_search(net, src, src_len, **kw))
                else:
                    out.extend(beam_search(net, src, src_len, beam=beam, keep_greedy=keep_greedy, **kw))
        finally:
            net.train(was_training)
        return out

    def _text(self, tokens) -> str:
        return self.target_vocab_.decode([t for t in tokens if t > EOS_ID])

    @no_grad()
    def translate(self, texts, beam: int = 1, length_penalty: float = 0.0, *, errors: str = "strict"):
        """Translations of ``texts`` (a string gives a string, a list a list).

        ``beam=1`` is greedy decoding; ``beam=K`` beam search ranked by log p / ((5 + n)/6)^length_penalty.
        Characters (or words) never seen in training are refused (``errors="replace"`` maps them to <unk>).
        """
        single = isinstance(texts, str)
        texts = [texts] if single else self._texts(texts, "one string or ")
        hyps = self.search(texts, beam, length_penalty, errors=errors)
        outs = [self._text(h.tokens) for h in hyps]
        return outs[0] if single else outs

    def attention_trace(self, text: str, beam: int = 1, length_penalty: float = 0.0) -> dict:
        """The attention trace of one translation — ``translate(text, beam, length_penalty)``: source tokens,
        target tokens (with </s>), weights (Tt, Ts)."""
        self._check_fitted()
        if not isinstance(text, str):
            raise TypeError(f"text must be one string, got {type(text).__name__}")
        if not self.net_.has_attention:
            raise ValueError("this model was trained with attention='none', so it has no attention weights")
        h = self.search([text], beam, length_penalty)[0]
        tv = self.target_vocab_
        return {"source": self.source_vocab_.tokenize(text), "target": [tv.tokens[t] for t in h.tokens],
                "weights": h.weights, "translation": self._text(h.tokens), "logp": h.logp}

    def log_prob(self, pairs, *, batch_size: int = 256, errors: str = "strict") -> np.ndarray:
        """log p(target + </s> | source) for each pair, by teacher forcing (float64).

        Tokens never seen in training are refused on either side (the model gives a target holding one no
        probability); ``errors="replace"`` reads them as <unk> instead."""
        self._check_fitted()
        pairs = self._pair_list(pairs)
        if not whole(batch_size):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if errors not in ("strict", "replace"):
            raise ValueError(f"errors must be 'strict' or 'replace', got {errors!r}")
        src = self._encode_sources([s for s, _ in pairs], errors)
        tgt = [self._encode_target(t, i, errors) for i, (_, t) in enumerate(pairs)]
        net = self.net_
        was_training = net.training
        net.eval()
        out = []
        try:
            for i in range(0, len(pairs), batch_size):
                s, s_len = pad_batch(src[i:i + batch_size])
                t_in, t_len = pad_batch(tgt[i:i + batch_size], prefix=BOS_ID)
                t_out, _ = pad_batch(tgt[i:i + batch_size], suffix=EOS_ID)
                logits, _ = net.forward(s, s_len, t_in, t_len)
                z = logits.astype(np.float64)
                z = z - z.max(-1, keepdims=True)
                lp = np.take_along_axis(z - np.log(np.exp(z).sum(-1, keepdims=True)), t_out[..., None], -1)[..., 0]
                real = np.arange(t_out.shape[1])[None, :] < t_len[:, None]
                out.extend((lp * real).sum(axis=1))
        finally:
            net.train(was_training)
        return np.array(out)

    def _encode_target(self, text: str, i: int, errors: str) -> np.ndarray:
        if errors == "strict":
            missing = self.target_vocab_.unknown(text)
            if missing:
                shown = ", ".join(repr(t) for t in missing[:10]) + (" …" if len(missing) > 10 else "")
                n, level, them = len(missing), self.target_vocab_.level, "them" if len(missing) > 1 else "it"
                raise ValueError(f"pair {i}: the target holds {n} {level}{'s' if n > 1 else ''} the model never "
                                 f"saw: {shown}; it cannot produce {them} (errors='replace' reads {them} as <unk>)")
        return self.target_vocab_.encode(text)

    @no_grad()
    def score(self, pairs, beam: int = 1, length_penalty: float = 0.0, *, errors: str = "strict") -> float:
        """Exact-match accuracy of ``translate`` on (source, target) pairs (``errors="replace"``: source tokens
        never seen in training read as <unk> instead of being refused — held-out words at word level)."""
        self._check_fitted()
        pairs = self._pair_list(pairs)
        if not pairs:
            raise ValueError("score needs at least one (source, target) pair")
        outs = self.translate([s for s, _ in pairs], beam, length_penalty, errors=errors)
        return float(np.mean([o == t for o, (_, t) in zip(outs, pairs)]))

    # -- persistence -------------------------------------------------------------------------------------------
    def _extra_config(self) -> dict:
        return {"source_vocab": self.source_vocab_.to_config(), "target_vocab": self.target_vocab_.to_config(),
                "max_decode": self.max_decode_}

    def _restore(self, extra: dict) -> None:
        self._build(Vocabulary.from_config(extra["source_vocab"]), Vocabulary.from_config(extra["target_vocab"]),
                    extra["max_decode"])

    def _module(self) -> Module:
        return self.net_

    @classmethod
    def _expected_shapes(cls, params: dict, extra: dict):
        """(name, shape) of every tensor a saved configuration implies, computed without building anything."""
        import inspect

        p = {k: v.default for k, v in inspect.signature(cls.__init__).parameters.items() if k != "self"}
        p.update(params)
        H, E, L = int(p["hidden_size"]), int(p["embedding_dim"]), int(p["num_layers"])
        D = 2 if p["bidirectional"] else 1
        Vs, Vt = len(extra["source_vocab"]["tokens"]), len(extra["target_vocab"]["tokens"])

        def lstm(prefix, width, hidden, dirs):
            for k in range(L):
                for d in range(dirs):
                    s = f"_l{k}" + ("_reverse" if d else "")
                    yield f"{prefix}.weight_ih{s}", (4 * hidden, width if k == 0 else dirs * hidden)
                    yield f"{prefix}.weight_hh{s}", (4 * hidden, hidden)
                    yield f"{prefix}.bias_ih{s}", (4 * hidden,)
                    yield f"{prefix}.bias_hh{s}", (4 * hidden,)

        yield "src_emb.weight", (Vs, E)
        yield from lstm("encoder", E, H // D, D)
        yield "tgt_emb.weight", (Vt, E)
        yield from lstm("decoder", E, H, 1)
        if p["attention"] in ("luong",):
            yield "attn.weight", (H, H)
        elif p["attention"] == "bahdanau":
            yield from (("attn.weight_query", (H, H)), ("attn.weight_key", (H, H)), ("attn.bias", (H,)),
                        ("attn.v", (H,)))
        if p["attention"] != "none":
            yield from (("combine.weight", (H, 2 * H)), ("combine.bias", (H,)))
        yield from (("out.weight", (Vt, H)), ("out.bias", (Vt,)))

    def save(self, path) -> Path:
        from ..io.model_file import save

        return save(self, path)
