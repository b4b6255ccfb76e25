"""Language models at their edges: odd primes and vocabularies, extreme sampling settings, unusual files, and what
the command line says when a run is refused or interrupted."""

import subprocess
import sys

import numpy as np
import pytest

from lstm.cli import main
from lstm.data.text import TOKENIZER, builtin_corpus, read_text
from lstm.models import LanguageModel

TEXT = builtin_corpus()[:20000]


def tiny(**kw):
    args = dict(hidden_size=16, num_layers=1, seq_len=16, batch_size=4, steps=6, eval_every=3, seed=0)
    args.update(kw)
    return LanguageModel(**args)


@pytest.fixture(scope="module")
def words():
    return tiny(level="word").fit(TEXT, progress=False)


@pytest.fixture(scope="module")
def chars():
    return tiny().fit(TEXT, progress=False)


def test_a_word_prime_of_only_spaces_is_no_prime(words):
    assert words.vocab_.encode("   ").size == 0
    assert words.sample(8, prime="   ", seed=3) == words.sample(8, seed=3)


def test_without_a_newline_in_the_vocabulary_generation_starts_from_a_space():
    model = tiny().fit(TEXT.replace("\n", " "), progress=False)
    assert "\n" not in model.vocab_.index
    assert model._start_token() == model.vocab_.index[" "]
    assert len(model.sample(10, seed=0)) == 10


def test_a_vocabulary_of_only_unk_is_refused():
    with pytest.raises(ValueError, match="max_vocab must be an integer of at least 2"):
        tiny(level="word", max_vocab=1).fit(TEXT, progress=False)


def test_a_tiny_temperature_is_argmax_and_top_k_must_be_whole(chars):
    argmax = chars.sample(30, prime="The ", temperature=0)
    assert chars.sample(30, prime="The ", temperature=1e-320, seed=1) == argmax
    with pytest.raises(ValueError, match="top_k must be a positive integer, got 2.5"):
        chars.sample(5, top_k=2.5)


def test_read_text_decodes_utf16_and_normalises_line_ends_and_byte_order_marks(tmp_path):
    u16 = tmp_path / "u16.txt"
    u16.write_text("one\ntwo", encoding="utf-16")
    assert b"\x00" in u16.read_bytes()
    assert read_text([u16], encoding="utf-16") == "one\ntwo"
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes("\ufeffa\r\nb\rc\n".encode("utf-8"))
    assert read_text([crlf]) == "a\nb\nc\n"
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"text\x00more")
    with pytest.raises(ValueError, match="looks binary"):
        read_text([nul], encoding="latin-1")


def test_explain_reads_a_word_model_without_python_features(words, tmp_path):
    from lstm.viz.explain import explain

    ex = explain(words, "the value of x", out=tmp_path / "r.html", features="auto")
    assert ex.features == [] and (tmp_path / "r.html").exists()
    with pytest.raises(ValueError, match="per character"):
        explain(words, "x = 1", features="python")


