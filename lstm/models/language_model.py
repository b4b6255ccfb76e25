"""Character- and word-level language models: Embedding → stacked LSTM → Linear, trained with truncated BPTT.

    e_t = E[x_t]                       (B, T, emb)
    h_t = LSTM(e_t, state)             (B, T, H)      state carried across chunks, no gradient across them
    z_t = h_t W_outᵀ + b_out           (B, T, V)      W_out = E when weights are tied (needs emb == H)
    L   = mean_t −log softmax(z_t)[x_{t+1}]           nats per token; bits/char = L / ln 2

:class:`LanguageModel` follows scikit-learn's conventions: ``__init__`` only stores its arguments, ``fit`` learns
``vocab_``, ``net_`` and ``history_`` and returns ``self``.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from .._values import real, whole
from ..data.batching import StreamBatches
from ..data.text import UNK, Joiner, Vocabulary
from ..io.model_file import register
from ..nn import LSTM, Dropout, Embedding, Linear, Module, cross_entropy, linear_cross_entropy, no_grad
from ..nn.module import write_grad
from .estimator import Estimator


class LanguageModelNet(Module):
    """The network: ids (B, T) → logits (B, T, V), with a hand-written backward through all of it."""

    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers, dropout=0.0, tie_weights=False,
                 seed=None, dtype=np.float32):
        super().__init__()
        if tie_weights and embedding_dim != hidden_size:
            raise ValueError(f"tie_weights needs embedding_dim == hidden_size, got {embedding_dim} and {hidden_size}")
        rng = np.random.default_rng(seed)
        self.tie_weights = tie_weights
        self.emb = Embedding(vocab_size, embedding_dim, seed=rng, dtype=dtype)
        self.rnn = LSTM(embedding_dim, hidden_size, num_layers, batch_first=True, dropout=dropout, seed=rng,
                        dtype=dtype)
        self.drop = Dropout(dropout, seed=rng)
        self.head = Linear(hidden_size, vocab_size, seed=rng, dtype=dtype)
        if tie_weights:
            del self.head._params["weight"], self.head._grads["weight"]

    def forward(self, x, state=None):
        """x (B, T) ids → logits (B, T, V), new state.

        When the vocabulary is well below the chunk's B·T tokens (characters: ~100 against 3,200), the embedding is
        folded into the first LSTM layer (:meth:`lstm.nn.Embedding.feed`): it projects the V table rows through W_ih
        once instead of all B·T embedded inputs — the same function, ~7% less arithmetic per training step here."""
        h, state = self._features(x, state)
        if self.tie_weights:
            self._h = h
            return h @ self.emb.weight.T + self.head.bias, state
        return self.head(h), state

    def _features(self, x, state):
        """x (B, T) ids → the output layer's input (B, T, H) (dropout applied), new state."""
        h, state = self.emb.feed(self.rnn, x, state)           # (B, T, H)
        if self.drop.p > 0:                                   # (p = 0 would only copy h)
            h = self.drop(h)
        return h, state

    def backward(self, dlogits) -> None:
        """Fill grads from ∂L/∂logits (B, T, V)."""
        if self.tie_weights:
            V = dlogits.shape[-1]
            flat = dlogits.reshape(-1, V)                      # (B·T, V)
            write_grad(self.head._grads["bias"], flat.sum(0), False)
            dh = dlogits @ self.emb.weight                     # (B, T, H)
            d_emb_out = flat.T @ self._h.reshape(-1, self._h.shape[-1])   # (V, H)
        else:
            dh = self.head.backward(dlogits)
            d_emb_out = None
        self._features_backward(dh, d_emb_out)

    def _features_backward(self, dh, d_emb_out=None) -> None:
        """Fill the embedding's and the LSTM's grads from ∂L/∂h (B, T, H); ``d_emb_out``: the tied output
        weight's gradient (V, H), added to the embedding's."""
        de, _ = self.rnn.backward(self.drop.backward(dh) if self.drop.p > 0 else dh)
        self.emb.feed_backward(de)
        if d_emb_out is not None:
            self.emb._grads["weight"] += d_emb_out

    def loss(self, x, y, state=None):
        """Forward + backward on one chunk: returns (mean nats per token, state).  The output layer and the loss
        are one :func:`lstm.nn.linear_cross_entropy` (the logits are never kept)."""
        h, state = self._features(x, state)
        W = self.emb.weight if self.tie_weights else self.head.weight
        loss, dh, dW, db = linear_cross_entropy(h, W, self.head.bias, y)
        write_grad(self.head._grads["bias"], db, False)
        if not self.tie_weights:
            write_grad(self.head._grads["weight"], dW, False)
        self._features_backward(dh, dW if self.tie_weights else None)
        return loss, state


