"""LSTM forecaster: a lookback window in, the next ``horizon`` values (or quantiles of them) out.

Preprocessing (fitted on the training series only)::

    z_t = (g(y_t) − μ) / σ          g = log, sqrt or identity ("auto": log / sqrt when the spread grows with the level)
    window k:  u = z[k : k+L]        input x_j = [u_j − u_{L−1}, covariates_j]    (level-free: a trend or level shift
                                     the training data never showed still looks familiar)
    target:    z_{k+L+s} − r_s       s = 0..S−1, around a reference r (``normalize``):
               "last"    r_s = u_{L−1}                      the last value
               "season"  r_s = u_{L−m+(s mod m)}            the seasonal-naive forecast (stable calendar seasons)
               "mean"    r_s = mean(u);   "none"  r_s = 0   ("none" also leaves the input un-shifted)
               "auto"    "season" when seasonal_strength(z, m) > 0.7, else "last"

Differencing by a reference (Box–Jenkins practice: log + seasonal difference for series like airline traffic) makes
the network learn only the part the naive rule misses: with "season", an output of 0 is the seasonal-naive forecast.

Network (``net_.rnn`` an :class:`lstm.nn.LSTM`, ``net_.head`` an :class:`lstm.nn.Linear`)::

    h_T = LSTM(x_1..x_L)[final hidden state of the top layer]      (B, H)
    o   = h_T W_headᵀ + b_head                                     (B, S·Q)  →  (B, S, Q)

S = horizon for the direct strategy (one head predicts every step at once), S = 1 for the recursive strategy (one
step, fed back as input for the next).  Q = number of quantiles (pinball loss) or 1 (MSE / Huber / MAE on a point
forecast).  Forecasts longer than S are made block by block, feeding the median back.  Predictions are
z = o + r, mapped back through the inverse scaling; quantiles are sorted so that they never cross.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._values import real, whole
from ..data.batching import ShuffledBatches
from ..data.series import SeriesScaler, make_windows
from ..io.model_file import register
from ..nn import LSTM, Linear, Module, huber_loss, l1_loss, mse_loss, no_grad, pinball_loss
from .estimator import Estimator

LOSSES = ("mse", "huber", "mae")
SEASONAL_STRENGTH = 0.7     # normalize="auto" picks "season" above this (see seasonal_strength)


class ForecasterNet(Module):
    """x (B, L, F) → (B, S, Q) from the top layer's final hidden state through one linear head."""

    def __init__(self, n_features: int, hidden_size: int, num_layers: int, steps_out: int, n_quantiles: int,
                 dropout: float = 0.0, seed=None, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.steps_out, self.n_quantiles = int(steps_out), int(n_quantiles)
        self.rnn = LSTM(n_features, hidden_size, num_layers, batch_first=True, dropout=dropout, seed=rng,
                        dtype=dtype)
        self.head = Linear(hidden_size, self.steps_out * self.n_quantiles, seed=rng, dtype=dtype)

    def forward(self, x) -> np.ndarray:
        """x (B, L, F) → (B, S, Q)."""
        _, (h, _) = self.rnn(x)                                   # h (layers, B, H)
        self._h_shape = h.shape
        out = self.head(h[-1])                                    # (B, S·Q)
        return out.reshape(len(out), self.steps_out, self.n_quantiles)

    __call__ = forward

    def backward(self, dout, input_grad: bool = True) -> np.ndarray | None:
        """∂L/∂out (B, S, Q) → fills grads, returns ∂L/∂x (B, L, F) (None, not computed, without ``input_grad``)."""
        dh_top = self.head.backward(np.asarray(dout).reshape(len(dout), -1))     # (B, H)
        dh = np.zeros(self._h_shape, dtype=dh_top.dtype)
        dh[-1] = dh_top
        y_shape = self.rnn._run.y_shape
        dx, _ = self.rnn.backward(np.zeros(y_shape, dtype=dh.dtype), dstate=(dh, None), input_grad=input_grad)
        return dx


def _acf(x: np.ndarray, lag: int) -> float:
    """Sample autocorrelation of ``x`` at ``lag`` (0 when undefined)."""
    x = x - x.mean()
    den = float(np.dot(x, x))
    if lag < 1 or len(x) <= lag or den == 0:
        return 0.0
    return float(np.dot(x[lag:], x[:-lag]) / den)


def seasonal_strength(z: np.ndarray, m: int) -> float:
    """ACF of the first differences at lag m: near 1 for a stable calendar pattern (monthly airline traffic:
    0.84), lower for quasi-cycles whose length varies (yearly sunspots, m = 11: 0.55), near 0 without one."""
    if m < 2:
        return 0.0
    return _acf(np.diff(z), m)


def _multiplicative(y: np.ndarray, period: int) -> bool:
    """Does the spread grow with the level?  corr(block mean, block std) over blocks of one season > 0.5."""
    p = max(int(period), 4)
    k = len(y) // p
    if k < 4:
        return False
    blocks = y[len(y) - k * p:].reshape(k, p)
    mean, std = blocks.mean(1), blocks.std(1)
    if std.std() == 0 or mean.std() == 0:
        return False
    return float(np.corrcoef(mean, std)[0, 1]) > 0.5


@register
class LSTMForecaster(Estimator):
    """Multi-step LSTM forecaster with scikit-learn conventions.

    ``fit(y, X=None)`` learns from a 1-D series ``y`` (n,) and optional past covariates ``X`` (n, k);
    ``predict(horizon)`` returns the next values (n_steps,), ``predict_quantiles(horizon)`` (n_steps, Q).

    Parameters: ``horizon`` steps the direct head predicts at once; ``lookback`` input window (None = 2·season,
    or 2·horizon, at least 8); ``season`` (used for the default lookback and the "auto" transform test);
    ``strategy`` "direct" or "recursive"; ``quantiles`` e.g. (0.1, 0.5, 0.9) to train with the pinball loss (0.5 is
    added if absent; it is the point forecast); ``loss`` "mse" | "huber" | "mae" for point forecasts (not used
    with ``quantiles``); ``transform`` "auto" | "log" | "sqrt" | "none"; ``scaling`` "standard" | "minmax" |
    "none"; ``normalize`` "auto" | "last" | "season" | "mean" | "none" (see the module docstring);
    network ``hidden_size``, ``num_layers``, ``dropout`` (between stacked layers: none with one); training
    ``steps``, ``batch_size``, ``lr`` (Adam, cosine decay to lr/10), ``weight_decay``, ``clip_norm``,
    ``val_fraction`` (last part of the series held out for early stopping; 0 = train on everything for ``steps``),
    ``patience``, ``eval_every``; ``seed``.
    """

    def __init__(self, horizon=1, lookback=None, season=None, strategy="direct", quantiles=None, loss="mse",
                 transform="auto", scaling="standard", normalize="auto", hidden_size=64, num_layers=1, dropout=0.0,
                 steps=300, batch_size=32, lr=3e-3, weight_decay=0.0, clip_norm=1.0, val_fraction=0.0,
                 patience=None, eval_every=50, seed=0):
        self.horizon, self.lookback, self.season, self.strategy = horizon, lookback, season, strategy
        self.quantiles, self.loss, self.transform, self.scaling = quantiles, loss, transform, scaling
        self.normalize, self.hidden_size, self.num_layers, self.dropout = normalize, hidden_size, num_layers, dropout
        self.steps, self.batch_size, self.lr, self.weight_decay = steps, batch_size, lr, weight_decay
        self.clip_norm, self.val_fraction, self.patience = clip_norm, val_fraction, patience
        self.eval_every, self.seed = eval_every, seed

    # -- configuration -----------------------------------------------------------------------------------------
    def _check_params(self) -> None:
        for name in ("horizon", "hidden_size", "num_layers", "steps", "batch_size", "eval_every"):
            v = getattr(self, name)
            if not whole(v):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        for name in ("lookback", "season", "patience"):
            v = getattr(self, name)
            if v is not None and not whole(v):
                raise ValueError(f"{name} must be a positive integer or None, got {v!r}")
        choices = {"strategy": ("direct", "recursive"), "loss": LOSSES, "transform": ("auto", "log", "sqrt", "none"),
                   "scaling": ("standard", "minmax", "none"), "normalize": ("auto", "last", "mean", "season", "none")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if not (real(self.val_fraction) and 0 <= self.val_fraction < 1):
            raise ValueError(f"val_fraction must be a number in [0, 1), got {self.val_fraction!r}")
        if not (real(self.dropout) and 0 <= self.dropout < 1):
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        if not (real(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        self._levels()

    def _levels(self) -> list[float] | None:
        """The quantile levels, sorted, with 0.5 included; None for a point forecaster."""
        if self.quantiles is None:
            return None
        try:
            asked = [round(float(q), 10) for q in self.quantiles]
        except (TypeError, ValueError):
            raise ValueError(f"quantiles must be numbers in (0, 1), got {self.quantiles!r}") from None
        if not all(0 < q < 1 for q in asked):                   # (NaN fails too)
            raise ValueError(f"every quantile must lie strictly between 0 and 1, got {self.quantiles!r}")
        twice = sorted({q for q in asked if asked.count(q) > 1})
        if twice:
            verb = "appears" if len(twice) == 1 else "appear"
            raise ValueError(f"quantiles must not repeat a level, got {self.quantiles!r}: "
                             f"{', '.join(f'{q:g}' for q in twice)} {verb} more than once; list each level once")
        return sorted(set(asked) | {0.5})

    def _default_lookback(self) -> int:
        if self.lookback:
            return int(self.lookback)
        m = self.season or 1
        return max(8, 2 * m if m > 1 else 0, 2 * self.horizon)

    @property
    def steps_out(self) -> int:
        return int(self.horizon) if self.strategy == "direct" else 1

    # -- data --------------------------------------------------------------------------------------------------
    @staticmethod
    def _check_y(y, X):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"y must be a 1-D series of shape (n,), got shape {y.shape}")
        if not (np.issubdtype(y.dtype, np.number) and not np.issubdtype(y.dtype, np.complexfloating)):
            raise TypeError(f"y must hold numbers, got dtype {y.dtype}")
        y = y.astype(np.float64)
        if not np.isfinite(y).all():
            k = int(np.flatnonzero(~np.isfinite(y))[0])
            raise ValueError(f"y has a missing or infinite value at index {k}; fill it first (e.g. --fill ffill)")
        if X is not None:
            X = np.asarray(X)
            if not (np.issubdtype(X.dtype, np.number) and not np.issubdtype(X.dtype, np.complexfloating)):
                raise TypeError(f"X must hold numbers (one column per covariate), got dtype {X.dtype}")
            X = X.astype(np.float64)
            if X.ndim == 1:
                X = X[:, None]
            if X.ndim != 2 or len(X) != len(y):
                raise ValueError(f"X must have shape (n, k) with n = len(y) = {len(y)}, got {X.shape}")
            if not np.isfinite(X).all():
                raise ValueError("X has missing or infinite values; fill them first (e.g. --fill ffill)")
        return y, X

    def _scaled(self, y, X):
        z = self.scaler_.transform(y)                                   # (n,)
        xz = None if X is None else self.x_scaler_.transform(X)         # (n, k)
        return z, xz

    def _window_inputs(self, z_win, x_win):
        """Windows z (B, L), covariates x (B, L, k) → network input (B, L, F) and per-step reference r (B, S).

        The input is the window relative to its last value (normalize "last" / "season"), its mean ("mean") or
        as is ("none"); the network predicts targets relative to r: the last value, the window mean, the seasonal
        naive forecast z_{t+k−m⌈k/m⌉} ("season"), or 0.
        """
        B, L = z_win.shape
        S = self.steps_out_
        mode = self.normalize_
        if mode == "mean":
            level = z_win.mean(axis=1)
        elif mode == "none":
            level = np.zeros(B)
        else:
            level = z_win[:, -1]
        cols = (z_win - level[:, None])[:, :, None]
        if x_win is not None:
            cols = np.concatenate([cols, x_win], axis=2)
        if mode == "season":
            m = self.season_
            ref = z_win[:, L - m + (np.arange(S) % m)]                # (B, S)
        else:
            ref = np.repeat(level[:, None], S, axis=1)               # (B, S)
        return cols, ref

    def _resolve_transform(self, y) -> str:
        """"auto": log for a positive series whose spread grows with its level, sqrt if it also has zeros."""
        if self.transform != "auto":
            return self.transform
        if y.min() < 0 or not _multiplicative(y, self.season or 12):
            return "none"
        return "log" if y.min() > 0 else "sqrt"

    def _resolve_normalize(self, z) -> str:
        """"auto": "season" when the seasonal pattern is stable (seasonal_strength > 0.7), else "last"."""
        if self.normalize != "auto":
            return self.normalize
        m = self._season()
        if m > 1 and self._default_lookback() >= m and seasonal_strength(z, m) > SEASONAL_STRENGTH:
            return "season"
        return "last"

    def _season(self) -> int:
        return int(self.season or 1)

    # -- fitting -----------------------------------------------------------------------------------------------
    def fit(self, y, X=None, *, progress: bool = False, callbacks=()):
        from ..optim import Adam, AdamW, CosineAnnealingLR
        from ..train import Trainer

        self._check_params()
        y, X = self._check_y(y, X)
        if np.ptp(y) == 0:
            raise ValueError(f"the series is constant (every value is {y[0]:g}): there is nothing to learn, and "
                             "MASE is undefined for it")
        L, S = self._default_lookback(), self.steps_out
        n = len(y)
        n_val = int(round(n * self.val_fraction))
        if self.patience is not None and n_val == 0:
            raise ValueError(f"patience={self.patience} stops early on validation, but val_fraction="
                             f"{self.val_fraction} of {n} rows holds out none; set val_fraction (e.g. 0.2) or "
                             "patience=None")
        if self.normalize == "season" and L < self._season():  # (auto never picks "season" then)
            raise ValueError(f"normalize='season' needs lookback >= season, got lookback {L} and season "
                             f"{self._season()}")
        if n - n_val < L + S:
            why = ""
            if not self.lookback and L > 8:                      # a default the user may not know about
                why = f" (the default lookback is 2 x {'season' if L == 2 * self._season() else 'horizon'} " \
                      f"{L // 2})"
            raise ValueError(f"the series has {n} rows ({n - n_val} for training), too few for lookback {L} + "
                             f"horizon {S}: at least {L + S + n_val} are needed{why}; use a shorter --lookback or "
                             "more data")
        n_train = n - n_val
        self.transform_ = self._resolve_transform(y[:n_train])
        self.lookback_ = L
        # what predictions follow, whatever set_params changes before the next fit
        self.horizon_, self.steps_out_, self.season_ = int(self.horizon), S, self._season()
        self.quantiles_ = self._levels()
        self.n_features_ = 1 + (0 if X is None else X.shape[1])
        self.scaler_ = SeriesScaler(self.scaling, self.transform_).fit(y[:n_train])
        self.normalize_ = self._resolve_normalize(self.scaler_.transform(y[:n_train]))
        self.x_scaler_ = None if X is None else SeriesScaler("standard").fit(X[:n_train])
        z, xz = self._scaled(y, X)
        raw, future = make_windows(z, L, S, xz)                         # (N, L, F), (N, S)
        N = len(raw)
        inputs, ref = self._window_inputs(raw[:, :, 0], None if xz is None else raw[:, :, 1:])
        targets = future - ref                                           # (N, S), relative to the reference
        last_target = np.arange(N) + L + S - 1
        train_idx = np.flatnonzero(last_target < n_train)
        val_idx = np.flatnonzero(np.arange(N) + L >= n_train)            # windows whose targets are all held out
        if len(train_idx) == 0:
            raise ValueError(f"no training window fits in {n_train} rows (lookback {L} + horizon {S} = {L + S})")
        if n_val and len(val_idx) == 0:
            raise ValueError(f"val_fraction={self.val_fraction} holds out {n_val} row(s), fewer than the {S} a "
                             "validation window needs: nothing would be validated; raise val_fraction, or set it to 0")
        self.n_windows_ = (len(train_idx), len(val_idx))                 # (training, validation) windows
        dt = np.float32
        inputs, targets = inputs.astype(dt), targets.astype(dt)
        Q = 1 if self.quantiles_ is None else len(self.quantiles_)
        self.net_ = ForecasterNet(self.n_features_, int(self.hidden_size), int(self.num_layers), S, Q,
                                  dropout=float(self.dropout), seed=self.seed)
        net = self.net_
        batches = ShuffledBatches(len(train_idx), int(self.batch_size), seed=self.seed, drop_last=False)

        def step(batch, carry):
            rows = train_idx[batch]
            out = net.forward(inputs[rows])                               # (B, S, Q)
            loss, grad = self._loss(out, targets[rows])
            net.backward(grad, input_grad=False)                          # the windows are data
            return loss, None

        evaluate = None
        if len(val_idx):
            evaluate = lambda: self._loss(net.forward(inputs[val_idx]), targets[val_idx])[0]  # noqa: E731
        opt_cls = AdamW if self.weight_decay else Adam
        opt = opt_cls(net, lr=float(self.lr), weight_decay=float(self.weight_decay))
        schedule = CosineAnnealingLR(opt, T_max=int(self.steps), eta_min=float(self.lr) / 10)
        trainer = Trainer(net, opt, step, batches, steps=int(self.steps), evaluate=evaluate,
                          eval_every=int(self.eval_every), patience=self.patience, clip_norm=self.clip_norm,
                          schedule=schedule, progress=progress, callbacks=callbacks,
                          items_per_step=min(int(self.batch_size), len(train_idx)))
        result = trainer.fit()
        net.eval()
        self.history_ = result.history
        self.train_result_ = result
        self.n_train_ = n_train
        self.last_y_ = y[-L:].copy()
        self.last_X_ = None if X is None else X[-L:].copy()
        return self

    def _loss(self, out, target):
        """out (B, S, Q), target (B, S) → (mean loss, ∂loss/∂out)."""
        if self.quantiles_ is not None:
            return pinball_loss(out, target, np.asarray(self.quantiles_, dtype=out.dtype))
        fn = {"mse": mse_loss, "huber": huber_loss, "mae": l1_loss}[self.loss]
        loss, grad = fn(out[..., 0], target)
        return loss, grad[..., None]

    # -- predicting --------------------------------------------------------------------------------------------
    @no_grad()
    def _forecast(self, n_steps, y=None, X=None) -> np.ndarray:
        """(n_steps, Q) in the series' units, block by block."""
        self._check_fitted()
        L, S = self.lookback_, self.steps_out_
        if n_steps is None:
            n_steps = self.horizon_
        if not whole(n_steps):
            raise ValueError(f"horizon must be a positive integer (the number of steps to forecast), got {n_steps!r}")
        n_steps = int(n_steps)
        z, xz = self._history(y, X)
        if xz is not None and n_steps > S:
            raise ValueError(f"this model forecasts {S} step(s) at a time from past covariates; forecasting "
                             f"{n_steps} steps would need future covariate values: ask for at most {S}")
        z = list(z)
        mid = 0 if self.quantiles_ is None else self.quantiles_.index(0.5)
        blocks = []
        done = 0
        net = self.net_
        net.eval()
        while done < n_steps:
            z_win = np.asarray(z[-L:])[None, :]
            x_win = None if xz is None else xz[None, -L:]
            inp, ref = self._window_inputs(z_win, x_win)
            out = net.forward(inp.astype(np.float32)).astype(np.float64)[0] + ref[0][:, None]   # (S, Q)
            blocks.append(out)
            z.extend(out[:, mid].tolist())
            done += S
        return self._to_series(np.concatenate(blocks)[:n_steps])            # (n_steps, Q)

    def _history(self, y=None, X=None):
        """The last ``lookback`` values, scaled: z (L,) and covariates (L, k) or None — of the training series,
        or of ``y`` (at least ``lookback`` values) and ``X``."""
        self._check_fitted()
        L = self.lookback_
        if y is None:
            if X is not None:
                raise ValueError("X was given without y: pass X together with y, the history it belongs to (with "
                                 "neither, the forecast follows the training series and its covariates)")
            hist_y, hist_X = self.last_y_, self.last_X_
        else:
            hist_y, hist_X = self._check_y(y, X)
            if len(hist_y) < L:
                raise ValueError(f"predict needs at least lookback = {L} past values, got {len(hist_y)}")
            if (hist_X is None) != (self.x_scaler_ is None):
                raise ValueError("pass X to predict exactly when the model was fitted with covariates")
            hist_y = hist_y[-L:]
            hist_X = None if hist_X is None else hist_X[-L:]
        return self._scaled(hist_y, hist_X)

    def _to_series(self, q) -> np.ndarray:
        """Scaled forecasts (..., Q) → series units, quantiles sorted along the last axis (they never cross)."""
        return self.scaler_.inverse(np.sort(q, axis=-1))

    def network_input(self, y=None, X=None) -> tuple[np.ndarray, np.ndarray]:
        """What ``net_`` sees for the window ending at the last value of the training series (or of ``y`` / ``X``):
        input x (1, L, F) float32 and reference r (1, S) in scaled units (see the module docstring).
        ``forecast_from_output(net_(x), r)`` is then the first block of ``predict_quantiles``."""
        z, xz = self._history(y, X)
        x, ref = self._window_inputs(z[None], None if xz is None else xz[None])      # (1, L, F), (1, S)
        return x.astype(np.float32), ref

    def forecast_from_output(self, out, ref) -> np.ndarray:
        """Network output o (B, S, Q) and reference r (B, S) → forecasts (B, S, Q) in the series' units:
        z = o + r, quantiles sorted, inverse scaling (column ``quantiles_.index(0.5)`` is the point forecast)."""
        out = np.asarray(out, dtype=np.float64)
        return self._to_series(out + np.asarray(ref, dtype=np.float64)[..., None])

    def predict(self, horizon=None, y=None, X=None) -> np.ndarray:
        """Point forecast (the median with quantiles) for the next ``horizon`` steps after the training series, or
        after ``y`` (at least ``lookback`` values; with covariates ``X`` of the same length).  Shape (horizon,)."""
        q = self._forecast(horizon, y, X)
        return q[:, 0] if self.quantiles_ is None else q[:, self.quantiles_.index(0.5)]

    def predict_quantiles(self, horizon=None, y=None, X=None) -> np.ndarray:
        """Quantile forecasts (horizon, Q) in the order of ``quantiles_`` (needs ``quantiles``)."""
        self._check_fitted()
        if self.quantiles_ is None:
            raise ValueError("this forecaster was built without quantiles; fit one with quantiles=(0.1, 0.5, 0.9)")
        return self._forecast(horizon, y, X)

    def score(self, y_true, horizon=None) -> float:
        """Negative MAE of the forecast against the values that follow the training series (higher is better)."""
        y_true = np.asarray(y_true, dtype=np.float64)
        if y_true.ndim != 1 or len(y_true) == 0 or (horizon is not None and horizon != len(y_true)):
            want = "" if horizon is None else f" for horizon {horizon}"
            raise ValueError(f"y_true must be a 1-D array of the values that follow the training series, one per "
                             f"forecast step; got shape {y_true.shape}{want}")
        if not np.isfinite(y_true).all():
            k = int(np.flatnonzero(~np.isfinite(y_true))[0])
            raise ValueError(f"y_true has a missing or infinite value at index {k}; score on finite values only")
        return -float(np.mean(np.abs(self.predict(len(y_true)) - y_true)))

    # -- persistence -------------------------------------------------------------------------------------------
    def _module(self) -> Module:
        return self.net_

    def _extra_config(self) -> dict:
        return {"transform": self.transform_, "normalize": self.normalize_, "lookback": self.lookback_,
                "quantiles": self.quantiles_, "n_features": self.n_features_, "n_train": self.n_train_,
                "scaler": self.scaler_.to_config(),
                "x_scaler": None if self.x_scaler_ is None else self.x_scaler_.to_config(),
                "last_y": self.last_y_.tolist(),
                "last_X": None if self.last_X_ is None else self.last_X_.tolist()}

    def _restore(self, extra: dict) -> None:
        self.transform_, self.lookback_ = extra["transform"], int(extra["lookback"])
        self.normalize_ = extra["normalize"]
        self.horizon_, self.steps_out_, self.season_ = int(self.horizon), self.steps_out, self._season()
        self.quantiles_ = extra["quantiles"]
        self.n_features_, self.n_train_ = int(extra["n_features"]), int(extra["n_train"])
        self.scaler_ = SeriesScaler.from_config(extra["scaler"])
        self.x_scaler_ = None if extra["x_scaler"] is None else SeriesScaler.from_config(extra["x_scaler"])
        self.last_y_ = np.asarray(extra["last_y"], dtype=np.float64)
        self.last_X_ = None if extra["last_X"] is None else np.asarray(extra["last_X"], dtype=np.float64)
        Q = 1 if self.quantiles_ is None else len(self.quantiles_)
        self.net_ = ForecasterNet(self.n_features_, int(self.hidden_size), int(self.num_layers), self.steps_out_, Q,
                                  dropout=float(self.dropout), seed=self.seed)
        self.net_.eval()

    def save(self, path) -> Path:
        from ..io.model_file import save

        return save(self, path)