def test_explain_takes_an_encoding(chars, tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    chars.save(model)
    src = tmp_path / "latin.txt"
    src.write_bytes("The café".encode("latin-1"))
    out = tmp_path / "r.html"
    assert main(["explain", str(model), "--file", str(src), "--out", str(out)]) == 2
    assert "--encoding latin-1" in capsys.readouterr().err
    assert main(["explain", str(model), "--file", str(src), "--encoding", "latin-1", "--out", str(out)]) == 0
    assert out.exists()


def test_too_short_a_corpus_names_its_size_and_leaves_no_folder(tmp_path, capsys):
    src = tmp_path / "tiny.txt"
    src.write_text("a short text of thirty-six letters.\n")
    out = tmp_path / "run"
    assert main(["train-text", str(src), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "the text has 36 char tokens (36 of them held out for validation), 0 left to train on" in err
    assert not out.exists()


def test_word_level_samples_report_perplexity(words, capsys):
    from lstm.cli.text import _sampler

    _sampler(words, 3, "", out=sys.stdout)(None, "step", {"step": 3, "val_loss": np.log(50.0)})
    line = capsys.readouterr().out
    assert line.startswith("[step 3  val perplexity 50.0]") and "bits/char" not in line


def test_the_demo_offers_no_resume_it_does_not_have(tmp_path, capsys, ctrl_c_at):
    assert main(["demo", "--steps", "2", "--out", str(tmp_path), "--quiet"]) == 0
    assert "lstm explain" in capsys.readouterr().out
    assert main(["demo", "--steps", "2", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "holds a previous run; pass --overwrite to replace it or another --out" in err and "--resume" not in err
    ctrl_c_at(260)
    assert main(["demo", "--steps", "300", "--out", str(tmp_path / "b")]) == 130
    err = capsys.readouterr().err
    assert "interrupted; its last checkpoint is" in err and "--resume" not in err


def test_an_interrupt_before_any_checkpoint_offers_no_resume(tmp_path, capsys, ctrl_c_at):
    ctrl_c_at(2)
    src = tmp_path / "corpus.txt"
    src.write_text(TEXT)
    code = main(["train-text", str(src), "--hidden", "16", "--layers", "1", "--seq-len", "16", "--batch", "4",
                 "--steps", "30", "--eval-every", "10", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130 and err[-1] == "interrupted"
    assert not (tmp_path / "run").exists()              # a run that kept nothing leaves no folder (not even its log)


def test_python_dash_m_runs_the_command_line():
    done = subprocess.run([sys.executable, "-m", "lstm", "generate", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "usage: lstm generate" in done.stdout


def test_score_reads_the_text_as_one_sequence(chars):
    """The oracle steps the model token by token (the streaming stepper) and sums −log p(next)."""
    text = TEXT[5000:5300]
    ids = chars.vocab_.encode(text)
    stepper, nats = chars.stepper(), 0.0
    for a, b in zip(ids[:-1], ids[1:]):
        z = stepper.step(int(a)).astype(np.float64)
        nats += np.log(np.exp(z - z.max()).sum()) + z.max() - z[b]
    nats /= len(ids) - 1
    assert chars.score(text)["nats"] == pytest.approx(nats, rel=1e-5)
    assert chars._sequence_loss(ids, window=7) == pytest.approx(nats, rel=1e-5)   # the state carried across windows


def test_a_word_prime_with_unseen_words_reads_them_as_unk(words, tmp_path, capsys):
    model = tmp_path / "w.safetensors"
    words.save(model)
    assert main(["generate", str(model), "--prime", "zyzzyva the", "--length", "3", "--seed", "0"]) == 0
    captured = capsys.readouterr()
    assert "note: --prime holds 1 word(s) the model never saw, read as <unk>: 'zyzzyva'" in captured.err
    assert captured.out.startswith("zyzzyva the")
    assert words.vocab_.encode("zyzzyva the")[0] == 0


def test_set_params_after_fit_changes_the_next_fit_not_the_saved_model(tmp_path):
    import lstm

    m = tiny().fit(TEXT, progress=False)
    m.set_params(hidden_size=24, steps=9)
    assert m.get_params()["hidden_size"] == 24 and m.fitted_params()["hidden_size"] == 16
    back = lstm.load(m.save(tmp_path / "m.safetensors"))      # used to be refused: the file claimed 24 units
    assert back.get_params()["hidden_size"] == 16 and back.get_params()["steps"] == 6
    assert back.score(TEXT[:300]) == pytest.approx(m.score(TEXT[:300]), rel=1e-6)
    m.fit(TEXT, progress=False)                               # the next fit takes the new parameters
    assert m.fitted_params()["hidden_size"] == 24 == lstm.load(m.save(tmp_path / "n.safetensors")).hidden_size


PROSE = ('She said "don\'t wait" (it was 10:30, and pi is 3.14) -- a well-known rule\'s "best" case!\n'
         "Costs rose 1,000 [sic] times; the model's words, not ours.")


def test_word_tokens_keep_contractions_and_numbers_and_decode_restores_the_spacing():
    from lstm.data import Vocabulary

    v = Vocabulary.build(PROSE, "word")
    tokens = v.tokenize(PROSE)
    assert {"don't", "rule's", "model's", "10:30", "3.14", "1,000"} <= set(tokens)
    assert v.decode(v.encode(PROSE)) == PROSE.replace(") -- a", ")--a")     # only the spaced dash is lost


def test_a_vocabulary_saved_without_a_tokenizer_version_keeps_splitting_contractions():
    from lstm.data import Vocabulary

    old = Vocabulary.from_config({"level": "word", "tokens": ["<unk>", "don", "'", "t"]})
    assert old.tokenize("don't") == ["don", "'", "t"] and old.encode("don't").tolist() == [1, 2, 3]
    new = Vocabulary.from_config(Vocabulary.build("don't", "word").to_config())
    assert new.tokenize("don't") == ["don't"] and new.tokenizer == TOKENIZER


def test_words_keep_their_combining_marks_and_older_vocabularies_their_split():
    """\\w matches no combining mark, so Devanagari words split at every vowel sign and é written e + U+0301 split in
    two: word models of Hindi, Tamil, Thai... learned fragments."""
    from lstm.data import Vocabulary

    text = "मैं हिन्दी बोलता हूँ। cafe\u0301 naïve"
    v = Vocabulary.build(text, "word")
    assert v.tokenize(text) == ["मैं", "हिन्दी", "बोलता", "हूँ", "।", "cafe\u0301", "naïve"]
    assert v.decode(v.encode(text)) == text
    v2 = Vocabulary.from_config({**v.to_config(), "tokenizer": 2})          # saved before: keeps its own split
    assert v2.tokenize("हिन्दी") == ["ह", "ि", "न", "्", "द", "ी"]


def test_generation_continues_the_primes_open_quote():
    from lstm.data import Joiner, Vocabulary

    v = Vocabulary.build('a "b" c', "word")
    join = Joiner(v)
    join.feed(v.encode('a "'))                                 # the prime opened a quote
    assert join.piece(v.index["b"]) == "b" and join.piece(v.index['"']) == '"'
    assert Joiner(v).piece(v.index['"']) == '"' and v.decode(v.encode('a " b')) == 'a "b'


def test_a_run_beyond_memory_leaves_no_folder(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT[:3000])
    out = tmp_path / "runs" / "big"
    assert main(["train-text", str(corpus), "--hidden", "200000", "--steps", "2", "--out", str(out)]) == 2
    assert "not enough memory" in capsys.readouterr().err and not (tmp_path / "runs").exists()


def test_typographic_opening_quotes_take_a_space_before_and_none_after():
    from lstm.data import Joiner, Vocabulary

    for text in ["She said “don’t wait” and left.", "the ‘floor’ function", "(“a”) x «y» z"]:
        v = Vocabulary.build(text, "word")
        assert v.decode(v.encode(text)) == text
    v = Vocabulary.build("say “hi” now", "word")
    join = Joiner(v)
    join.feed(v.encode("say “"))                                # a prime that opened a typographic quote
    assert join.piece(v.index["hi"]) == "hi"


def test_read_text_names_utf16_and_utf32_read_as_another_encoding(tmp_path):
    text = "one\ntwo three\n" * 20
    cases = {"bom16.txt": ("utf-16", "utf-16"), "le.txt": ("utf-16-le", "utf-16-le"),
             "be.txt": ("utf-16-be", "utf-16-be"), "bom32.txt": ("utf-32", "utf-32")}
    for name, (codec, advice) in cases.items():
        path = tmp_path / name
        path.write_bytes(text.encode(codec))
        for given in ("utf-8", "latin-1"):
            with pytest.raises(ValueError, match=f"{name} looks like {advice.upper()} text, not {given}; pass "
                                                 f"--encoding {advice}$"):
                read_text([path], encoding=given)
        assert read_text([path], encoding=advice) == text
    with pytest.raises(ValueError, match="unknown encoding 'nope'"):
        read_text([tmp_path / "le.txt"], encoding="nope")
    with pytest.raises(ValueError, match="no files given"):
        read_text([])


def test_read_text_judges_emptiness_after_decoding(tmp_path):
    cases = {"bom.txt": "\ufeff".encode("utf-8"), "ws16.txt": " \n\t ".encode("utf-16"),
             "nbsp.txt": "\u00a0\u3000\n".encode("utf-8")}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        encoding = "utf-16" if "16" in name else "utf-8"
        with pytest.raises(ValueError, match=rf"{name} is empty \(only white space\)"):
            read_text([tmp_path / name], encoding=encoding)
    (tmp_path / "none.txt").write_bytes(b"")
    with pytest.raises(ValueError, match="none.txt is empty; give"):
        read_text([tmp_path / "none.txt"])


def test_a_word_prime_ending_in_white_space_is_not_followed_by_another_space(words):
    for end in (" ", "  ", "\t"):
        spaced = words.sample(6, prime="the value" + end, temperature=0)
        plain = words.sample(6, prime="the value", temperature=0)
        assert plain.startswith(" ") and spaced == plain[1:]
    assert words.sample(5, prime="the value (", seed=1)[0] != " "


def test_a_boolean_length_is_refused(chars):
    with pytest.raises(ValueError, match="length must be a positive integer, got True"):
        chars.sample(True)
