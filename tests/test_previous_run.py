"""A fresh run in a folder that holds an earlier run replaces it only once it has a checkpoint of its own: until
then the earlier run's files are set aside, not deleted, and a run that fails puts them back byte for byte."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm.data import StreamBatches
from lstm.data.text import builtin_corpus
from lstm.io.set_aside import HOLD, SetAside, put_back_leftover
from lstm.optim import Adam
from lstm.train import Trainer, TrainingDiverged, TrainingInterrupted, checkpoint

sys.path.insert(0, str(Path(__file__).parent))
from cli_run import one_line, run_cli  # noqa: E402
from tiny_lm import TinyLM, corpus_ids  # noqa: E402

RUN_FILES = ("metrics.jsonl", "best.safetensors", "last.safetensors")


def contents(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included), by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---- SetAside itself -------------------------------------------------------------------------------------------

def test_put_back_restores_the_files_and_removes_new_ones_of_the_same_names(tmp_path):
    (tmp_path / "a").write_bytes(b"old a")
    (tmp_path / "keep").write_bytes(b"not in the set")
    aside = SetAside(tmp_path, ["a", "b"])
    assert aside.held == ["a"] and not (tmp_path / "a").exists()
    (tmp_path / "a").write_bytes(b"new a")
    (tmp_path / "b").write_bytes(b"new b, which the earlier run did not have")
    assert aside.put_back()
    assert contents(tmp_path) == {"a": b"old a", "keep": b"not in the set"}


def test_drop_deletes_what_was_set_aside_and_keeps_the_new_files(tmp_path):
    (tmp_path / "a").write_bytes(b"old a")
    aside = SetAside(tmp_path, ["a"])
    (tmp_path / "a").write_bytes(b"new a")
    aside.drop()
    assert not aside.put_back()                                    # nothing left to put back
    assert contents(tmp_path) == {"a": b"new a"}


def test_nothing_to_set_aside_makes_no_hidden_folder_and_put_back_touches_nothing(tmp_path):
    aside = SetAside(tmp_path, ["a"])
    (tmp_path / "a").write_bytes(b"the new run's own")
    assert not aside.put_back()
    assert contents(tmp_path) == {"a": b"the new run's own"}


def test_files_left_set_aside_by_a_killed_process_are_put_back_first(tmp_path):
    (tmp_path / "a").write_bytes(b"old a")
    SetAside(tmp_path, ["a", "b"])                                  # the process dies here, before deciding
    (tmp_path / "b").write_bytes(b"written by the killed run")
    assert put_back_leftover(tmp_path, ["a", "b"])
    assert contents(tmp_path) == {"a": b"old a"}
    assert not put_back_leftover(tmp_path, ["a", "b"])


# ---- the trainer -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def data():
    return corpus_ids(3000)


def trainer_for(data, out_dir, steps, nan_from=None, seed=0, **kw):
    """A small run; its loss becomes NaN from step ``nan_from`` on (1-based), as a diverging run's does."""
    ids, vocab = data
    model = TinyLM(vocab, hidden=16, seed=seed)

    def step(chunk, carry):
        loss, carry = model.train_step(chunk, carry)
        return (float("nan") if nan_from is not None and trainer.step + 1 >= nan_from else loss), carry

    kw.setdefault("eval_every", 2)
    trainer = Trainer(model, Adam(model, lr=3e-3), step, StreamBatches(ids[:2500], 4, 16), steps=steps,
                      evaluate=lambda: model.evaluate(ids[2500:]), out_dir=out_dir, progress=False, **kw)
    return trainer


def test_a_fresh_run_that_diverges_before_its_first_checkpoint_leaves_the_earlier_run_as_it_was(tmp_path, data):
    trainer_for(data, tmp_path, steps=6).fit()
    before = contents(tmp_path)
    assert set(before) == set(RUN_FILES)
    fresh = trainer_for(data, tmp_path, steps=20, nan_from=4, seed=1, checkpoint_every=10)   # validates at step 2
    with pytest.raises(TrainingDiverged) as err:
        fresh.fit()
    assert contents(tmp_path) == before
    assert f"the run {tmp_path} held before is kept" in str(err.value)
    assert checkpoint.load(tmp_path / "last.safetensors").trainer["step"] == 6        # resumable as it was