@register
class LanguageModel(Estimator):
    """Character- or word-level LSTM language model.

    ``fit(text)`` builds the vocabulary from the whole text, keeps the last ``val_fraction`` of it for validation,
    and trains with Adam and truncated BPTT (``seq_len`` steps per chunk, ``batch_size`` parallel streams).
    ``fit(text, val_text=held_out)`` trains on all of ``text`` and validates on ``held_out``, the vocabulary built
    from both (as PyTorch's word-language-model example builds its dictionary).  When validation has not improved
    for more than ``lr_patience`` evaluations the learning rate is multiplied by ``lr_factor`` (torch's
    ``ReduceLROnPlateau``; ``lr_factor=None`` or 1 keeps it constant).
    ``sample`` generates text; ``score`` reports nats per token, bits per character (char) or perplexity (word).
    """

    def __init__(self, level="char", hidden_size=256, num_layers=2, embedding_dim=None, dropout=0.0,
                 tie_weights=False, seq_len=100, batch_size=32, lr=2e-3, steps=1000, minutes=None, clip_norm=1.0,
                 val_fraction=0.1, eval_every=100, max_vocab=20000, seed=0, lr_factor=0.5, lr_patience=1):
        self.level, self.hidden_size, self.num_layers = level, hidden_size, num_layers
        self.embedding_dim, self.dropout, self.tie_weights = embedding_dim, dropout, tie_weights
        self.seq_len, self.batch_size, self.lr, self.steps, self.minutes = seq_len, batch_size, lr, steps, minutes
        self.clip_norm, self.val_fraction, self.eval_every = clip_norm, val_fraction, eval_every
        self.max_vocab, self.seed = max_vocab, seed
        self.lr_factor, self.lr_patience = lr_factor, lr_patience

    # -- building ----------------------------------------------------------------------------------------------
    def _emb_dim(self) -> int:
        if self.embedding_dim:
            return int(self.embedding_dim)
        return self.hidden_size if (self.tie_weights or self.level == "word") else min(64, self.hidden_size)

    def _build(self, vocab: Vocabulary) -> None:
        self.vocab_ = vocab
        self.net_ = LanguageModelNet(len(vocab), self._emb_dim(), self.hidden_size, self.num_layers, self.dropout,
                                     self.tie_weights, seed=self.seed)

    def _split(self, ids: np.ndarray, val_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(training ids, validation ids): the last ``val_fraction`` of ``ids`` held out, or all of them trained on
        when a separate text's ``val_ids`` are given."""
        n_val = 0 if val_ids is not None else int(len(ids) * self.val_fraction)
        need = self.seq_len + 1
        if n_val and n_val < need:
            n_val = need
        train, val = ids[: len(ids) - n_val], ids[len(ids) - n_val:]
        if len(train) < self.batch_size * self.seq_len + 1:
            held = f" ({min(n_val, len(ids))} of them held out for validation)" if n_val else ""
            raise ValueError(
                f"the text has {len(ids)} {self.level} tokens{held}, {len(train)} left to train on, fewer than one "
                f"batch needs ({self.batch_size} × {self.seq_len} + 1); use more text or a smaller batch_size / "
                "seq_len (--batch / --seq-len)"
            )
        return train, (val if val_ids is None else val_ids)

    # -- fitting -----------------------------------------------------------------------------------------------
    def fit(self, text: str, *, val_text: str | None = None, out_dir=None, resume: bool = False, callbacks=(),
            progress: bool = True):
        from ..optim import Adam, ReduceLROnPlateau
        from ..train import Trainer

        self._check_params()
        for name, value in (("text", text), ("val_text", "" if val_text is None else val_text)):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be one str, got {type(value).__name__}; join several documents first, "
                                "e.g. '\\n\\n'.join(docs)")
        seen = text if val_text is None else text + "\n" + val_text
        vocab = Vocabulary.build(seen, self.level, max_size=self.max_vocab)
        self._build(vocab)
        if len(vocab) < 2:
            raise ValueError(f"the vocabulary holds only {UNK}: the text has no {self.level} tokens to learn"
                             + (" (max_vocab must be at least 2)" if self.level == "word" else ""))
        ids = vocab.encode(text)
        held = None if val_text is None else vocab.encode(val_text)
        if held is not None and len(held) < 2:
            raise ValueError(f"val_text needs at least two {self.level} tokens (the first is only context), got "
                             f"{len(held)}; give a longer validation text")
        train_ids, val_ids = self._split(ids, held)
        self.n_train_tokens_, self.n_val_tokens_ = len(train_ids), len(val_ids)
        net = self.net_

        def train_step(chunk, carry):
            return net.loss(chunk.x, chunk.y, None if chunk.reset else carry)

        evaluate = (lambda: self._mean_loss(val_ids)) if len(val_ids) else None
        opt = Adam(net, lr=self.lr)
        decay = evaluate is not None and self.lr_factor is not None and self.lr_factor < 1
        schedule = ReduceLROnPlateau(opt, factor=self.lr_factor, patience=self.lr_patience) if decay else None
        trainer = Trainer(net, opt, train_step, StreamBatches(train_ids, self.batch_size, self.seq_len),
                          steps=self.steps, minutes=self.minutes, evaluate=evaluate, eval_every=self.eval_every,
                          clip_norm=self.clip_norm, schedule=schedule, out_dir=out_dir, callbacks=callbacks,
                          progress=progress, items_per_step=self.batch_size * self.seq_len,
                          val_format="val {:.4f} nats",
                          run_key={"vocabulary": vocab.describe(), "seq_len": self.seq_len,
                                   "batch_size": self.batch_size, "dropout": self.dropout, "lr": self.lr,
                                   "validation": self._describe_validation(val_ids, held is not None)})
        result = trainer.fit(resume=resume)
        self.history_ = result.history
        self.train_result_ = result
        return self

    def _describe_validation(self, val_ids: np.ndarray, separate: bool) -> str:
        """What a run validates on, for resuming: "last 10%" of its text, or a separate text's size and digest."""
        if not separate:
            return f"last {100 * self.val_fraction:g}%"
        return f"{len(val_ids)} {self.level}s #{hashlib.sha256(val_ids.tobytes()).hexdigest()[:8]}"

    @no_grad()
    def _mean_loss(self, ids: np.ndarray) -> float:
        """Mean nats per token over ``ids``, in eval mode, streaming the state across chunks (each chunk's mean
        weighted by its predictions: a pass's last chunk may be shorter)."""
        net = self.net_
        was_training = net.training
        net.eval()
        try:
            rows = max(1, min(self.batch_size, (len(ids) - 1) // max(1, self.seq_len)))
            seq = min(self.seq_len, (len(ids) - 1) // rows)
            batches = StreamBatches(ids, rows, seq)
            total, count, state = 0.0, 0, None
            for k in range(len(batches)):
                chunk = batches(k)
                logits, state = net.forward(chunk.x, state)
                total += cross_entropy(logits, chunk.y)[0] * batches.predictions(k)
                count += batches.predictions(k)
            return total / count
        finally:
            net.train(was_training)

    @no_grad()
    def _sequence_loss(self, ids: np.ndarray, window: int = 4096, progress: bool = False) -> float:
        """Mean nats per token of ids[1:], each predicted from everything before it: the text read as one
        sequence from a zero state, in windows of ``window`` steps with the state carried, in eval mode; with
        ``progress``, a bar on stderr over the windows."""
        net = self.net_
        was_training = net.training
        net.eval()
        starts = range(0, len(ids) - 1, window)
        if progress and len(starts) > 1:
            from rich.console import Console
            from rich.progress import track
            starts = track(starts, description="scoring", console=Console(stderr=True), transient=True)
        try:
            total, state = 0.0, None
            for start in starts:
                chunk = ids[start:start + window + 1]
                logits, state = net.forward(chunk[None, :-1], state)             # (1, n, V)
                total += cross_entropy(logits, chunk[None, 1:], reduction="sum")[0]
            return total / (len(ids) - 1)
        finally:
            net.train(was_training)

    # -- using -------------------------------------------------------------------------------------------------
    def score(self, text: str, *, progress: bool = False) -> dict:
        """Nats per token on ``text``, with bits/char (char level) or perplexity and the share of ``unknown`` words
        (word level), and ``tokens``, how many were predicted: every token after the first, from all the text
        before it (one sequence, from a zero state; ``progress``: a bar on stderr while a long text is read).
        The validation loss during training reads its text as ``batch_size`` parallel streams instead (faster;
        each stream starts from a zero state), so it comes out slightly higher on short texts.

        Words outside the vocabulary count as ``<unk>`` (the usual word-level convention); characters the model
        never saw are refused, since it cannot assign them a probability.
        """
        self._check_fitted()
        char = self.vocab_.level == "char"       # the fitted level (set_params changes only the next fit)
        ids = self._encode(text, "text")
        if len(ids) < 2:
            raise ValueError(f"score needs at least two {self.vocab_.level} tokens of text (the first is only "
                             f"context), got {len(ids)}; give a longer text")
        nats = self._sequence_loss(ids, progress=progress)
        out = {"nats": nats, "tokens": len(ids) - 1}
        if char:
            out["bits_per_char"] = nats / math.log(2)
        else:
            out["perplexity"] = math.exp(nats)
            out["unknown"] = float(np.mean(ids[1:] == self.vocab_.index[UNK]))     # the share predicted as <unk>
        return out

    def stream(self, length: int, prime: str = "", temperature: float = 1.0, top_k: int | None = None,
               seed: int | None = None, *, top_p: float | None = None):
        """Yield generated tokens one at a time (the state is kept between steps).

        temperature 0 = always the most likely token; top_k keeps only the k most likely before sampling; top_p
        (nucleus sampling, Holtzman et al. 2020) keeps the fewest most likely tokens whose probabilities, after
        temperature and top_k, add up to at least top_p, and samples among them in proportion.  A prime
        with characters the model never saw is refused; words it never saw are read as ``<unk>``.  After a word
        prime that ends in white space the first word comes without a space of its own (``prime + text`` reads).
        The arguments are checked when ``stream`` is called, not when the first token is asked for.
        """
        self._check_fitted()
        if not whole(length):
            raise ValueError(f"length must be a positive integer, got {length!r}")
        if not real(temperature):
            raise TypeError(f"temperature must be a number >= 0 (0 = most likely token), got "
                            f"{type(temperature).__name__} {temperature!r}")
        if temperature < 0 or not math.isfinite(temperature):
            raise ValueError(f"temperature must be >= 0 (0 = most likely token), got {temperature!r}")
        if top_k is not None and not whole(top_k):
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        if top_p is not None and not (real(top_p) and 0 < top_p <= 1):
            raise ValueError(f"top_p must be a number in (0, 1] (1 = no limit), got {top_p!r}")
        if seed is not None and not isinstance(seed, np.random.Generator) and not whole(seed, 0):
            raise ValueError(f"seed must be a whole number >= 0 (or None for a fresh one each call), got {seed!r}")
        ids = self._encode(prime, "prime")
        top_p = None if top_p is None else float(top_p)
        return self._generate(length, prime, ids, float(temperature), top_k, top_p, np.random.default_rng(seed))

    def _encode(self, text, what: str) -> np.ndarray:
        """Ids of ``text`` at the fitted level: characters the model never saw are refused (naming them, and
        ``what`` the text is), words it never saw read as ``<unk>``."""
        if not isinstance(text, str):
            raise TypeError(f"the {what} must be a str, got {type(text).__name__}; decode bytes first, e.g. "
                            "data.decode('utf-8')")
        if self.vocab_.level == "char":
            missing = self.vocab_.unknown(text)
            if missing:
                shown = ", ".join(repr(t) for t in missing[:10]) + (" …" if len(missing) > 10 else "")
                them = "them" if len(missing) > 1 else "it"
                raise ValueError(f"the {what} holds {len(missing)} char(s) the model never saw: {shown}; remove "
                                 f"{them}, or fit on text that has {them}")
        return self.vocab_.encode(text)                        # words: <unk>

    def _generate(self, length, prime, ids, temperature, top_k, top_p, rng):
        stepper = self.stepper()
        primed = len(ids) > 0                                 # a word-level prime of only spaces has no tokens
        if not primed:
            ids = np.array([self._start_token()], dtype=np.int64)
        for token in ids:
            logits = stepper.step(int(token))                 # (V,), a view the next step overwrites
        join = Joiner(self.vocab_)
        join.feed(ids if primed else [])                      # spacing and open quotes continue the prime
        spaced = self.vocab_.level == "word" and prime[-1:].isspace()    # words: the prime's space is the next's
        for _ in range(length):
            token = self._pick(logits.astype(np.float64), temperature, top_k, top_p, rng)
            piece = join.piece(token)
            yield piece.removeprefix(" ") if spaced else piece
            spaced = False
            logits = stepper.step(token)

    def _start_token(self) -> int:
        """What generation without a prime feeds first: a newline, as if at the beginning of a line (the most
        common context there is), else a space, else the first real token."""
        index = self.vocab_.index
        return index.get("\n", index.get(" ", min(1, len(self.vocab_) - 1)))

    def stepper(self, batch_size: int = 1):
        """A compiled streaming stepper: ``logits = stepper.step(token_id)`` → (V,) next-token logits.

        One call per token: embedding row → every LSTM layer → output layer, state kept inside, nothing allocated
        (``logits`` is a read-only view overwritten by the next step).  Inference semantics: no dropout.  With
        ``batch_size`` B > 1, ``step`` takes B ids and returns (B, V).  See :mod:`lstm.nn.stepper`.
        """
        from ..nn.stepper import Stepper

        self._check_fitted()
        net = self.net_
        head = (net.emb.weight, net.head.bias) if net.tie_weights else net.head
        return Stepper(net.rnn, batch_size, embedding=net.emb, head=head)

    @staticmethod
    def _pick(logits: np.ndarray, temperature: float, top_k: int | None, top_p: float | None, rng) -> int:
        logits = logits.copy()
        logits[0] = -np.inf                                   # never emit <unk>
        if temperature == 0:
            return int(np.argmax(logits))
        if top_k is not None and top_k < len(logits):
            logits[np.argsort(logits, kind="stable")[:-top_k]] = -np.inf      # keep exactly k
        with np.errstate(over="ignore"):                      # a tiny temperature: every other logit → −inf
            z = (logits - logits.max()) / temperature         # shifted first, so never inf − inf
        p = np.exp(z)
        p /= p.sum()
        if top_p is not None and top_p < 1:
            order = np.argsort(-p, kind="stable")             # most likely first
            above = np.concatenate(([0.0], np.cumsum(p[order])[:-1]))     # the mass ranked above each token
            p[order[above >= top_p]] = 0                      # the nucleus: the fewest tokens holding ≥ top_p
            p /= p.sum()
        return int(rng.choice(len(p), p=p))

    def sample(self, length: int = 200, prime: str = "", temperature: float = 1.0, top_k: int | None = None,
               seed: int | None = None, *, top_p: float | None = None) -> str:
        """Generated text (without the prime)."""
        return "".join(self.stream(length, prime, temperature, top_k, seed, top_p=top_p))

    # -- persistence -------------------------------------------------------------------------------------------
    @classmethod
    def _expected_shapes(cls, params, extra):
        """(name, shape) of every tensor a saved configuration implies, without building anything — so a file
        that lies about its sizes is refused before any memory is allocated for them."""
        model = cls(**params)
        V, E, H = len(Vocabulary.from_config(extra["vocab"])), model._emb_dim(), model.hidden_size
        yield "emb.weight", (V, E)
        for k in range(model.num_layers):
            yield f"rnn.weight_ih_l{k}", (4 * H, E if k == 0 else H)
            yield f"rnn.weight_hh_l{k}", (4 * H, H)
            yield f"rnn.bias_ih_l{k}", (4 * H,)
            yield f"rnn.bias_hh_l{k}", (4 * H,)
        if not model.tie_weights:
            yield "head.weight", (V, H)
        yield "head.bias", (V,)

    def _extra_config(self) -> dict:
        return {"vocab": self.vocab_.to_config()}

    def _restore(self, extra: dict) -> None:
        self._build(Vocabulary.from_config(extra["vocab"]))

    def _module(self) -> Module:
        return self.net_

    def _check_params(self) -> None:
        if self.level not in ("char", "word"):
            raise ValueError(f"level must be 'char' or 'word', got {self.level!r}")
        for name in ("hidden_size", "num_layers", "seq_len", "batch_size"):
            value = getattr(self, name)
            if not whole(value):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.embedding_dim is not None and not whole(self.embedding_dim):
            raise ValueError(f"embedding_dim must be a positive integer, or None for the default, got "
                             f"{self.embedding_dim!r}")
        if not isinstance(self.tie_weights, (bool, np.bool_)):
            raise TypeError(f"tie_weights must be True or False, got {self.tie_weights!r}")
        if self.seed is not None and not whole(self.seed, 0):
            raise ValueError(f"seed must be a whole number >= 0 (or None for a fresh one), got {self.seed!r}")
        if self.max_vocab is not None and (not isinstance(self.max_vocab, (int, np.integer)) or self.max_vocab < 2):
            raise ValueError(f"max_vocab must be an integer of at least 2 ({UNK} and one word), got {self.max_vocab!r}")
        if self.steps is None and self.minutes is None:
            raise ValueError("give a training budget: steps and/or minutes")
        if not (real(self.val_fraction) and 0 <= self.val_fraction < 1):
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
        if self.lr_factor is not None and not (isinstance(self.lr_factor, (int, float)) and 0 < self.lr_factor <= 1):
            raise ValueError(f"lr_factor must be in (0, 1] (1 or None: no decay), got {self.lr_factor!r}")
        if not isinstance(self.lr_patience, (int, np.integer)) or isinstance(self.lr_patience, bool) \
                or self.lr_patience < 0:
            raise ValueError(f"lr_patience must be a non-negative integer, got {self.lr_patience!r}")

    def save(self, path) -> Path:
        from ..io.model_file import save

        return save(self, path)
