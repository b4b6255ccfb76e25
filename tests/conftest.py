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
