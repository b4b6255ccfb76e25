"""Fixtures shared by several test files."""

import pytest


@pytest.fixture
def ctrl_c_at(monkeypatch):
    """``ctrl_c_at(step)``: the next `lstm train-text` / `lstm demo` in this test gets Ctrl-C after that training
    step (through the sample printer, the command's one per-step callback)."""
    import lstm.cli.text as cli_text

    def arm(step: int) -> None:
        def sampler(model, every, prime):
            def callback(trainer, event, info):
                if event == "step" and info["step"] == step:
                    raise KeyboardInterrupt
            return callback

        monkeypatch.setattr(cli_text, "_sampler", sampler)
    return arm


@pytest.fixture
def language_model(tmp_path):
    """An untrained character LanguageModel (8 units) saved to tmp_path: a model file for the commands that read
    one."""
    import lstm
    from lstm.data.text import Vocabulary
    from lstm.models import LanguageModel

    model = LanguageModel(hidden_size=8, embedding_dim=4, seed=0)
    model._build(Vocabulary.build("the quick brown fox jumps over the lazy dog.\n", "char"))
    return lstm.save(model, tmp_path / "model.safetensors")


@pytest.fixture(scope="session")
def numbers_model():
    """A small word-level Seq2Seq trained on number words → digits (a few seconds), and held-out pairs; shared
    read-only by the model and command tests."""
    from lstm.data.seq2seq_tasks import train_test
    from lstm.models.seq2seq import Seq2Seq

    train, test = train_test("numbers", 4000, 150, seed=0)
    model = Seq2Seq(source_level="word", attention="luong", hidden_size=48, embedding_dim=24, batch_size=32, lr=1e-2,
                    steps=150, eval_every=75, seed=0)
    return model.fit(train, progress=False), test
