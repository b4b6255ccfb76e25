"""The vanishing gradient made visible: ‖∂L/∂h_t‖ against the lag T − 1 − t, for a loss read at the last step.

For a loss L(y_{T−1}) the gradient that reaches h_t is (DESIGN.md, backward through time)

    RNN:   ∂L/∂h_{t}  = ∂L/∂h_{t+1} · diag(1 − h_{t+1}²) W_hh                → shrinks (or grows) geometrically
    LSTM:  ∂L/∂c_{t}  = ∂L/∂c_{t+1} ⊙ f_{t+1} + (terms through h)           → kept alive while f ≈ 1

It is measured here with the layers' own backward, not re-derived: the state (h_t, c_t) from the forward trace is
fed as the *initial state* of the suffix x_{t+1 … T−1}; the layer's backward returns ∂L/∂state₀ = ∂L/∂h_t (and
∂L/∂c_t), exactly the δh_t of the BPTT equations (with c_t held as a separate variable).  One suffix run per
measured t: O(T²) steps in all, cheap for T ≤ a few hundred.  Computed in float64 (RNN gradients reach 1e−30).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._values import whole
from ..tasks.base import Batch, Task
from ..tasks.net import TaskNet


@dataclass
class LagProfile:
    """‖∂L/∂h_t‖ (mean over the batch of each sequence's norm) for t = T − 1 − lag."""

    model: str
    lags: np.ndarray          # (K,) ascending
    norms: np.ndarray         # (K,) ‖∂L/∂h_{T−1−lag}‖
    cell_norms: np.ndarray | None = None   # (K,) ‖∂L/∂c_{T−1−lag}‖ for an LSTM
    label: str = ""

    def ratio(self, lag: int, start: int = 0, cell: bool = False) -> float:
        """‖∂L/∂h‖ at ``lag`` divided by its value at lag ``start`` (‖∂L/∂c‖ with ``cell=True``): how much of the
        gradient survives the ``lag − start`` steps in between.

        Lag 0 includes the direct path h_{T−1} → output; from lag 1 on, gradient reaches h_t only through the
        recurrence, so ``start=10`` measures the recurrence alone.  ‖∂L/∂c‖ (c as the state handed to the next
        step, h held fixed) is 0 at lag 0, where no step follows: a ratio to it is refused.
        """
        values = self.cell_norms if cell else self.norms
        if values is None:
            raise ValueError(f"{self.model} has no cell state")
        where = {int(v): i for i, v in enumerate(self.lags)}
        if lag not in where or start not in where:
            raise ValueError(f"lags {start} and {lag} must be among the measured lags {self.lags.tolist()}")
        if values[where[start]] == 0:      # the cell at lag 0: no later step reads c_{T−1}
            raise ValueError(f"{self.model}: ‖∂L/∂{'c' if cell else 'h'}‖ is 0 at lag {start}, so there is no ratio "
                             "to it; measure from a later lag")
        return float(values[where[lag]] / values[where[start]])

    def as_dict(self) -> dict:
        d = {"model": self.model, "label": self.label, "lags": self.lags.tolist(), "norms": self.norms.tolist()}
        if self.cell_norms is not None:
            d["cell_norms"] = self.cell_norms.tolist()
        return d


def as_float64(net: TaskNet) -> TaskNet:
    """A float64 copy of a task network (same weights), so tiny gradients do not underflow."""
    copy = TaskNet(net.kind, net.rnn.input_size, net.rnn.hidden_size, net.head.out_features, net.readout,
                   seed=0, dtype=np.float64, backend=net.rnn.backend)
    copy.load_state_dict(net.state_dict())
    return copy


def whole_lags(lags) -> np.ndarray:
    """``lags`` as sorted unique ints, refusing what ``astype(int)`` would truncate (2.7 → 2) or choke on (NaN)."""
    values = np.atleast_1d(np.asarray(lags))
    if values.size == 0:
        raise ValueError("lags must hold at least one lag (or be None for 0, 5, 10, …)")
    if values.dtype == bool or values.dtype.kind not in "iuf" or not np.all(np.isfinite(values)) \
            or not np.all(values == np.round(values)):
        raise ValueError(f"lags must be whole numbers of steps, got {values.tolist()}")
    return np.unique(values.astype(int))


def lag_profile(net: TaskNet, task: Task, batch: Batch, lags=None, label: str = "") -> LagProfile:
    """Measure ‖∂L/∂h_{T−1−lag}‖ for each lag (default: 0, 5, 10, … up to T − 1) on ``batch``.

    ``net`` must have one layer and readout "last"; ``task.loss`` gives the loss at the last step.
    """
    if net.readout != "last" or net.rnn.num_layers != 1 or net.rnn.bidirectional:
        raise ValueError("lag_profile needs a one-layer, one-direction network read at the last step")
    if batch.lengths is not None:
        raise ValueError("lag_profile needs equal-length sequences (batch.lengths None)")
    net = as_float64(net)
    x = batch.x.astype(np.float64)                                    # (T, B, I)
    T, B, _ = x.shape
    lags = np.arange(0, T, 5) if lags is None else whole_lags(lags)
    if lags.min() < 0 or lags.max() > T - 1:
        raise ValueError(f"lags must lie in [0, T-1={T - 1}], got {lags.min()}…{lags.max()}")
    rnn, head = net.rnn, net.head
    _, _, trace = rnn(x, return_trace=True)
    is_lstm = "c" in trace
    norms, cnorms = [], []
    for lag in lags:
        t = T - 1 - int(lag)
        if lag == 0:
            y = trace["h"][0, 0]                                      # (T, B, H)
            out = head(y[-1])
            _, dout = task.loss(out, batch)
            dh = head.backward(dout)                                  # ∂L/∂h_{T−1}
            dc = np.zeros_like(dh)
        else:
            h_t = trace["h"][0, 0, t][None]                           # (1, B, H)
            state = (h_t, trace["c"][0, 0, t][None]) if is_lstm else h_t
            y, _ = rnn(x[t + 1:], state)                              # the suffix, started from (h_t, c_t)
            out = head(y[-1])
            _, dout = task.loss(out, batch)
            dy = np.zeros_like(y)
            dy[-1] = head.backward(dout)
            _, dstate = rnn.backward(dy)
            dh, dc = (dstate[0][0], dstate[1][0]) if is_lstm else (dstate[0], None)
        norms.append(np.linalg.norm(dh, axis=-1).mean())
        if is_lstm:
            cnorms.append(np.linalg.norm(dc, axis=-1).mean())
    return LagProfile(model=net.kind, lags=lags, norms=np.array(norms),
                      cell_norms=np.array(cnorms) if is_lstm else None, label=label)


@dataclass
class GradientStudy:
    """Lag profiles at initialisation and after training on the adding problem, per model."""

    length: int
    profiles: list = field(default_factory=list)     # [LagProfile]
    training: dict = field(default_factory=dict)     # model -> test metrics after training
    nets: dict = field(default_factory=dict)         # model -> the trained network

    def get(self, model: str, label: str) -> LagProfile:
        for p in self.profiles:
            if p.model == model and p.label == label:
                return p
        raise KeyError(f"no profile for {model} {label}")


def gradient_study(models=("rnn", "lstm"), length: int = 200, steps: int = 3000, hidden: int | None = None,
                   batch: int = 32, seed: int = 0, lags=None, progress: bool = False, backend: str = "auto",
                   nets: dict | None = None) -> GradientStudy:
    """‖∂L/∂h_t‖ against lag for each model, at initialisation and after at most ``steps`` of training on the
    adding problem of length ``length`` (stopping once the validation MSE < 0.01; ``steps=0``: initialisation
    only), measured on ``batch`` probe sequences.  ``models`` is a model name or a sequence of them.  ``nets`` may
    supply already trained task networks by model name instead of training them."""
    from ..tasks.adding import AddingProblem
    from ..tasks.train import run_task, settings

    if isinstance(models, str):
        models = (models,)
    if not whole(batch, 1):
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    task = AddingProblem(length)
    probe = task.sample(batch, np.random.default_rng([seed, 4]))
    study = GradientStudy(length=length)
    for kind in models:
        cfg = settings("adding", hidden=hidden)
        H = cfg["hidden"]
        init = TaskNet(kind, task.input_size, H, task.output_size, "last", seed=seed, backend=backend,
                       forget_bias=cfg["forget_bias"])        # the very network run_task starts from
        study.profiles.append(lag_profile(init, task, probe, lags, label="initialisation"))
        trained = (nets or {}).get(kind)
        if trained is None and steps:
            res = run_task(task, kind, steps=steps, hidden=H, seed=seed, progress=progress, backend=backend)
            trained = res.net
            study.training[kind] = {**res.metrics, "steps": res.steps}
        if trained is not None:
            study.nets[kind] = trained
            study.profiles.append(lag_profile(trained, task, probe, lags, label="trained"))
    return study
