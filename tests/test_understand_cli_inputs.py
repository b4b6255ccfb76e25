"""`lstm explain` and `lstm gradients` as a user meets them: the input is never overwritten, a refusal is one line
(no note before it), --unit and --features errors name the option, and a cut text is said to be cut."""

import re

import pytest

from lstm.data.text import builtin_corpus
from lstm.models import LanguageModel
from cli_run import one_line, run_cli


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    model = LanguageModel(hidden_size=8, num_layers=1, embedding_dim=4, seq_len=20, batch_size=8, steps=3,
                          eval_every=3, seed=0).fit(builtin_corpus()[:3000], progress=False)
    return model.save(tmp_path_factory.mktemp("lm") / "m.safetensors"), model


@pytest.fixture(scope="module")
def word_model_file(tmp_path_factory):
    model = LanguageModel(level="word", hidden_size=8, num_layers=1, embedding_dim=8, seq_len=10, batch_size=4,
                          steps=2, eval_every=2, seed=0).fit(builtin_corpus()[:3000], progress=False)
    return model.save(tmp_path_factory.mktemp("wlm") / "m.safetensors")


def unseen(model, n=3):
    """Characters this model never saw (so a note would be due), not trusting any fixed guess."""
    return "".join([c for c in "☃☂★♞♛⚑" if c not in model.vocab_.index][:n])


def test_explain_refuses_to_write_the_report_over_the_text_it_reads(model_file, tmp_path, capsys):
    path, _ = model_file
    src = tmp_path / "page.html"
    src.write_text("<p>some text to read</p>\n")
    assert run_cli(["explain", str(path), "--file", str(src), "--out", str(src)]) == 2
    err = one_line(capsys)
    assert err.startswith("lstm explain: error: ") and "--out" in err and str(src) in err
    assert src.read_text() == "<p>some text to read</p>\n"


def test_a_refused_unit_is_the_only_line_and_names_the_option(model_file, tmp_path, capsys):
    path, model = model_file
    out = tmp_path / "r.html"
    text = "abc " + unseen(model)                 # characters the model never saw: a note would be due on success
    assert run_cli(["explain", str(path), "--text", text, "--out", str(out), "--unit", "7:c:0"]) == 2
    err = one_line(capsys)
    assert err.startswith("lstm explain: error: --unit 7:c:0") and "layer" in err and "[0, 0]" in err, err
    assert not out.exists()
    assert run_cli(["explain", str(path), "--text", text, "--out", str(out), "--unit", "0:c:99"]) == 2
    err = one_line(capsys)
    assert err.startswith("lstm explain: error: --unit 0:c:99") and "[0, 7]" in err, err


def test_python_features_on_a_word_model_is_one_line_naming_the_option(word_model_file, tmp_path, capsys):
    out = tmp_path / "r.html"
    argv = ["explain", str(word_model_file), "--text", "def zzzq(): return qqqz", "--out", str(out),
            "--features", "python"]
    assert run_cli(argv) == 2
    err = one_line(capsys)
    assert "--features python" in err and "features=" not in err and "--features none" in err, err
    assert not out.exists()


def test_a_text_cut_at_max_tokens_is_said_to_be_cut_and_notes_only_what_was_read(model_file, tmp_path, capsys):
    path, model = model_file
    new = unseen(model, 2)
    assert len(new) == 2
    text = "x = 1\n" * 5 + new[0] + "y = 2\n" * 5 + new[1]
    cut = text.index(new[1])                      # read up to (not including) the second unseen character
    out = tmp_path / "r.html"
    assert run_cli(["explain", str(path), "--text", text, "--out", str(out), "--max-tokens", str(cut)]) == 0
    captured = capsys.readouterr()
    assert f"read {cut} chars" in captured.out
    notes = captured.err.strip().splitlines()
    unk = [n for n in notes if "never saw" in n]
    assert len(unk) == 1 and repr(new[0]) in unk[0] and repr(new[1]) not in unk[0], notes
    cut_note = [n for n in notes if "--max-tokens" in n]
    assert len(cut_note) == 1 and f"{cut} of {len(text)}" in cut_note[0], notes
    # the whole text read: no note about cutting
    assert run_cli(["explain", str(path), "--text", text, "--out", str(out)]) == 0
    assert "--max-tokens" not in capsys.readouterr().err


def test_explain_counts_are_singular_or_plural(model_file, tmp_path, capsys):
    path, _ = model_file
    assert run_cli(["explain", str(path), "--text", "a", "--out", str(tmp_path / "r.html")]) == 0
    assert re.search(r"^read 1 char with 1 layer × 8 units$", capsys.readouterr().out, re.M)


def test_explain_example_is_one_unbroken_line_in_the_help(capsys):
    assert run_cli(["explain", "--help"]) == 0
    help_text = capsys.readouterr().out
    assert "lstm explain benchmarks/models/pycode_char.safetensors --file snippet.py --out report.html" in help_text


def test_gradients_too_short_says_how_long_to_make_it(tmp_path, capsys):
    out = tmp_path / "g.png"
    assert run_cli(["gradients", "--length", "5", "--steps", "0", "--out", str(out)]) == 2
    err = one_line(capsys)
    assert "got 5" in err and "--length 6 or more" in err, err
    assert not out.exists()
