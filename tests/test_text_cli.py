"""The text commands' options that contradict each other, and what `lstm generate` prints after a prime."""

import pytest

from lstm.cli import main
from lstm.data.text import builtin_corpus

TEXT = builtin_corpus()[:20000]
SMALL = ["--hidden", "16", "--layers", "1", "--seq-len", "16", "--batch", "4", "--eval-every", "3", "--quiet"]


@pytest.fixture(scope="module")
def word_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("words")
    (d / "corpus.txt").write_text(TEXT)
    assert main(["train-text", str(d / "corpus.txt"), "--level", "word", "--steps", "6", "--out", str(d / "run")]
                + SMALL) == 0
    return d


def test_resume_and_overwrite_together_are_refused_and_change_nothing(word_run, capsys):
    run = word_run / "run"
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    code = main(["train-text", str(word_run / "corpus.txt"), "--level", "word", "--steps", "9", "--out", str(run),
                 "--resume", "--overwrite"] + SMALL)
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--resume continues the run in --out and --overwrite replaces it; give one of them" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_generate_after_a_word_prime_ending_in_a_space_prints_single_spaces(word_run, capsys):
    model = str(word_run / "run" / "model.safetensors")
    capsys.readouterr()
    assert main(["generate", model, "--prime", "The value ", "--length", "8", "--temperature", "0"]) == 0
    spaced = capsys.readouterr().out
    assert main(["generate", model, "--prime", "The value", "--length", "8", "--temperature", "0"]) == 0
    plain = capsys.readouterr().out
    assert spaced.startswith("The value ") and spaced == plain
