"""The sequence-to-sequence commands: train-seq2seq, translate and make-pairs, end to end and on bad input."""

import re

import pytest

import lstm
from lstm.cli import common as cli_common
from lstm.cli import seq2seq as s2s_cli
from lstm.cli.common import UsageError
from lstm.data.seq2seq_tasks import TEST_SEED_OFFSET, date_pairs, format_pairs, number_to_words, pad_sources, read_pairs
from lstm.models.seq2seq import Seq2Seq, build_vocabulary


# ---------------------------------------------------------------------------------------------------------------
# the commands
# ---------------------------------------------------------------------------------------------------------------
def run(argv, capsys):
    """``lstm ARGV`` through the real entry point when the group is registered, else through its own parser."""
    from lstm import cli

    parser = cli.build_parser()
    names = parser._subparsers._group_actions[0].choices
    if "translate" not in names:
        parser = cli.OneLineParser(prog="lstm")
        s2s_cli.add_parsers(parser.add_subparsers(dest="command", parser_class=cli.OneLineParser))
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except (UsageError, ValueError, TypeError, OSError) as err:
        print(f"lstm {args.command}: error: {err}", file=__import__("sys").stderr)
        code = 2
    out = capsys.readouterr()
    return code, out.out, out.err


def test_word_targets_char_sources_no_attention_unidirectional(tmp_path, capsys):
    pairs = [(str(n), number_to_words(n)) for n in range(200)]
    m = Seq2Seq(target_level="word", attention="none", bidirectional=False, hidden_size=24, embedding_dim=8,
                steps=20, eval_every=10, batch_size=16, seed=1).fit(pairs, progress=False)
    out = m.translate(["12", "7"], beam=2)
    assert all(isinstance(o, str) for o in out)
    assert set(m.target_vocab_.tokens[:4]) == {"<unk>", "<pad>", "<s>", "</s>"}
    with pytest.raises(ValueError, match="attention='none'"):
        m.attention_trace("12")
    model = m.save(tmp_path / "m.safetensors")                   # the command refuses before translating
    code, stdout, err = run(["translate", str(model), "12", "--heatmap", str(tmp_path / "a.png")], capsys)
    assert code == 2 and stdout == "" and "trained with --attention none" in err
    assert not (tmp_path / "a.png").exists()
    v = build_vocabulary(["b a", "c"], "char")
    assert v.tokens == ["<unk>", "<pad>", "<s>", "</s>", " ", "a", "b", "c"]


def test_cli_end_to_end(tmp_path, capsys):
    data, test = tmp_path / "d.tsv", tmp_path / "t.tsv"
    assert run(["make-pairs", "dates", "--n", "300", "--out", str(data)], capsys)[0] == 0
    assert run(["make-pairs", "dates", "--n", "5", "--test", "--pad-to", "30", "--out", str(test)], capsys)[0] == 0
    assert read_pairs(test) == pad_sources(date_pairs(5, TEST_SEED_OFFSET), 30, TEST_SEED_OFFSET)
    out = tmp_path / "run"
    code, stdout, _ = run(["train-seq2seq", str(data), "--attention", "bahdanau", "--steps", "6", "--hidden", "16",
                           "--embedding", "8", "--batch", "16", "--eval-every", "3", "--quiet", "--out", str(out)],
                          capsys)
    assert code == 0 and "validation exact match" in stdout
    model = out / "model.safetensors"
    assert model.exists() and (out / "last.safetensors").exists()
    code, stdout, _ = run(["translate", str(model), "3/3/98", "--beam", "2"], capsys)
    assert code == 0 and len(stdout.splitlines()) == 1
    src = tmp_path / "src.txt"
    src.write_text("3/3/98\n\nMarch 3rd, 1998\t1998-03-03\n")
    code, stdout, err = run(["translate", str(model), "--file", str(src)], capsys)
    assert code == 0 and len(stdout.splitlines()) == 3 and stdout.splitlines()[1] == ""
    assert re.search(r"exact match: [01]/1", err)
    page = tmp_path / "a.html"
    code, _, err = run(["translate", str(model), "3 March 1998", "--html", str(page)], capsys)
    text = page.read_text()
    rows = 1 + len(lstm.load(model).attention_trace("3 March 1998")["target"])      # header + one per output
    assert code == 0 and text.startswith("<!DOCTYPE html>") and text.count("<tr>") == rows
    assert "<script" not in text and "http" not in text
    pytest.importorskip("matplotlib")
    png = tmp_path / "h.png"
    code, _, err = run(["translate", str(model), "3 March 1998", "--heatmap", str(png)], capsys)
    assert code == 0 and png.read_bytes()[:4] == b"\x89PNG"


