"""`lstm translate` and `lstm train-seq2seq` as a user meets them: an output path that names an input (the model,
the --file read) or another output is refused in one line before anything is written, and a refusal says which
option fixes it."""

import pytest

from lstm.data.seq2seq_tasks import format_pairs
from lstm.models.seq2seq import Seq2Seq
from cli_run import one_line, run_cli

DIGITS = [(str(n), str(2 * n)) for n in range(30)]          # sources and targets use the characters 0-9 only


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    m = Seq2Seq(hidden_size=8, embedding_dim=4, batch_size=8, steps=2, eval_every=2).fit(DIGITS, progress=False)
    return m.save(tmp_path_factory.mktemp("digits") / "model.safetensors")


@pytest.fixture()
def model_copy(digits_model, tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(digits_model.read_bytes())
    return path


@pytest.mark.parametrize("option", ["--out", "--html"])
def test_translate_refuses_to_write_over_its_model(model_copy, capsys, option):
    before = model_copy.read_bytes()
    assert run_cli(["translate", str(model_copy), "12", option, str(model_copy)]) == 2
    err = one_line(capsys)
    assert err.startswith("lstm translate: error: ") and option in err and "MODEL" in err, err
    assert model_copy.read_bytes() == before


def test_translate_refuses_to_write_over_the_file_it_reads(model_copy, tmp_path, capsys):
    src = tmp_path / "in.tsv"
    src.write_text(format_pairs(DIGITS[:3]))
    before = src.read_text()
    assert run_cli(["translate", str(model_copy), "--file", str(src), "--out", str(src)]) == 2
    err = one_line(capsys)
    assert "--out" in err and "--file" in err, err
    assert src.read_text() == before


def test_translate_refuses_one_name_for_the_translation_and_the_page(model_copy, tmp_path, capsys):
    out = tmp_path / "both.html"
    assert run_cli(["translate", str(model_copy), "12", "--out", str(out), "--html", str(out)]) == 2
    err = one_line(capsys)
    assert "--out" in err and "--html" in err, err
    assert not out.exists()


def test_translate_still_writes_through_a_device(model_copy, capsys):
    assert run_cli(["translate", str(model_copy), "12", "--out", "/dev/null"]) == 0


def test_a_pair_over_max_len_names_the_option_that_raises_it(tmp_path, capsys):
    pairs = tmp_path / "p.tsv"
    pairs.write_text(format_pairs([("1", "2"), ("123456", "7")]))
    out = tmp_path / "run"
    argv = ["train-seq2seq", str(pairs), "--max-len", "3", "--steps", "1", "--hidden", "8", "--embedding", "4",
            "--quiet", "--out", str(out)]
    assert run_cli(argv) == 2
    err = one_line(capsys)
    assert "line 2:" in err and "raise --max-len" in err, err
    assert not out.exists()


def test_resume_and_overwrite_together_are_refused_and_the_run_is_kept(tmp_path, capsys):
    pairs = tmp_path / "p.tsv"
    pairs.write_text(format_pairs(DIGITS[:6]))
    out = tmp_path / "run"
    argv = ["train-seq2seq", str(pairs), "--steps", "2", "--hidden", "8", "--embedding", "4", "--quiet",
            "--out", str(out)]
    assert run_cli(argv) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert run_cli(argv[:3] + ["4"] + argv[4:] + ["--resume", "--overwrite"]) == 2
    err = one_line(capsys)
    assert "--resume" in err and "--overwrite" in err, err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_translate_refuses_one_name_for_the_translation_and_the_heatmap(model_copy, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "both.png"
    assert run_cli(["translate", str(model_copy), "12", "--out", str(out), "--heatmap", str(out)]) == 2
    err = one_line(capsys)
    assert "--out" in err and "--heatmap" in err, err
    assert not out.exists()


def test_the_next_command_works_when_pasted_for_a_folder_with_a_space(tmp_path, capsys):
    import shlex

    pairs = tmp_path / "p.tsv"
    pairs.write_text(format_pairs(DIGITS[:6]))
    out = tmp_path / "my run"
    assert run_cli(["train-seq2seq", str(pairs), "--steps", "2", "--hidden", "8", "--embedding", "4", "--quiet",
                    "--out", str(out)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("next: "))
    words = shlex.split(line[len("next: "):].split("   (")[0])
    assert words[:2] == ["lstm", "translate"] and words[2] == str(out / "model.safetensors")
    assert (out / "model.safetensors").is_file()
