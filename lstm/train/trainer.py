"""The training loop: steps, clipping, schedules, validation, early stopping, checkpoints, progress, metrics.

The trainer knows nothing about the model's shape.  It is given

- ``train_step(batch, carry) -> (loss, carry)``: forward + backward for one batch, leaving gradients in
  ``model.grads``; ``carry`` is the recurrent state passed between chunks for truncated BPTT (a tuple of arrays, or
  None) — plain arrays, so no gradient crosses chunks;
- ``batches(step) -> batch``: a pure function of the global step number (see :mod:`lstm.data.batching`), which is
  what makes ``resume`` exact;
- optionally ``evaluate() -> float``: a validation loss (run in eval mode, so dropout is off).

One step is: ``loss, carry = train_step(batches(step), carry)`` → stop if the loss is not finite → clip gradients
(stop if their norm is not finite) → ``optimizer.step(model.grads)`` → ``schedule.step()``.  A NaN validation loss
is never the best one.  Every ``eval_every`` steps (and once more when the budget
ends between two evaluations) it validates, keeps the best weights, and stops early after ``patience``
evaluations without improvement (0 or 1: at the first).  With ``out_dir`` it writes ``last.safetensors`` (every
``checkpoint_every`` steps and at the end), ``best.safetensors`` and a ``metrics.jsonl`` log (one JSON object per
line: step, loss, lr, grad_norm, val_loss, seconds).  A fresh run in an ``out_dir`` holding an earlier run's files
sets them aside and deletes them at its first checkpoint; if it fails before that, they are put back as they were
(:mod:`lstm.io.set_aside`).
"""

from __future__ import annotations

import json
import math
import numbers
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._english import article
from .._values import whole
from ..io.safefile import nearest_existing, write_atomic
from ..io.set_aside import SetAside, put_back_leftover
from ..nn.grad_mode import no_grad
from ..optim import ReduceLROnPlateau, _checks, clip_grad_norm
from . import checkpoint as ckpt


_RUN_FILES = ("metrics.jsonl", "best.safetensors", "last.safetensors")     # what a run writes in out_dir


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the step and the last good checkpoint (``what``, without
    the advice, which a command line words in its own options)."""

    def __init__(self, what: str):
        super().__init__(f"{what}; lower the learning rate or set clip_norm")
        self.what = what


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during :meth:`Trainer.fit`.  An interrupt can fall between two parameters' updates, so the model is
    first set to weights training actually reached: ``restored`` says which ("the best validated weights (step 40)"
    or "the last checkpoint's weights (step 50)"), None when there were none yet (the model is then as it was).
    ``checkpoint``: the resumable checkpoint the run has written, None while it has written none."""

    def __init__(self, step: int, restored: str | None, checkpoint: Path | None = None):
        super().__init__(f"interrupted at step {step}")
        self.step, self.restored, self.checkpoint = step, restored, checkpoint


@dataclass
class TrainResult:
    steps: int                          # optimizer steps completed in total
    stopped: str                        # "steps", "minutes", "early_stopping", "callback"
    final_loss: float                   # the last training loss
    best_val: float | None = None
    best_step: int | None = None
    history: list[dict] = field(default_factory=list)   # the metrics records of this call


