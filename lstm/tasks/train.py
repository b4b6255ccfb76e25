"""Train a recurrent network on a long-time-lag task and report its test metric beside the published baseline.

    result = run_task("adding", "lstm", length=200, steps=3000, seed=0)
    result.metrics["test_mse"], result.baseline.value, result.solved

Every batch is a pure function of ``(seed, step)`` (fresh sequences each step, drawn from the task's generator),
the validation and test sets are fixed draws from their own streams, so a seed gives the same run on every
machine.  Optimiser: Adam with global-norm gradient clipping; LSTMs start with a positive forget-gate bias (Gers
et al. 2000; Jozefowicz et al. 2015), per task in :data:`DEFAULTS`.  Training stops early once the validation set
meets the task's criterion (``stop_when_solved``); the test metric is measured on the separate test set at the end.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field

import numpy as np

from .._values import whole
from ..nn.grad_mode import no_grad
from .base import Baseline, Batch, Task
from .net import MODELS, TaskNet
from .registry import make_task

# Per-task defaults: sequence length, hidden units, batch, Adam learning rate, LSTM forget-gate bias at init, step
# budget, evaluation cadence, validation and test set sizes.  Chosen so that each LSTM run fits in ~10 minutes on
# 2 cores; the evidence (commands, seeds, results) is in benchmarks/TASKS.md.  A forget bias of 3 (f ≈ 0.95 at
# init) where every example has a lag of 50+ steps: with +1 (f ≈ 0.73) the error signal shrinks ~0.73^50 ≈ 1e-7
# before training has raised f, and temporal order did not leave chance level in 3,000 steps.  The 1997 LSTM had
# no forget gate at all (f ≡ 1).  ``early_stop``: stop once the validation set meets the criterion (default True);
# off for copy, whose criterion (beat the memoryless baseline) is a floor to clear by a margin, not a goal.
DEFAULTS = {
    "adding": dict(length=200, hidden=32, batch=64, lr=1e-2, forget_bias=1.0, steps=4000, eval_every=100,
                   val_size=512, test_size=2000),
    "copy": dict(length=100, hidden=64, batch=64, lr=1e-2, forget_bias=3.0, steps=3000, eval_every=100,
                 val_size=256, test_size=1000, early_stop=False),
    "temporal_order": dict(length=None, hidden=32, batch=32, lr=1e-2, forget_bias=3.0, steps=3000, eval_every=100,
                           val_size=512, test_size=2560),
    "reber": dict(length=None, hidden=16, batch=32, lr=1e-2, forget_bias=1.0, steps=3000, eval_every=100,
                  val_size=256, test_size=256),
}


@dataclass
class TaskResult:
    task: str
    model: str
    length: int | None
    seed: int
    config: dict                      # hidden, batch, lr, steps (budget), clip_norm, forget_bias
    steps: int                        # steps actually taken
    seconds: float
    metrics: dict                     # test metrics (test_mse / test_accuracy / test_loss ...)
    baseline: Baseline
    solved: bool
    curve: list = field(default_factory=list)     # [(step, validation metrics)]
    history: list = field(default_factory=list)   # trainer records: step, loss, grad_norm, ...
    net: TaskNet | None = None

    def summary(self) -> dict:
        """One flat JSON-able dict: the test metrics under plain names, the baseline, and the run's settings."""
        out = {"task": self.task, "model": self.model, "length": self.length, "seed": self.seed,
               "steps": self.steps, "seconds": round(self.seconds, 1), **self.metrics,
               "baseline": self.baseline.value, "baseline_metric": self.baseline.metric,
               "criterion": self.baseline.target, "solved": self.solved}
        out.update({k: v for k, v in self.config.items() if k not in out})
        return out


@no_grad()
def predict(net: TaskNet, batch: Batch, chunk: int = 512) -> np.ndarray:
    """The network's outputs on ``batch`` in eval mode, ``chunk`` sequences at a time (bounded memory)."""
    was = net.training
    net.eval()
    try:
        outs = []
        for a in range(0, batch.size, chunk):
            lengths = None if batch.lengths is None else batch.lengths[a:a + chunk]
            outs.append(net(batch.x[:, a:a + chunk], lengths))
        return np.concatenate(outs, axis=0 if net.readout == "last" else 1)
    finally:
        net.train(was)


def settings(task: str, **overrides) -> dict:
    """The defaults for ``task`` with the non-None ``overrides`` applied."""
    if task not in DEFAULTS:
        raise ValueError(f"task must be one of {', '.join(DEFAULTS)}, got {task!r}")
    cfg = dict(DEFAULTS[task])
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    return cfg


