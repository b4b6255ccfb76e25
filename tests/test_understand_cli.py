"""The understanding commands on edge input: `lstm explain` (threshold, --png folder, model kinds) and
`lstm gradients` (what it reports, where it writes)."""

import json

import pytest

from lstm.cli import main
from lstm.data.text import builtin_corpus
from lstm.models import LanguageModel
from cli_run import run_cli


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    model = LanguageModel(hidden_size=8, num_layers=1, embedding_dim=4, seq_len=20, batch_size=8, steps=5,
                          eval_every=5, seed=0).fit(builtin_corpus()[:5000], progress=False)
    return model.save(tmp_path_factory.mktemp("lm") / "m.safetensors")


def one_line_error(capsys, message):
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
    return captured


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_explain_refuses_a_threshold_the_page_cannot_hold(model_file, tmp_path, capsys, value):
    out = tmp_path / "r.html"
    assert run_cli(["explain", str(model_file), "--text", "abc", "--out", str(out), f"--threshold={value}"]) == 2
    one_line_error(capsys, "argument --threshold: expected a finite number")
    assert not out.exists()


def test_explain_refuses_a_png_folder_under_a_file_before_writing_the_report(model_file, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    out = tmp_path / "r.html"
    png = tmp_path / "notes.txt" / "figs"
    assert run_cli(["explain", str(model_file), "--text", "abc", "--out", str(out), "--png", str(png)]) == 2
    captured = one_line_error(capsys, f"--png {png}: {tmp_path / 'notes.txt'} is a file, not a folder")
    assert captured.out == "" and not out.exists()


def test_explain_without_matplotlib_writes_nothing(model_file, tmp_path, capsys, monkeypatch):
    from lstm.viz import figures

    def missing():
        raise ImportError("PNG figures need matplotlib: pip install 'lstm[viz]' (or pip install matplotlib)")

    monkeypatch.setattr(figures, "pyplot", missing)
    out, png = tmp_path / "r.html", tmp_path / "figs"
    assert run_cli(["explain", str(model_file), "--text", "abc", "--out", str(out), "--png", str(png)]) == 2
    one_line_error(capsys, "PNG figures need matplotlib")
    assert not out.exists() and not png.exists()


def test_explain_names_the_kind_of_model_it_was_given(tmp_path, capsys):
    import numpy as np

    import lstm
    from lstm.models import LSTMClassifier

    seqs = [np.random.default_rng(i).normal(size=(6, 2)).astype(np.float32) for i in range(8)]
    clf = LSTMClassifier(hidden_size=4, epochs=1, batch_size=4).fit(seqs, [0, 1] * 4, progress=False)
    path = lstm.save(clf, tmp_path / "clf.safetensors")
    assert run_cli(["explain", str(path), "--text", "abc", "--out", str(tmp_path / "r.html")]) == 2
    one_line_error(capsys, f"{path} is not a language model (it holds LSTMClassifier); explain needs one")


@pytest.mark.parametrize("argv", [["gradients", "--out", "{dir}/g.txt"],
                                  ["tasks", "compare", "adding", "--out", "{dir}/c.jpeg"]])
def test_plots_must_be_named_png_and_are_refused_before_any_work(tmp_path, capsys, argv):
    argv = [a.replace("{dir}", str(tmp_path)) for a in argv]
    assert run_cli(argv + ["--quiet"]) == 2
    captured = one_line_error(capsys, "--out must name a PNG file ending in .png")
    assert captured.out == "" and list(tmp_path.iterdir()) == []


def test_gradients_reports_the_training_steps_taken_not_the_budget(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["gradients", "--model", "lstm", "--length", "12", "--steps", "3000", "--out",
                 str(tmp_path / "g.png"), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    taken = json.loads(lines[-1])["training"]["lstm"]["steps"]
    assert taken < 3000                                          # T = 12 is solved well within the budget
    assert any(line.startswith(f"  LSTM after {taken} training steps: test MSE") for line in lines)


def test_gradients_on_a_short_sequence_gives_no_cell_ratio_of_a_lag_to_itself(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["gradients", "--length", "8", "--steps", "0", "--out", str(tmp_path / "g.png")]) == 0
    out = capsys.readouterr().out
    assert "at lag 5 relative to lag 0" in out
    lstm_line = [line for line in out.splitlines() if line.startswith("  LSTM")][0]
    assert "∂L/∂c_t" not in lstm_line                           # lags 0 and 5 only: no span for the cell gradient
    assert main(["gradients", "--length", "30", "--steps", "0", "--out", str(tmp_path / "g.png")]) == 0
    assert "(‖∂L/∂c_t‖ relative to lag 5:" in capsys.readouterr().out
