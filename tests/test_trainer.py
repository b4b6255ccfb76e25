"""The training kit end to end: exact resume after SIGKILL, checkpoint integrity, divergence, early stopping,
determinism, batching, and parity with the same model trained in PyTorch."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lstm.data import ShuffledBatches, StreamBatches
from lstm.io import FileFormatError
from lstm.optim import SGD, Adam
from lstm.train import Trainer, TrainingDiverged, checkpoint

sys.path.insert(0, str(Path(__file__).parent))
from tiny_lm import TinyLM, corpus_ids, stream  # noqa: E402

SCRIPT = Path(__file__).parent / "train_script.py"


@pytest.fixture(scope="module")
def data():
    return corpus_ids(4000)


def make_trainer(data, out_dir=None, steps=20, dropout=0.2, seed=3, **kw):
    ids, vocab = data
    model = TinyLM(vocab, dropout=dropout, seed=seed)
    opt = Adam(model, lr=3e-3)
    kw.setdefault("progress", False)
    trainer = Trainer(model, opt, model.train_step, stream(ids[:3500]), steps=steps,
                      evaluate=lambda: model.evaluate(ids[3500:]), eval_every=5, out_dir=out_dir, **kw)
    return model, trainer


# ---------------------------------------------------------------------------------------------------------------
# Exact resume
# ---------------------------------------------------------------------------------------------------------------

def test_sigkill_mid_run_then_resume_is_bit_identical(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run([sys.executable, str(SCRIPT), str(full), "40", "0"], check=True, timeout=120)

    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(killed), "40", "0.05"])
    log = killed / "metrics.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline:                       # wait until it is well past its first checkpoints
        if log.exists() and sum(1 for _ in log.open()) >= 14:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "final.npz").exists(), "the run finished before it could be killed"
    killed_at = checkpoint.load(killed / "last.safetensors").trainer["step"]
    assert 3 <= killed_at < 40

    subprocess.run([sys.executable, str(SCRIPT), str(killed), "40", "0", "resume"], check=True, timeout=120)
    a, b = np.load(full / "final.npz"), np.load(killed / "final.npz")
    assert sorted(a.files) == sorted(b.files)
    for name in a.files:
        assert np.array_equal(a[name], b[name]), name
    steps = [json.loads(line)["step"] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 41)), "the log holds each step exactly once after resume"


def test_resume_in_process_equals_uninterrupted(tmp_path, data):
    m_full, t_full = make_trainer(data, tmp_path / "a", steps=16, checkpoint_every=4)
    t_full.fit()
    m_part, t_part = make_trainer(data, tmp_path / "b", steps=8, checkpoint_every=4)
    t_part.fit()
    m_res, t_res = make_trainer(data, tmp_path / "b", steps=16, checkpoint_every=4, seed=99)   # other init
    t_res.fit(resume=True)
    for name, value in m_full.state_dict().items():
        assert np.array_equal(value, m_res.state_dict()[name]), name


def test_same_seed_same_bits(data):
    a, ta = make_trainer(data, steps=12)
    b, tb = make_trainer(data, steps=12)
    ta.fit()
    tb.fit()
    for name, value in a.state_dict().items():
        assert np.array_equal(value, b.state_dict()[name]), name
    c, tc = make_trainer(data, steps=12, seed=4)
    tc.fit()
    assert not np.array_equal(c.state_dict()["rnn.weight_hh_l0"], a.state_dict()["rnn.weight_hh_l0"])


# ---------------------------------------------------------------------------------------------------------------
# Checkpoints are refused when damaged, and a crash never destroys the previous one
# ---------------------------------------------------------------------------------------------------------------

def test_corrupted_or_truncated_checkpoint_is_refused_and_previous_survives(tmp_path, data, monkeypatch):
    model, trainer = make_trainer(data, tmp_path, steps=10, checkpoint_every=5)
    trainer.fit()
    last = tmp_path / "last.safetensors"
    good = last.read_bytes()
    assert checkpoint.load(last).trainer["step"] == 10

    corrupted = tmp_path / "corrupted.safetensors"
    flipped = bytearray(good)
    flipped[-10] ^= 0xFF
    corrupted.write_bytes(bytes(flipped))
    with pytest.raises(FileFormatError, match="corrupted"):
        checkpoint.load(corrupted)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(FileFormatError, match="truncated"):
        checkpoint.load(truncated)
    with pytest.raises(FileFormatError, match="truncated"):
        checkpoint.load(tmp_path / "metrics.jsonl")

    # A crash in the middle of writing the next checkpoint leaves the previous one whole.
    def crash(src, dst):
        raise OSError("simulated crash during rename")

    monkeypatch.setattr(os, "replace", crash)
    trainer.steps = 15
    with pytest.raises(OSError, match="simulated crash"):
        trainer.fit(resume=True)
    monkeypatch.undo()
    assert last.read_bytes() == good
    assert not list(tmp_path.glob(".*tmp*")), "no temporary file is left behind"
    assert checkpoint.load(last).trainer["step"] == 10


def test_newer_format_version_is_refused(tmp_path):
    from lstm.io import safefile

    safefile.save(tmp_path / "f.safetensors", {"a": np.zeros(2)}, {}, kind="lstm.checkpoint", version=7)
    with pytest.raises(FileFormatError, match="version 7; this lstm reads up to 1: upgrade"):
        checkpoint.load(tmp_path / "f.safetensors")


# ---------------------------------------------------------------------------------------------------------------
# Divergence, early stopping, callbacks, logs, progress
# ---------------------------------------------------------------------------------------------------------------

def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, data):
    model, trainer = make_trainer(data, tmp_path, steps=20, checkpoint_every=5)
    real_step = trainer.train_step

    def poisoned(batch, carry):
        loss, carry = real_step(batch, carry)
        return (float("nan") if trainer.step == 7 else loss), carry

    trainer.train_step = poisoned
    with pytest.raises(TrainingDiverged, match=r"nan at step 8; the last good checkpoint \(step 5\)"):
        trainer.fit()
    assert checkpoint.load(tmp_path / "last.safetensors").trainer["step"] == 5
    assert all(np.isfinite(v).all() for v in model.parameters().values())


def test_early_stopping_restores_the_best_weights(tmp_path, data):
    ids, vocab = data
    model = TinyLM(vocab, seed=0)
    vals = iter([3.0, 2.0, 1.0, 1.5, 1.2, 1.1, 0.5])
    snapshots = {}

    def evaluate():
        snapshots[trainer.step] = model.state_dict()
        return next(vals)

    trainer = Trainer(model, SGD(model, lr=0.1), model.train_step, stream(ids), steps=100, evaluate=evaluate,
                      eval_every=2, patience=3, out_dir=tmp_path, progress=False)
    result = trainer.fit()
    assert result.stopped == "early_stopping" and result.steps == 12
    assert result.best_step == 6 and result.best_val == 1.0
    for name, value in snapshots[6].items():
        assert np.array_equal(model.state_dict()[name], value)
    assert checkpoint.load(tmp_path / "best.safetensors").trainer["step"] == 6
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 13))
    assert [r["val_loss"] for r in records if "val_loss" in r] == [3.0, 2.0, 1.0, 1.5, 1.2, 1.1]
    assert {"loss", "lr", "grad_norm", "seconds"} <= set(records[0])


@pytest.mark.parametrize("patience,stop", [(0, 8), (1, 8), (2, 10)])
def test_patience_counts_evaluations_without_improvement_and_never_stops_an_improving_run(data, patience, stop):
    ids, vocab = data
    model = TinyLM(vocab, seed=0)
    vals = iter([3.0, 2.0, 1.0, 1.5, 1.2, 0.5, 0.4])
    trainer = Trainer(model, SGD(model, lr=0.1), model.train_step, stream(ids), steps=100,
                      evaluate=lambda: next(vals), eval_every=2, patience=patience, progress=False)
    result = trainer.fit()
    assert result.stopped == "early_stopping" and result.steps == stop and result.best_step == 6


def test_a_budget_ending_between_evaluations_validates_the_final_weights(tmp_path, data):
    ids, vocab = data
    model = TinyLM(vocab, seed=0)
    vals = iter([3.0, 2.0, 0.5])
    seen = []

    def evaluate():
        seen.append(trainer.step)
        return next(vals)

    trainer = Trainer(model, SGD(model, lr=0.1), model.train_step, stream(ids), steps=7, evaluate=evaluate,
                      eval_every=3, out_dir=tmp_path, progress=False)
    result = trainer.fit()
    assert seen == [3, 6, 7]                                   # 7 is the last step, not a multiple of 3
    assert result.best_step == 7 and result.best_val == 0.5
    assert result.history[-1]["val_loss"] == 0.5
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["val_loss"]) for r in records if "val_loss" in r] == [(3, 3.0), (6, 2.0), (7, 0.5)]

    seen.clear()
    vals = iter([3.0, 2.0])
    trainer = Trainer(model, SGD(model, lr=0.1), model.train_step, stream(ids), steps=6, evaluate=evaluate,
                      eval_every=3, progress=False)
    trainer.fit()
    assert seen == [3, 6]                                      # on a multiple: no second evaluation


def test_callback_can_stop_and_progress_bar_runs(data, capsys):
    model, trainer = make_trainer(data, steps=50, progress=True,
                                  callbacks=[lambda tr, event, info: not (event == "step" and info["step"] == 4)])
    result = trainer.fit()
    assert result.stopped == "callback" and result.steps == 4
    out = capsys.readouterr()
    assert "step 4/50" in out.err and "step" not in out.out               # a progress bar belongs on stderr


def test_clip_norm_limits_the_gradient(data):
    seen = []
    model, trainer = make_trainer(data, steps=3, clip_norm=1e-3,
                                  callbacks=[lambda tr, e, info: seen.append(tr.model.grads) if e == "step" else None])
    trainer.fit()
    for grads in seen:
        total = np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads.values()))
        assert total <= 1e-3 * 1.0001


def test_trainer_argument_errors(data):
    model, _ = make_trainer(data)
    with pytest.raises(ValueError, match="budget"):
        Trainer(model, SGD(model, lr=0.1), model.train_step, stream(data[0]))
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        Trainer(model, SGD(model, lr=0.1), model.train_step, stream(data[0]), steps=0)
    with pytest.raises(ValueError, match="resume=True needs out_dir"):
        Trainer(model, SGD(model, lr=0.1), model.train_step, stream(data[0]), steps=1).fit(resume=True)
    for bad, message in [(dict(steps=True), "steps must be a positive integer, got True"),
                         (dict(eval_every=2.5), "eval_every must be a positive integer, got 2.5"),
                         (dict(log_every=0), "log_every must be a positive integer, got 0"),
                         (dict(checkpoint_every=0), "checkpoint_every must be a positive integer, got 0"),
                         (dict(patience=-1), "patience must be a non-negative integer"),
                         (dict(patience=1.5), "patience must be a non-negative integer")]:
        with pytest.raises(ValueError, match=message):
            Trainer(model, SGD(model, lr=0.1), model.train_step, stream(data[0]), **{"steps": 1, **bad})


# ---------------------------------------------------------------------------------------------------------------
# Batching
# ---------------------------------------------------------------------------------------------------------------

def test_shuffled_batches_cover_each_epoch_and_depend_only_on_seed_and_step():
    b = ShuffledBatches(10, 3, seed=1)
    assert b.steps_per_epoch == 3
    epoch0 = np.concatenate([b(s) for s in range(3)])
    assert len(set(epoch0)) == 9 and set(epoch0) <= set(range(10))
    assert not np.array_equal(b(0), b(3))                   # a new permutation each epoch
    assert np.array_equal(b(4), ShuffledBatches(10, 3, seed=1)(4))
    assert not np.array_equal(b(4), ShuffledBatches(10, 3, seed=2)(4))
    assert np.array_equal(np.concatenate([ShuffledBatches(7, 3, shuffle=False, drop_last=False)(s) for s in range(3)]),
                          np.arange(7))


def test_stream_batches_are_contiguous_and_shifted():
    ids = np.arange(101)
    s = StreamBatches(ids, batch_size=4, seq_len=5)
    assert len(s) == 5
    c0, c1 = s(0), s(1)
    assert c0.reset and not c1.reset and s(5).reset
    assert np.array_equal(c0.x[1], np.arange(25, 30)) and np.array_equal(c0.y, c0.x + 1)
    assert np.array_equal(c1.x[:, 0], c0.x[:, -1] + 1)     # the next chunk continues each row
    with pytest.raises(ValueError, match="too short"):
        StreamBatches(np.arange(10), batch_size=4, seq_len=5)


# ---------------------------------------------------------------------------------------------------------------
# Parity with PyTorch: the same model, init, data order and optimizer reach the same loss
# ---------------------------------------------------------------------------------------------------------------

def test_embedding_lstm_linear_matches_pytorch_after_200_steps(data):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    ids, vocab = data
    train_ids, val_ids = ids[:3500], ids[3500:]
    model = TinyLM(vocab, seed=0)
    batches = stream(train_ids)
    opt = Adam(model, lr=1e-2)
    trainer = Trainer(model, opt, model.train_step, batches, steps=200, clip_norm=1.0, progress=False)
    ours_init = model.state_dict()
    trainer.fit()
    ours = float(model.evaluate(val_ids))

    class TorchLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(vocab, 16)
            self.rnn = torch.nn.LSTM(16, 32, batch_first=True)
            self.head = torch.nn.Linear(32, vocab)

        def forward(self, x, state=None):
            h, state = self.rnn(self.emb(x), state)
            return self.head(h), state

    tm = TorchLM()
    tm.load_state_dict({k: torch.tensor(v) for k, v in ours_init.items()})
    topt = torch.optim.Adam(tm.parameters(), lr=1e-2)
    state = None
    for step in range(200):
        chunk = batches(step)
        if chunk.reset:
            state = None
        logits, state = tm(torch.tensor(chunk.x), state)
        state = tuple(s.detach() for s in state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), torch.tensor(chunk.y).reshape(-1))
        topt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tm.parameters(), 1.0)
        topt.step()
    with torch.no_grad():
        logits, _ = tm(torch.tensor(val_ids[None, :-1]))
        theirs = float(torch.nn.functional.cross_entropy(logits[0], torch.tensor(val_ids[1:])))
    print(f"validation loss after 200 steps: lstm {ours:.5f}  pytorch {theirs:.5f}")
    assert ours <= theirs * 1.01
    assert abs(ours - theirs) <= 0.01 * theirs


def test_ctrl_c_leaves_the_model_at_weights_training_reached(data, tmp_path):
    """An interrupt can fall between two parameters' updates: the model goes back to the best validated weights."""
    from lstm.train import TrainingInterrupted

    def interrupt(trainer, event, info):
        if event == "step" and info["step"] == 12:
            raise KeyboardInterrupt

    model, trainer = make_trainer(data, steps=40, callbacks=[interrupt])         # validated at steps 5 and 10
    with pytest.raises(TrainingInterrupted) as stop:
        trainer.fit()
    assert stop.value.step == 12 and stop.value.restored == f"the best validated weights (step {trainer.best_step})"
    assert all(np.array_equal(v, trainer._best_params[k]) for k, v in model.parameters().items())
    model, trainer = make_trainer(data, steps=40, callbacks=[interrupt], restore_best=False, out_dir=tmp_path)
    with pytest.raises(TrainingInterrupted) as stop:
        trainer.fit()
    assert stop.value.restored == "the last checkpoint's weights (step 10)"     # checkpoints every 5 steps


def test_a_fresh_run_in_a_used_folder_keeps_nothing_of_the_old_run(tmp_path, data):
    """A fresh run that writes no best weights of its own (no validation) must not leave the previous run's
    best.safetensors for a later resume to load; its log and last checkpoint are its own."""
    _, old = make_trainer(data, tmp_path, steps=10)
    old.fit()
    assert (tmp_path / "best.safetensors").exists()
    model, fresh = make_trainer(data, tmp_path, steps=3, seed=4, checkpoint_every=100)
    fresh.evaluate = None
    fresh.fit()
    assert not (tmp_path / "best.safetensors").exists()
    assert checkpoint.load(tmp_path / "last.safetensors").trainer["step"] == 3
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").open()] == [1, 2, 3]