def test_a_fresh_run_past_its_first_checkpoint_has_replaced_the_earlier_run(tmp_path, data):
    trainer_for(data, tmp_path, steps=6).fit()
    fresh = trainer_for(data, tmp_path, steps=20, nan_from=4, seed=1, checkpoint_every=2, eval_every=100)
    with pytest.raises(TrainingDiverged):
        fresh.fit()
    assert sorted(contents(tmp_path)) == ["last.safetensors", "metrics.jsonl"]      # no best: it never validated
    assert checkpoint.load(tmp_path / "last.safetensors").trainer["step"] == 2
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").open()] == [1, 2, 3]


def test_an_interrupted_fresh_run_keeps_the_weights_it_reached_rather_than_the_earlier_run(tmp_path, data):
    trainer_for(data, tmp_path, steps=6).fit()

    def interrupt(trainer, event, info):
        if event == "step" and info["step"] == 3:
            raise KeyboardInterrupt

    fresh = trainer_for(data, tmp_path, steps=20, seed=1, checkpoint_every=10, callbacks=[interrupt])
    with pytest.raises(TrainingInterrupted) as stop:
        fresh.fit()
    assert stop.value.restored == "the best validated weights (step 2)"
    assert not (tmp_path / HOLD).exists() and not (tmp_path / "last.safetensors").exists()
    assert checkpoint.load(tmp_path / "best.safetensors").trainer["step"] == 2


def test_a_resume_after_a_run_killed_before_its_first_checkpoint_continues_the_earlier_run(tmp_path, data):
    trainer_for(data, tmp_path, steps=6).fit()
    before = contents(tmp_path)
    SetAside(tmp_path, RUN_FILES)                                  # a fresh run set them aside, then was killed
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 4.0}\n')
    resumed = trainer_for(data, tmp_path, steps=8)
    resumed.fit(resume=True)
    assert resumed.step == 8 and not (tmp_path / HOLD).exists()
    log = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").open()]
    assert log[:len(before["metrics.jsonl"].splitlines())] == [
        json.loads(line)["step"] for line in before["metrics.jsonl"].splitlines()]
    assert log[-1] == 8


# ---- the command line ------------------------------------------------------------------------------------------

SMALL = ["--hidden", "16", "--layers", "1", "--seq-len", "16", "--batch", "4", "--eval-every", "3", "--quiet"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("previous") / "corpus.txt"
    path.write_text(builtin_corpus()[:20000])
    return path


def test_an_overwrite_that_diverges_leaves_the_earlier_run_and_its_model_as_they_were(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(["train-text", str(corpus), "--out", str(out), "--steps", "3"] + SMALL) == 0
    before = contents(out)
    assert set(before) == {*RUN_FILES, "model.safetensors"}
    capsys.readouterr()
    assert run_cli(["train-text", str(corpus), "--out", str(out), "--steps", "30", "--overwrite", "--lr", "1e30"]
                   + SMALL) == 2
    assert "held before is kept" in one_line(capsys)
    assert contents(out) == before


def test_an_overwrite_that_finishes_leaves_only_its_own_files(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(["train-text", str(corpus), "--out", str(out), "--steps", "3"] + SMALL) == 0
    old_model = (out / "model.safetensors").read_bytes()
    assert run_cli(["train-text", str(corpus), "--out", str(out), "--steps", "4", "--overwrite", "--seed", "1"]
                   + SMALL) == 0
    assert sorted(contents(out)) == sorted({*RUN_FILES, "model.safetensors"})     # nothing hidden left behind
    assert (out / "model.safetensors").read_bytes() != old_model
    assert checkpoint.load(out / "last.safetensors").trainer["step"] == 4
    assert np.isfinite(json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["val_loss"])
