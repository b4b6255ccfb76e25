"""Trainer edge cases a PyTorch/Keras user runs into: NaN validation losses and gradients, refused resumes that must
leave everything as it was, damaged logs, unusable output folders, and arguments refused up front in one line."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm.optim import SGD, Adam, CosineAnnealingLR, StepLR
from lstm.train import Trainer, TrainingDiverged, checkpoint

sys.path.insert(0, str(Path(__file__).parent))
from tiny_lm import TinyLM, corpus_ids, stream  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return corpus_ids(1500)


def tiny(data, out_dir=None, *, opt=None, schedule=None, hidden=4, seed=0, **kw):
    """A 4-unit model on 2 x 5 chunks: a step takes well under a millisecond."""
    ids, vocab = data
    model = TinyLM(vocab, emb=4, hidden=hidden, seed=seed)
    optimizer = (opt or (lambda m: Adam(m, lr=1e-2)))(model)
    kw.setdefault("progress", False)
    trainer = Trainer(model, optimizer, model.train_step, stream(ids, 2, 5), out_dir=out_dir,
                      schedule=None if schedule is None else schedule(optimizer), **kw)
    return model, trainer


def finite(model) -> bool:
    return all(np.isfinite(v).all() for v in model.parameters().values())


# ---------------------------------------------------------------------------------------------------------------
# NaN in validation and in gradients
# ---------------------------------------------------------------------------------------------------------------

def test_a_nan_validation_loss_is_never_the_best(data):
    """Keras' EarlyStopping starts from best=inf and needs ``current < best``: NaN never improves.  A NaN first
    evaluation must not become the best forever (stopping an improving run and restoring the NaN weights)."""
    vals = iter([float("nan"), 3.0, 2.0, 1.0, 0.5])
    model, trainer = tiny(data, steps=10, evaluate=lambda: next(vals), eval_every=2, patience=2)
    result = trainer.fit()
    assert result.stopped == "steps" and result.steps == 10
    assert result.best_val == 0.5 and result.best_step == 10
    assert math.isnan(result.history[1]["val_loss"])                  # logged as it was, just never the best


def test_only_nan_validation_losses_leave_no_best(data):
    model, trainer = tiny(data, steps=4, evaluate=lambda: float("nan"), eval_every=2, patience=5)
    result = trainer.fit()
    assert result.best_val is None and result.best_step is None and trainer.bad_evals == 2


@pytest.mark.parametrize("at_step", [1, 2, 4])
def test_a_nonfinite_gradient_stops_before_the_weights_are_poisoned(tmp_path, data, at_step):
    """A finite loss with a NaN gradient (an overflow in backward) must stop training like a NaN loss, before the
    optimizer writes NaN into every weight: otherwise the checkpoint of that step holds NaN weights while the
    error calls it "the last good checkpoint", and at the very last step nothing notices at all."""
    model, trainer = tiny(data, tmp_path, steps=4, checkpoint_every=1, clip_norm=None)
    real = trainer.train_step

    def poisoned(batch, carry):
        loss, carry = real(batch, carry)
        if trainer.step == at_step - 1:
            model.grads["rnn.weight_hh_l0"][0, 0] = np.nan
        return loss, carry

    trainer.train_step = poisoned
    with pytest.raises(TrainingDiverged, match=f"gradient norm became nan at step {at_step}"):
        trainer.fit()
    assert finite(model)
    if at_step > 1:
        assert checkpoint.load(tmp_path / "last.safetensors").trainer["step"] == at_step - 1
        assert all(np.isfinite(v).all() for v in checkpoint.load(tmp_path / "last.safetensors").params.values())


def test_an_infinite_gradient_with_clipping_also_stops(data):
    """clip_grad_norm scales an infinite gradient by 0, which turns it into NaN (inf * 0): stop there too."""
    model, trainer = tiny(data, steps=2, clip_norm=1.0)
    real = trainer.train_step

    def poisoned(batch, carry):
        loss, carry = real(batch, carry)
        model.grads["head.bias"][0] = np.inf
        return loss, carry

    trainer.train_step = poisoned
    with pytest.raises(TrainingDiverged, match="gradient norm became inf at step 1"):
        trainer.fit()
    assert finite(model)


# ---------------------------------------------------------------------------------------------------------------
# Resuming from a checkpoint of another configuration is refused, leaving everything untouched
# ---------------------------------------------------------------------------------------------------------------

def test_resume_with_another_optimizer_is_refused_and_changes_nothing(tmp_path, data):
    tiny(data, tmp_path, steps=2)[1].fit()
    model, trainer = tiny(data, tmp_path, steps=4, seed=5, opt=lambda m: SGD(m, lr=0.1))
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"^cannot resume from .*last.safetensors: its optimizer does not fit this "
                                         r"one \(optimizer state dict is for type 'Adam', but this optimizer is a "
                                         r"'SGD'\); resume with the options") as err:
        trainer.fit(resume=True)
    assert "\n" not in str(err.value)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items()), "the model was changed"
    assert trainer.step == 0 and trainer.optimizer.step_count == 0 and trainer.optimizer.state == {}


def test_resume_with_another_schedule_is_refused_and_changes_nothing(tmp_path, data):
    tiny(data, tmp_path, steps=2, schedule=lambda o: StepLR(o, 1, 0.5))[1].fit()
    model, trainer = tiny(data, tmp_path, steps=4, seed=5, schedule=lambda o: CosineAnnealingLR(o, 10))
    before, opt_before = model.state_dict(), trainer.optimizer.state_dict()
    with pytest.raises(ValueError, match=r"its schedule does not fit this one \(schedule state dict is for type "
                                         r"'StepLR', but this schedule is a 'CosineAnnealingLR'\)"):
        trainer.fit(resume=True)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items()), "the model was changed"
    assert trainer.optimizer.state_dict()["step"] == opt_before["step"] == 0 and trainer.optimizer.state == {}
    assert trainer.optimizer.lr == 1e-2 and trainer.schedule.last_epoch == 0


@pytest.mark.parametrize("written_with, resumed_with", [("schedule", None), (None, "schedule")])
def test_resume_must_have_a_schedule_exactly_when_the_checkpoint_has_one(tmp_path, data, written_with, resumed_with):
    """Silently dropping the saved schedule, or starting a new one at epoch 0 in the middle of a run, would not
    continue the run that was interrupted."""
    make = lambda o: StepLR(o, 1, 0.5)                                  # noqa: E731
    tiny(data, tmp_path, steps=2, schedule=make if written_with else None)[1].fit()
    model, trainer = tiny(data, tmp_path, steps=4, schedule=make if resumed_with else None)
    with pytest.raises(ValueError, match=r"cannot resume from .*: it was written (with|without) a learning-rate "
                                         r"schedule and this run has (none|one)"):
        trainer.fit(resume=True)
    assert trainer.step == 0


def test_resume_with_another_network_is_still_refused_as_such(tmp_path, data):
    tiny(data, tmp_path, steps=2)[1].fit()
    with pytest.raises(ValueError, match=r"its network does not fit this one \(shape mismatch"):
        tiny(data, tmp_path, steps=4, hidden=5)[1].fit(resume=True)


def test_resume_after_a_crash_mid_line_in_the_log(tmp_path, data):
    """A crash (or a full disk) while appending to metrics.jsonl can leave half a line; resume drops it."""
    tiny(data, tmp_path, steps=4, checkpoint_every=2)[1].fit()
    log = tmp_path / "metrics.jsonl"
    with open(log, "a") as fh:
        fh.write('{"step": 5, "lo')
    model, trainer = tiny(data, tmp_path, steps=6)
    assert trainer.fit(resume=True).steps == 6
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [1, 2, 3, 4, 5, 6]


# ---------------------------------------------------------------------------------------------------------------
# An unusable output folder is refused before the first step
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["is_a_file", "under_a_file"])
def test_an_unusable_out_dir_is_refused_before_training(tmp_path, data, where):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    out = blocker if where == "is_a_file" else blocker / "run"
    calls = []
    model, trainer = tiny(data, out, steps=3, log_every=1000, checkpoint_every=1000)
    real = trainer.train_step
    trainer.train_step = lambda b, c: (calls.append(1), real(b, c))[1]
    with pytest.raises(NotADirectoryError, match=r"^out_dir .*afile.* cannot be a folder: .*; give another out_dir"):
        trainer.fit()
    assert calls == [], "training ran before the output folder was found unusable"


def test_an_unwritable_out_dir_is_refused_before_training(tmp_path, data, monkeypatch):
    import os

    monkeypatch.setattr(os, "access", lambda path, mode, *a, **k: False)      # as for a non-root user on chmod 555
    model, trainer = tiny(data, tmp_path / "run", steps=3)
    with pytest.raises(PermissionError, match=r"^out_dir .*run is not writable; give a folder you can write to"):
        trainer.fit()
    assert trainer.step == 0


# ---------------------------------------------------------------------------------------------------------------
# Arguments refused up front, one line each: what was expected, what was given
# ---------------------------------------------------------------------------------------------------------------

def test_callbacks_none_means_no_callbacks(data):
    model, trainer = tiny(data, steps=1, callbacks=None)
    assert trainer.fit().steps == 1


@pytest.mark.parametrize("bad, exc, message", [
    (dict(minutes="5"), ValueError, r"minutes must be positive \(a number of minutes\), got '5'"),
    (dict(minutes=True), ValueError, r"minutes must be positive \(a number of minutes\), got True"),
    (dict(clip_norm=-1.0), ValueError, r"clip_norm must be a finite number in \[0.0, inf\], got -1.0"),
    (dict(clip_norm=float("nan")), ValueError, r"clip_norm must be a finite number in \[0.0, inf\], got nan"),
    (dict(clip_norm="1"), ValueError, r"clip_norm must be a real number in \[0.0, inf\], got '1'"),
    (dict(evaluate=3.0), TypeError, r"evaluate must be a function returning the validation loss, or None; got a "
                                    r"float"),
    (dict(callbacks=[print, 3]), TypeError, r"callbacks must be functions cb\(trainer, event, info\), got an int "
                                            r"at index 1"),
    (dict(callbacks=print), TypeError, r"callbacks must be a list of functions cb\(trainer, event, info\), got a "
                                       r"single function: pass \[print\]"),
])
def test_bad_trainer_arguments_are_refused_in_one_line(data, bad, exc, message):
    with pytest.raises(exc, match="^" + message) as err:
        tiny(data, **{"steps": 1, **bad})
    assert "\n" not in str(err.value)


def test_train_step_and_batches_must_be_callable(data):
    ids, vocab = data
    model = TinyLM(vocab, emb=4, hidden=4)
    with pytest.raises(TypeError, match=r"^batches must be a function of the step number returning a batch "
                                        r"\(e.g. lstm.data.StreamBatches\), got a list"):
        Trainer(model, SGD(model, lr=0.1), model.train_step, [1, 2], steps=1)
    with pytest.raises(TypeError, match=r"^train_step must be a function \(batch, carry\) -> \(loss, carry\), "
                                        r"got a NoneType"):
        Trainer(model, SGD(model, lr=0.1), None, stream(ids, 2, 5), steps=1)


def test_a_schedule_driving_another_optimizer_is_refused(data):
    """Otherwise the schedule moves an optimizer nobody steps, and the trained one keeps its lr unnoticed."""
    ids, vocab = data
    model = TinyLM(vocab, emb=4, hidden=4)
    mine, other = SGD(model, lr=0.1), SGD(model, lr=0.1)
    with pytest.raises(ValueError, match=r"^schedule drives another optimizer than the trainer's; build it on the "
                                         r"optimizer given to Trainer"):
        Trainer(model, mine, model.train_step, stream(ids, 2, 5), steps=2, schedule=StepLR(other, 1, 0.5))


def test_the_log_records_the_learning_rate_each_step_used(data, tmp_path):
    """As Lightning's LearningRateMonitor and Keras' logs: step k's record holds the lr its update was made with
    (a per-step schedule moves it after the update)."""
    model, trainer = tiny(data, tmp_path, steps=3, opt=lambda m: SGD(m, lr=1.0), log_every=1,
                          schedule=lambda o: StepLR(o, step_size=1, gamma=0.5))
    history = trainer.fit().history
    logged = [json.loads(line)["lr"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in history] == logged == [1.0, 0.5, 0.25] and trainer.optimizer.lr == 0.125


def test_the_bar_shows_the_validation_value_as_told_and_refuses_a_bad_format(data, capsys):
    model, trainer = tiny(data, steps=2, evaluate=lambda: 0.25, eval_every=1, progress=True,
                          val_format="val error {:.1%}")
    trainer.fit()
    assert "val error 25.0%" in capsys.readouterr().err
    model, trainer = tiny(data, steps=2, evaluate=lambda: 0.25, eval_every=1, progress=True)
    trainer.fit()
    assert "val loss 0.2500" in capsys.readouterr().err                # no unit it cannot know
    for bad in ("val {name}", "val {} {}", 3):
        with pytest.raises(ValueError, match="val_format must be a format string for one number"):
            tiny(data, steps=2, val_format=bad)


def test_what_needs_validation_is_refused_without_evaluate(data):
    """Keras warns that early stopping has no val_loss to watch; here it is refused before training."""
    from lstm.optim import ReduceLROnPlateau

    with pytest.raises(ValueError, match="patience=2 counts evaluations without improvement, but there is no "
                                         "evaluate"):
        tiny(data, steps=2, patience=2)
    with pytest.raises(ValueError, match="ReduceLROnPlateau is stepped with the validation loss, but there is no "
                                         "evaluate"):
        tiny(data, steps=2, schedule=lambda o: ReduceLROnPlateau(o))
    tiny(data, steps=2, evaluate=lambda: 1.0, patience=2, schedule=lambda o: ReduceLROnPlateau(o))[1].fit()


def test_a_time_budget_too_small_for_one_step_still_takes_one(data):
    """A budget that ran out before the first step saved an untrained model as if it were trained (exit 0)."""
    model, trainer = tiny(data, minutes=1e-12, evaluate=lambda: 1.0, eval_every=5)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    result = trainer.fit()
    assert result.stopped == "minutes" and result.steps == 1 and len(result.history) == 1
    assert any(not np.array_equal(v, before[k]) for k, v in model.state_dict().items())