def check_settings(cfg: dict, seed) -> None:
    """Refuse, before anything is built, the values that would otherwise fail deep inside NumPy (an empty or
    negative batch, a negative seed) or overflow the float32 forget-gate bias to ±inf."""
    for name, least, value in (("batch", 1, cfg["batch"]), ("val_size", 1, cfg["val_size"]),
                               ("test_size", 1, cfg["test_size"]), ("seed", 0, seed)):
        if not whole(value, least):
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    bias = cfg["forget_bias"]
    if not (isinstance(bias, numbers.Real) and abs(bias) <= float(np.finfo(np.float32).max)):
        raise ValueError(f"forget_bias must be a finite number within float32 range (|b| <= 3.4e38; beyond ±20 "
                         f"the gate is already saturated), got {bias!r}")


def run_task(task: str | Task, model: str = "lstm", *, length: int | None = None, steps: int | None = None,
             hidden: int | None = None, batch: int | None = None, lr: float | None = None, clip_norm: float = 1.0,
             seed: int = 0, eval_every: int | None = None, val_size: int | None = None,
             test_size: int | None = None, stop_when_solved: bool | None = None, forget_bias: float | None = None,
             progress: bool = True, backend: str = "auto", callbacks=()) -> TaskResult:
    """Train ``model`` ("lstm", "gru", "rnn") on ``task`` and evaluate it on a fresh test set.

    Arguments left as None take the task's value from :data:`DEFAULTS`.  ``batch``, ``val_size`` and ``test_size``
    must be integers >= 1, ``seed`` an integer >= 0 and ``forget_bias`` finite in float32 (the layer's dtype).
    """
    from ..optim import Adam
    from ..train import Trainer

    name = task if isinstance(task, str) else task.name
    if length is not None and not isinstance(task, str):
        raise ValueError(f"length={length!r} is for a task given by name; this {type(task).__name__} already has its "
                         f"length: build it with the length you want, or pass the name {name!r}")
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    cfg = settings(name, length=length, steps=steps, hidden=hidden, batch=batch, lr=lr, eval_every=eval_every,
                   val_size=val_size, test_size=test_size, forget_bias=forget_bias)
    forget_bias = cfg["forget_bias"]
    check_settings(cfg, seed)
    if stop_when_solved is None:
        stop_when_solved = cfg.get("early_stop", True)
    t = make_task(name, cfg["length"]) if isinstance(task, str) else task
    net = TaskNet(model, t.input_size, cfg["hidden"], t.output_size, t.readout, seed=seed, forget_bias=forget_bias,
                  backend=backend)
    val = t.sample(cfg["val_size"], np.random.default_rng([seed, 2]))
    test = t.sample(cfg["test_size"], np.random.default_rng([seed, 3]))

    def batches(step: int) -> Batch:
        return t.sample(cfg["batch"], np.random.default_rng([seed, 1, step]))

    def train_step(b: Batch, carry):
        out = net(b.x, b.lengths)
        loss, dout = t.loss(out, b)
        net.backward(dout)
        return loss, None

    curve: list = []

    def evaluate() -> float:
        metrics = t.evaluate(predict(net, val), val)
        curve.append((trainer.step, metrics))          # the trainer counts the step before validating
        return metrics.get("test_loss", metrics.get("test_mse"))

    def on_step(trainer, event, info):
        if event == "step" and "val_loss" in info and stop_when_solved and t.solved(curve[-1][1]):
            return False
        return None

    trainer = Trainer(net, Adam(net.parameters(), lr=cfg["lr"]), train_step, batches, steps=cfg["steps"],
                      evaluate=evaluate, eval_every=cfg["eval_every"], clip_norm=clip_norm,
                      callbacks=[on_step, *callbacks], progress=progress, items_per_step=cfg["batch"],
                      restore_best=not stop_when_solved)
    t0 = time.perf_counter()
    res = trainer.fit()
    seconds = time.perf_counter() - t0
    metrics = t.evaluate(predict(net, test), test)
    config = {"hidden": cfg["hidden"], "batch": cfg["batch"], "lr": cfg["lr"], "budget": cfg["steps"],
              "clip_norm": clip_norm, "forget_bias": forget_bias if model == "lstm" else None,
              "parameters": net.num_parameters(), "test_size": cfg["test_size"]}
    return TaskResult(task=name, model=model, length=getattr(t, "length", None), seed=seed, config=config,
                      steps=res.steps, seconds=seconds, metrics=metrics, baseline=t.baseline(),
                      solved=t.solved(metrics), curve=curve, history=res.history, net=net)
