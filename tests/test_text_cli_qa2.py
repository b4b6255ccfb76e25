"""`lstm train-text`, `lstm generate` and `lstm demo` as a user meets them: where samples are printed, next commands
that work when pasted into a shell, default output folders, and files given twice."""

import io
import shlex
import sys

import pytest

from lstm.cli import main
from lstm.data.text import builtin_corpus
from cli_run import one_line, run_cli

TEXT = builtin_corpus()[:20000]
SMALL = ["--hidden", "16", "--layers", "1", "--seq-len", "16", "--batch", "4", "--eval-every", "3", "--steps", "3",
         "--quiet"]


def _next_commands(out: str) -> list[list[str]]:
    """The argv of each `lstm ...` command a run's final message offers, as a shell would split it."""
    lines = [line.strip() for line in out[out.index("\nnext:") + 6:].splitlines()]
    return [shlex.split(line, comments=True)[1:] for line in lines if line.startswith("lstm ")]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("qa2") / "corpus.txt"
    path.write_text(TEXT)
    return path


def test_samples_are_printed_to_the_stdout_in_place_when_printed(corpus, tmp_path, monkeypatch, capsys):
    """The progress bar redirects sys.stdout on a terminal so that samples appear above it; a sampler bound to the
    stdout of import time wrote past that redirection, into the middle of the bar's line."""
    from lstm.cli.text import _sampler
    from lstm.models import LanguageModel

    model = LanguageModel(hidden_size=8, num_layers=1, seq_len=8, batch_size=2, steps=2, eval_every=2).fit(
        TEXT[:3000], progress=False)
    screen = io.StringIO()
    monkeypatch.setattr(sys, "stdout", screen)
    _sampler(model, 2, "The ")(None, "step", {"step": 2})
    assert screen.getvalue().startswith("[step 2] The ")


def test_the_next_command_works_when_pasted_for_a_folder_with_spaces_and_quotes(corpus, tmp_path, capsys):
    out = tmp_path / "my run's"
    assert main(["train-text", str(corpus), "--out", str(out)] + SMALL) == 0
    commands = _next_commands(capsys.readouterr().out)
    assert commands == [["generate", str(out / "model.safetensors"), "--length", "300"]]
    assert main(commands[0][:2] + ["--length", "5"]) == 0


def test_the_demo_offers_next_commands_that_work_when_pasted(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--steps", "2", "--quiet", "--out", "demo run"]) == 0
    out = capsys.readouterr().out
    assert "Samples appear as it learns" not in out                  # --quiet: there are none
    commands = _next_commands(out)
    assert [c[0] for c in commands] == ["generate", "explain", "train-text"]
    for argv in commands[:2]:
        assert argv[1] == "demo run/model.safetensors"
        assert main(argv) == 0, argv
    capsys.readouterr()
    assert main(["demo", "--steps", "2", "--out", "demo run", "--overwrite"]) == 0
    assert "Samples appear as it learns" in capsys.readouterr().out


def test_a_file_where_the_default_folder_would_be_makes_the_run_take_a_free_name(corpus, tmp_path, monkeypatch,
                                                                                capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "corpus").write_text("my notes\n")
    assert main(["train-text", str(corpus)] + SMALL) == 0
    assert (tmp_path / "runs" / "corpus-2" / "model.safetensors").exists()
    assert (tmp_path / "runs" / "corpus").read_text() == "my notes\n"
    assert "runs/corpus-2/model.safetensors" in capsys.readouterr().out


@pytest.mark.parametrize("second", ["same", "dotted"])
def test_a_file_given_twice_is_refused_before_any_work(corpus, tmp_path, monkeypatch, second, capsys):
    """Its text would be trained on twice and the held-out tail would be a copy of text it trained on."""
    monkeypatch.chdir(corpus.parent)
    other = "corpus.txt" if second == "same" else "./corpus.txt"
    out = tmp_path / "run"
    assert run_cli(["train-text", "corpus.txt", other, "--out", str(out)] + SMALL) == 2
    err = one_line(capsys)
    assert err.startswith("lstm train-text: error: ") and "corpus.txt twice" in err and "once" in err
    assert not out.exists()


def test_tie_with_another_embedding_size_names_both_sizes(corpus, tmp_path, capsys):
    assert run_cli(["train-text", str(corpus), "--tie", "--embedding", "8", "--out", str(tmp_path / "r")]
                   + SMALL) == 2
    err = one_line(capsys)
    assert "--tie needs --embedding equal to --hidden (16), got --embedding 8" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("argv", [["train-text", "corpus.txt", "--out", ""], ["demo", "--out", " "],
                                  ["train-text", ""], ["generate", ""]])
def test_an_empty_path_is_refused_not_read_as_the_current_folder(corpus, monkeypatch, argv, capsys):
    """`--out "$DIR"` with DIR unset wrote the run's files into the current folder."""
    monkeypatch.chdir(corpus.parent)
    before = sorted(corpus.parent.iterdir())
    assert run_cli(argv + SMALL[-1:]) == 2
    err = one_line(capsys)
    assert f"lstm {argv[0]}: error: argument " in err and "expected a path, got '" in err
    assert sorted(corpus.parent.iterdir()) == before