class Trainer:
    """Fit ``model`` with ``optimizer``; see the module docstring for the step contract.

    Parameters: ``steps`` (total optimizer steps) and/or ``minutes`` (wall-clock budget); ``clip_norm`` (global
    2-norm clipping); ``schedule`` (any :mod:`lstm.optim` schedule; ``ReduceLROnPlateau`` is stepped with the
    validation loss); ``evaluate``/``eval_every``/``patience``/``restore_best``; ``out_dir``/``checkpoint_every``;
    ``callbacks``: callables ``cb(trainer, event, info)`` for events "step", "eval", "checkpoint", "end" — return
    ``False`` to stop; ``progress``: a progress bar (rich) with step, loss, throughput and ETA;
    ``val_format``: how the bar shows the validation value (``"val {:.4f} nats"``, ``"val error {:.1%}"``);
    ``items_per_step``: for throughput in items/s (e.g. tokens per batch); ``run_key``: JSON-able facts a checkpoint
    must share with this run to be resumed (e.g. a digest of the vocabulary whose rows the embedding holds), saved
    with every checkpoint and compared on resume.
    """

    def __init__(self, model, optimizer, train_step, batches, *, steps: int | None = None,
                 minutes: float | None = None, evaluate=None, eval_every: int = 100, patience: int | None = None,
                 restore_best: bool = True, clip_norm: float | None = None, schedule=None, out_dir=None,
                 checkpoint_every: int | None = None, callbacks=(), progress: bool = True,
                 items_per_step: int | None = None, log_every: int = 1, run_key: dict | None = None,
                 val_format: str = "val loss {:.4f}"):
        if steps is None and minutes is None:
            raise ValueError("give a training budget: steps=N and/or minutes=M")

        if steps is not None and not whole(steps):
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, numbers.Real)
                                    or not minutes > 0):
            raise ValueError(f"minutes must be positive (a number of minutes), got {minutes!r}")
        every = {"eval_every": eval_every, "log_every": log_every, "checkpoint_every": checkpoint_every}
        for name, value in every.items():
            if not (whole(value) or (value is None and name == "checkpoint_every")):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if patience is not None and not whole(patience, 0):
            raise ValueError(f"patience must be a non-negative integer (evaluations without improvement) or None, "
                             f"got {patience!r}")
        if evaluate is None and patience is not None:
            raise ValueError(f"patience={patience} counts evaluations without improvement, but there is no evaluate; "
                             "pass evaluate=... (a validation loss) or patience=None")
        if evaluate is None and isinstance(schedule, ReduceLROnPlateau):
            raise ValueError("ReduceLROnPlateau is stepped with the validation loss, but there is no evaluate; pass "
                             "evaluate=... (a validation loss) or another schedule")
        if clip_norm is not None:
            clip_norm = _checks.real("clip_norm", clip_norm, low=0.0)
        if not callable(train_step):
            raise TypeError(f"train_step must be a function (batch, carry) -> (loss, carry), got {_a(train_step)}")
        if not callable(batches):
            raise TypeError("batches must be a function of the step number returning a batch (e.g. "
                            f"lstm.data.StreamBatches), got {_a(batches)}")
        if evaluate is not None and not callable(evaluate):
            raise TypeError(f"evaluate must be a function returning the validation loss, or None; got {_a(evaluate)}")
        callbacks = _check_callbacks(callbacks)
        try:
            val_format.format(0.5)
        except (AttributeError, IndexError, KeyError, ValueError):
            raise ValueError(f"val_format must be a format string for one number, e.g. 'val {{:.4f}} nats', got "
                             f"{val_format!r}") from None
        if schedule is not None and getattr(schedule, "optimizer", optimizer) is not optimizer:
            raise ValueError("schedule drives another optimizer than the trainer's; build it on the optimizer given "
                             "to Trainer")
        self.model, self.optimizer, self.train_step, self.batches = model, optimizer, train_step, batches
        self.steps, self.minutes = steps, minutes
        self.evaluate, self.eval_every, self.patience, self.restore_best = evaluate, eval_every, patience, restore_best
        self.clip_norm, self.schedule = clip_norm, schedule
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.checkpoint_every = checkpoint_every or eval_every
        self.callbacks, self.progress = callbacks, progress
        self.items_per_step, self.log_every, self.run_key = items_per_step, log_every, run_key
        self.val_format = val_format
        # run state (what a checkpoint saves)
        self.step = 0
        self.carry = None
        self.best_val: float | None = None
        self.best_step: int | None = None
        self.bad_evals = 0
        self._best_params: dict | None = None
        self._previous = None          # the files of the run out_dir held before, while this one has no checkpoint

    # -- paths -------------------------------------------------------------------------------------------------
    @property
    def last_path(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / "last.safetensors"

    @property
    def best_path(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / "best.safetensors"

    @property
    def log_path(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / "metrics.jsonl"

    # -- checkpoints -------------------------------------------------------------------------------------------
    def _trainer_state(self) -> dict:
        state = {"step": self.step, "best_val": self.best_val, "best_step": self.best_step, "bad_evals": self.bad_evals}
        if self.run_key is not None:
            state["run"] = self.run_key
        return state

    def save_checkpoint(self, path=None) -> Path:
        path = Path(path) if path is not None else self.last_path
        ckpt.save(path, self.model, self.optimizer, self.schedule, carry=self.carry, trainer=self._trainer_state())
        self._emit("checkpoint", {"path": str(path), "step": self.step})
        return path

    def load_checkpoint(self, path=None) -> None:
        """Restore model, optimizer, schedule, RNG states, carried state and counters from a checkpoint."""
        path = Path(path) if path is not None else self.last_path
        c = ckpt.load(path)
        t = c.trainer
        saved = t.get("run")
        # Facts both runs recorded must agree (a checkpoint from an older version may record fewer).
        differ = "; ".join(f"{k}: {saved[k]} there, {self.run_key[k]} here" for k in sorted(set(saved or ()) & set(
            self.run_key or ())) if saved[k] != self.run_key[k])
        if differ:
            raise ValueError(f"cannot resume from {path}: it belongs to another run ({differ}); resume with the data "
                             "and options of that run, or train afresh elsewhere")
        advice = "resume with the options of the run that wrote it, or train afresh elsewhere"
        if (c.schedule is None) != (self.schedule is None):
            raise ValueError(f"cannot resume from {path}: it was written {'without' if c.schedule is None else 'with'} "
                             f"a learning-rate schedule and this run has {'none' if c.schedule else 'one'}; {advice}")
        try:
            c.restore(self.model, self.optimizer, self.schedule)
        except ValueError as err:
            raise ValueError(f"cannot resume from {path}: {err}; {advice}") from None
        self.step, self.best_val, self.best_step = int(t["step"]), t.get("best_val"), t.get("best_step")
        self.bad_evals = int(t.get("bad_evals", 0))
        self.carry = None if c.carry is None else tuple(c.carry)
        self._best_params = None
        if self.best_path is not None and self.best_path.exists():
            self._best_params = ckpt.load(self.best_path).params
        if self.log_path is not None and self.log_path.exists():
            self._truncate_log(self.step)

    def _truncate_log(self, step: int) -> None:
        """Drop log records after ``step`` (written by a run that died before its next checkpoint)."""
        keep = [line for line in self.log_path.read_text().splitlines() if _log_step(line) <= step]
        write_atomic(self.log_path, "".join(line + "\n" for line in keep).encode())

    # -- the loop ----------------------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainResult:
        """Train until the step budget, the time budget, early stopping or a callback says stop.

        ``resume=True`` continues from ``out_dir/last.safetensors`` if it exists (else starts fresh).
        """
        if resume and self.out_dir is None:
            raise ValueError("resume=True needs out_dir, where the last checkpoint is kept")
        if self.out_dir is not None:
            self._check_out_dir()
            put_back_leftover(self.out_dir, _RUN_FILES)    # set aside by a run killed before its first checkpoint
        if resume:
            if self.last_path.exists():
                self.load_checkpoint()
        self._previous = None
        if self.out_dir is not None and self.step == 0:   # a fresh run: another run's files would mislead a resume,
            self._previous = SetAside(self.out_dir, _RUN_FILES)   # but stay until it has written a checkpoint
        try:
            return self._fit()
        except BaseException as err:
            if self._previous is not None and not (isinstance(err, TrainingInterrupted) and err.restored):
                self._previous.put_back()                  # ended before its first checkpoint: the old run stays
            raise
        finally:
            if self._previous is not None:
                self._previous.drop()
                self._previous = None

    def _fit(self) -> TrainResult:
        self.model.train()
        history: list[dict] = []
        start_time = time.perf_counter()
        stopped, loss = "steps", float("nan")
        bar = _Progress(self.steps, self.step, self.items_per_step, self.val_format) if self.progress else None
        blas = _single_threaded_numpy_blas()
        blas.__enter__()
        try:
            while self.steps is None or self.step < self.steps:
                if (self.minutes is not None and history                  # a call always takes one step at least
                        and time.perf_counter() - start_time > 60 * self.minutes):
                    stopped = "minutes"
                    break
                loss, self.carry = self.train_step(self.batches(self.step), self.carry)
                loss = float(loss)
                if not math.isfinite(loss):
                    self._diverged(loss)
                grad_norm = self._clip_or_measure(self.model.grads)
                if not math.isfinite(grad_norm):         # stop before the optimizer writes it into every weight
                    self._diverged(grad_norm, "gradient norm")
                lr = float(self.optimizer.lr)                # the rate this step uses (the log records it)
                self.optimizer.step(self.model.grads)
                if self.schedule is not None and not isinstance(self.schedule, ReduceLROnPlateau):
                    self.schedule.step()
                self.step += 1
                record = {"step": self.step, "loss": loss, "lr": lr, "grad_norm": grad_norm,
                          "seconds": round(time.perf_counter() - start_time, 4)}
                if self.evaluate is not None and self.step % self.eval_every == 0:
                    record["val_loss"] = self._validate()
                    if self.patience is not None and self.bad_evals >= max(self.patience, 1):
                        stopped = "early_stopping"
                if self.step % self.log_every == 0 or "val_loss" in record:
                    self._log(record)
                history.append(record)
                if bar is not None:
                    bar.update(self.step, loss, record.get("val_loss"))
                if self.out_dir is not None and self.step % self.checkpoint_every == 0:
                    self.save_checkpoint()
                    if self._previous is not None:
                        self._previous.drop()              # replaced now: this run can be resumed
                if self._emit("step", record) is False:
                    stopped = "callback"
                if stopped != "steps":
                    break
            if (stopped in ("steps", "minutes") and self.evaluate is not None and history
                    and "val_loss" not in history[-1]):
                val = self._validate()                      # the budget ended between evaluations
                history[-1]["val_loss"] = val
                self._log({"step": self.step, "val_loss": val, "seconds": round(time.perf_counter() - start_time, 4)})
        except KeyboardInterrupt:
            kept = self.last_path if self.last_path is not None and self.last_path.exists() else None
            raise TrainingInterrupted(self.step, self._restore_reached(), kept) from None
        finally:
            blas.__exit__(None, None, None)
            if bar is not None:
                bar.close()
        if self.out_dir is not None:
            self.save_checkpoint()
        if self.restore_best and self._best_params is not None:
            self.model.load_state_dict(self._best_params)
        result = TrainResult(steps=self.step, stopped=stopped, final_loss=loss, best_val=self.best_val,
                             best_step=self.best_step, history=history)
        self._emit("end", {"result": result})
        return result

    def _clip_or_measure(self, grads: dict) -> float:
        """The global gradient 2-norm (before clipping, when ``clip_norm`` is set)."""
        if self.clip_norm:
            return float(clip_grad_norm(grads, self.clip_norm))
        return math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))

    def _validate(self) -> float:
        self.model.eval()
        try:
            with no_grad():                        # validation never runs backward: keep nothing for it
                val = float(self.evaluate())
        finally:
            self.model.train()
        if isinstance(self.schedule, ReduceLROnPlateau):
            self.schedule.step(val)
        if not math.isnan(val) and (self.best_val is None or val < self.best_val):   # NaN is never the best
            self.best_val, self.best_step, self.bad_evals = val, self.step, 0
            self._best_params = self.model.state_dict()
            if self.best_path is not None:
                ckpt.save(self.best_path, self.model, trainer=self._trainer_state())
        else:
            self.bad_evals += 1
        self._emit("eval", {"step": self.step, "val_loss": val, "best_val": self.best_val})
        return val

    def _restore_reached(self) -> str | None:
        """Load the best validated weights (with ``restore_best``), else the last checkpoint's; say which."""
        if self.restore_best and self._best_params is not None:
            self.model.load_state_dict(self._best_params)
            return f"the best validated weights (step {self.best_step})"
        if self.last_path is not None and self.last_path.exists():
            c = ckpt.load(self.last_path)
            self.model.load_state_dict(c.params)
            return f"the last checkpoint's weights (step {c.trainer.get('step')})"
        return None

    def _diverged(self, value: float, what: str = "loss") -> None:
        where = "no checkpoint was written"
        if self._previous is not None and self._previous.held:
            where += f" (the run {self.out_dir} held before is kept)"
        if self.last_path is not None and self.last_path.exists():
            kept = ckpt.load(self.last_path).trainer.get("step")
            where = f"the last good checkpoint (step {kept}) is kept at {self.last_path}"
        raise TrainingDiverged(f"training {what} became {value} at step {self.step + 1}; {where}")

    def _check_out_dir(self) -> None:
        """Make ``out_dir`` or refuse it in one line, before any training time is spent."""
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            blocker = nearest_existing(self.out_dir)           # where making the folder stopped: a file
            raise NotADirectoryError(f"out_dir {self.out_dir} cannot be a folder: {blocker} is a file; give another "
                                     "out_dir") from None
        except PermissionError:
            raise PermissionError(f"out_dir {self.out_dir} cannot be created (permission denied); give a folder you "
                                  "can write to") from None
        if not os.access(self.out_dir, os.W_OK | os.X_OK):
            raise PermissionError(f"out_dir {self.out_dir} is not writable; give a folder you can write to")

    def _log(self, record: dict) -> None:
        if self.log_path is None:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def _emit(self, event: str, info: dict):
        verdict = None
        for cb in self.callbacks:
            if cb(self, event, info) is False:
                verdict = False
        return verdict


def _a(value) -> str:
    """``value``'s type with its article, for messages: "a list", "an int"."""
    name = type(value).__name__
    return f"{article(name)} {name}"


def _check_callbacks(callbacks) -> list:
    """``callbacks`` as a list of callables (None: no callbacks)."""
    if callbacks is None:
        return []
    if callable(callbacks):
        raise TypeError("callbacks must be a list of functions cb(trainer, event, info), got a single function: pass "
                        f"[{getattr(callbacks, '__name__', 'it')}]")
    try:
        callbacks = list(callbacks)
    except TypeError:
        raise TypeError(f"callbacks must be a list of functions cb(trainer, event, info), "
                        f"got {_a(callbacks)}") from None
    for i, cb in enumerate(callbacks):
        if not callable(cb):
            raise TypeError(f"callbacks must be functions cb(trainer, event, info), got {_a(cb)} at index {i}")
    return callbacks


def _log_step(line: str) -> float:
    """The step of one metrics.jsonl line; infinity for a line a crash cut short (or any unreadable one)."""
    try:
        step = json.loads(line).get("step", 0)
    except (ValueError, AttributeError):
        return math.inf
    return step if isinstance(step, numbers.Real) else math.inf


def _single_threaded_numpy_blas():
    """A context keeping NumPy's BLAS on one thread (a no-op without threadpoolctl).

    The compiled recurrent kernels run their own two threads; NumPy's OpenBLAS workers keep spinning after each
    small product (embedding, output layer) and take a core from them — measured on a 2-core machine, a
    character-model step (2 x 256, seq 100, batch 32) went from 154 ms to 110 ms with this limit.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


class _Progress:
    """A rich progress bar: step / total, loss, validation loss, throughput and ETA."""

    def __init__(self, total: int | None, start: int, items_per_step: int | None, val_format: str):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        unit = "items/s" if items_per_step else "steps/s"
        self._items = items_per_step or 1
        self._progress = Progress(
            TextColumn("step {task.completed}/{task.total}" if total else "step {task.completed}"), BarColumn(),
            TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[val]}"),
            TextColumn(f"{{task.fields[rate]}} {unit}"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), transient=False,
            # On stderr, as progress bars go, so stdout carries only results (`lstm forecast ... > out.txt`, a pipe
            # into head); lines printed meanwhile (samples) appear above the bar only when stdout is the terminal.
            console=Console(stderr=True), redirect_stdout=sys.stdout.isatty(),
        )
        self._progress.start()
        self._task = self._progress.add_task("train", total=total, completed=start, loss="-", val="", rate="-")
        self._t0, self._s0, self._val_format = time.perf_counter(), start, val_format

    def update(self, step: int, loss: float, val: float | None) -> None:
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        rate = (step - self._s0) * self._items / elapsed
        fields = {"loss": f"{loss:.4f}", "rate": f"{rate:,.0f}" if rate >= 100 else f"{rate:.1f}"}
        if val is not None:
            fields["val"] = self._val_format.format(val)
        self._progress.update(self._task, completed=step, **fields)

    def close(self) -> None:
        self._progress.stop()