def test_cli_word_level_validation_reads_unseen_words_as_unk(tmp_path, capsys):
    """Every source has a word of its own, so each held-out pair holds a word training never saw."""
    data = tmp_path / "w.tsv"
    data.write_text("".join(f"w{i} go home\tgo\n" for i in range(40)))
    code, stdout, err = run(["train-seq2seq", str(data), "--source-level", "word", "--steps", "4", "--hidden", "8",
                             "--embedding", "4", "--batch", "8", "--eval-every", "2", "--out", str(tmp_path / "o")],
                            capsys)
    assert code == 0, err
    assert "validation exact match (greedy)" in stdout
    with pytest.raises(ValueError, match="never saw: 'w999'"):
        lstm.load(tmp_path / "o" / "model.safetensors").translate("w999 go home")       # strict outside validation


def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\n\nno tab\n")
    code, _, err = run(["train-seq2seq", str(bad), "--steps", "1", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "bad.tsv:3: expected source<TAB>target" in err and len(err.strip().splitlines()) == 1
    long = tmp_path / "long.tsv"
    long.write_text("ab\tc\n\n" + "x" * 12 + "\ty\n")
    code, _, err = run(["train-seq2seq", str(long), "--max-len", "10", "--steps", "1", "--out", str(tmp_path / "o")],
                       capsys)
    assert code == 2 and "line 3: the source side has 12 chars, more than max_len=10" in err
    code, _, err = run(["train-seq2seq", str(long), "--hidden", "15", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "--hidden must be even" in err
    good = tmp_path / "g.tsv"
    good.write_text("".join(f"{n}\t{n * 2}\n" for n in range(40)))
    run(["train-seq2seq", str(good), "--steps", "2", "--hidden", "8", "--embedding", "4", "--quiet",
         "--out", str(tmp_path / "g")], capsys)
    model = str(tmp_path / "g" / "model.safetensors")
    code, out, err = run(["translate", model, "12x"], capsys)
    assert code == 2 and out == "" and "TEXT: 1 char the model never saw: 'x'; remove it" in err
    assert len(err.strip().splitlines()) == 1
    src = tmp_path / "s.txt"
    src.write_text("12\n3?\n")
    code, _, err = run(["translate", model, "1", "--file", str(src)], capsys)
    assert code == 2 and "exactly one of TEXT or --file" in err
    code, _, err = run(["translate", model, "1" * 300], capsys)
    assert code == 2 and "more than the model's max_len=200" in err
    code, _, err = run(["translate", model, "--file", str(src), "--heatmap", str(tmp_path / "x.png")], capsys)
    assert code == 2 and "--heatmap/--html draw one translation" in err
    code, _, err = run(["train-seq2seq", str(good), "--resume", "--out", str(tmp_path / "new")], capsys)
    assert code == 2 and "--resume: no checkpoint" in err
    code, _, err = run(["translate", str(tmp_path / "missing.safetensors"), "1"], capsys)
    assert code == 2 and "no such file" in err


# ---------------------------------------------------------------------------------------------------------------
# the commands: batch translation, run folders, counts, output paths
# ---------------------------------------------------------------------------------------------------------------
DIGITS = [(str(n), str(2 * n)) for n in range(40)]          # sources and targets use the characters 0-9 only
TINY = ["--hidden", "8", "--embedding", "4", "--quiet"]


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    m = Seq2Seq(hidden_size=8, embedding_dim=4, batch_size=8, steps=3, eval_every=3).fit(DIGITS, progress=False)
    return str(m.save(tmp_path_factory.mktemp("digits") / "model.safetensors"))


def tsv(tmp_path, pairs, name="g.tsv"):
    (tmp_path / name).write_text(format_pairs(pairs))
    return str(tmp_path / name)


def test_translate_file_skips_only_the_lines_it_cannot_translate(digits_model, tmp_path, capsys):
    """Every other line is translated, output line N answers input line N (a form feed or U+2028 inside a line
    splits nothing), one warning per skipped line naming it, exit 1."""
    src = tmp_path / "s.txt"
    src.write_text("12\n3?\n\n" + "1" * 201 + "\n\t24\n7x!x\t14\r\n5\t10\n4\x0c\n6\u2028\n", encoding="utf-8")
    model = lstm.load(digits_model)
    code, stdout, err = run(["translate", digits_model, "--file", str(src)], capsys)
    assert code == 1 and stdout.split("\n") == [model.translate("12")] + [""] * 5 + [model.translate("5"), "", "", ""]
    warnings = [w for w in err.splitlines() if w.startswith("warning: ") and "s.txt:" in w]
    assert [w.split("s.txt:")[1].split(":")[0] for w in warnings] == ["2", "4", "5", "6", "8", "9"]
    assert all(": skipped (its output line is left empty): " in w for w in warnings)
    assert "1 char the model never saw: '?'; remove it," in warnings[0]
    assert "201 chars, more than the model's max_len=200" in warnings[1]
    assert "the source (before the tab) is empty" in warnings[2]
    assert "2 chars the model never saw: 'x', '!'; remove them," in warnings[3]
    assert re.search(r"exact match: [01]/1 = .*; 2 skipped lines with an expected translation not counted", err)
    assert "warning: 6 of 8 source lines skipped (left empty in the output); exit status 1" in err
    out = tmp_path / "o.txt"                                        # the same through --out
    assert run(["translate", digits_model, "--file", str(src), "--out", str(out)], capsys)[0] == 1
    assert out.read_text(encoding="utf-8") == stdout
    src.write_text("12\n\n5\n")                                     # nothing to skip: exit 0, no warning
    code, stdout, err = run(["translate", digits_model, "--file", str(src)], capsys)
    assert (code, stdout) == (0, f"{model.translate('12')}\n\n{model.translate('5')}\n") and "warning" not in err
    from lstm import cli
    page = " ".join(cli.build_parser()._subparsers._group_actions[0].choices["translate"].format_help().split())
    assert "Output line N always answers input line N" in page and "1 when some were skipped" in page


def test_a_run_that_fails_before_writing_leaves_no_folder(tmp_path, capsys, monkeypatch):
    """Out of memory (e.g. --hidden 100000) or Ctrl-C while the network is built: no --out folder (nor the parents
    it created) is left behind; a folder that was there before stays."""
    from lstm.cli import main
    from lstm.models import seq2seq as s2s_model

    good = tsv(tmp_path, DIGITS)

    def build(*args, **kwargs):
        raise error

    monkeypatch.setattr(s2s_model, "Seq2SeqNet", build)
    error = MemoryError("Unable to allocate 74.5 GiB for an array with shape (200000, 50000)")
    assert main(["train-seq2seq", good, "--hidden", "100000", "--out", str(tmp_path / "runs" / "big")]) == 2
    err = capsys.readouterr().err
    assert "not enough memory" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()
    (tmp_path / "mine").mkdir()
    assert main(["train-seq2seq", good, "--out", str(tmp_path / "mine")]) == 2 and (tmp_path / "mine").is_dir()
    error = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        run(["train-seq2seq", good, "--out", str(tmp_path / "none")], capsys)
    assert not (tmp_path / "none").exists()
    code, _, err = run(["train-seq2seq", good, "--out", f"{good}/run"], capsys)
    assert code == 2 and "g.tsv is a file, not a folder; choose another --out" in err and "Errno" not in err


def test_ctrl_c_in_train_seq2seq_keeps_the_weights_reached(tmp_path, capsys, monkeypatch):
    from lstm.train import TrainingInterrupted

    def ctrl_c_at_step_3(trainer, event, info):
        if event == "step" and info["step"] == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(s2s_cli, "_eval_printer", lambda model: ctrl_c_at_step_3)
    with pytest.raises(TrainingInterrupted):
        run(["train-seq2seq", tsv(tmp_path, DIGITS), "--steps", "9", "--eval-every", "2", "--hidden", "8",
             "--out", str(tmp_path / "run")], capsys)
    assert "holds the best validated weights (step 2)" in capsys.readouterr().err
    assert isinstance(lstm.load(tmp_path / "run" / "model.safetensors").translate("12"), str)


def test_counts_are_singular_or_plural(tmp_path, capsys, monkeypatch):
    """One pair, one step, one held-out pair (one unseen character: above) — and the pairs/s of a batch larger
    than the data (a step sees every pair once, not --batch of them)."""
    one = tmp_path / "one.tsv"
    assert run(["make-pairs", "dates", "--n", "1", "--out", str(one)], capsys)[1].startswith("wrote 1 date pair (")
    clock = iter([100.0, 102.0, 200.0, 202.0])
    monkeypatch.setattr(cli_common, "time", type("Clock", (), {"perf_counter": staticmethod(lambda: next(clock))}))
    stdout = run(["train-seq2seq", str(one), "--steps", "1", *TINY, "--out", str(tmp_path / "r1")], capsys)[1]
    assert "trained 1 step on 1 pair in 2 s (0 pairs/s)" in stdout
    stdout = run(["train-seq2seq", tsv(tmp_path, DIGITS[:20]), "--steps", "4", "--eval-every", "2", *TINY,
                  "--out", str(tmp_path / "r20")], capsys)[1]
    assert "trained 4 steps on 19 pairs in 2 s (38 pairs/s)" in stdout and "on 1 held-out pair\n" in stdout


def test_resume_reports_the_steps_it_ran_and_refuses_other_data(tmp_path, capsys):
    argv = ["train-seq2seq", tsv(tmp_path, DIGITS), *TINY, "--eval-every", "2", "--out", str(tmp_path / "r")]
    assert run(argv + ["--steps", "4"], capsys)[0] == 0
    assert "trained 2 steps (to step 6) on 38 pairs" in run(argv + ["--steps", "6", "--resume"], capsys)[1]
    code, stdout, _ = run(argv + ["--steps", "6", "--resume"], capsys)
    assert code == 0 and "note: the checkpoint was already at step 6, so nothing was trained" in stdout
    assert "trained 0 steps (to step 6)" in stdout
    # as many characters, but other ones: the embedding rows would silently change meaning
    argv[1] = tsv(tmp_path, [(s.replace("9", "a"), t.replace("9", "a")) for s, t in DIGITS], "o.tsv")
    code, _, err = run(argv + ["--steps", "8", "--resume"], capsys)
    assert code == 2 and "belongs to another run (source_vocabulary: 14 chars" in err


def test_output_paths_are_checked_before_any_work(digits_model, tmp_path, capsys, monkeypatch):
    (tmp_path / "f").write_text("x")
    for option, path, message in [("--heatmap", tmp_path / "a.jpg", "--heatmap must name a PNG file ending in .png"),
                                  ("--heatmap", tmp_path, "is a directory"), ("--html", tmp_path, "is a directory"),
                                  ("--out", tmp_path, "is a directory"),
                                  ("--html", tmp_path / "f" / "a.html", "f is a file, not a directory")]:
        code, stdout, err = run(["translate", digits_model, "12", option, str(path)], capsys)
        assert code == 2 and stdout == "" and message in err, (option, err)
    assert not (tmp_path / "a.jpg").exists()
    code, _, err = run(["make-pairs", "dates", "--n", "3", "--out", str(tmp_path / "f" / "d.tsv")], capsys)
    assert code == 2 and "f is a file, not a directory; choose another path" in err and "Errno" not in err
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)     # matplotlib not installed
    code, stdout, err = run(["translate", digits_model, "12", "--heatmap", str(tmp_path / "a.png")], capsys)
    assert code == 2 and stdout == "" and "--heatmap needs matplotlib" in err


def test_the_drawn_translation_is_the_printed_one_under_a_length_penalty(numbers_model, tmp_path, capsys):
    model, test = numbers_model
    differs = [s for s, _ in test if model.translate(s, beam=2, length_penalty=2.0) != model.translate(s, beam=2)]
    assert differs                                     # the penalty changes some translations
    want = model.translate(differs[0], beam=2, length_penalty=2.0)
    assert model.attention_trace(differs[0], beam=2, length_penalty=2.0)["translation"] == want
    page = tmp_path / "a.html"
    code, stdout, _ = run(["translate", str(model.save(tmp_path / "m.safetensors")), differs[0], "--beam", "2",
                           "--length-penalty", "2", "--html", str(page)], capsys)
    rows = re.findall(r"<tr><th>([^<]*)</th><td", page.read_text())
    assert code == 0 and stdout == want + "\n" and "".join(rows[:-1]) == want and rows[-1] == "&lt;/s&gt;"
