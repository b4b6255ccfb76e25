"""`lstm classify`: input that is accepted but doubtful gets one `warning: ...` line each, and the run goes on."""

import json

import numpy as np
import pytest

from cli_run import run_cli

FAST = ["--epochs", "1", "--hidden", "4", "--quiet"]


def _wide(path, n=12):
    rng = np.random.default_rng(0)
    rows = [f"{['up', 'down'][k % 2]}," + ",".join(f"{v:.3f}" for v in rng.normal(size=5)) for k in range(n)]
    path.write_text("label,a,b,c,d,e\n" + "\n".join(rows) + "\n")
    return path


def _jsonl(path, ids):
    path.write_text("".join(json.dumps({"id": i, "label": ["up", "down"][k % 2], "sequence": [k, k + 1.0, 2.0]})
                            + "\n" for k, i in enumerate(ids)))
    return path


def _warnings(err):
    lines = err.strip().splitlines()
    assert all(line.startswith("warning: ") for line in lines), err
    return lines


@pytest.mark.parametrize("name, extra, unused", [
    ("w.csv", ["--features", "a"], ["--features"]),
    ("w.csv", ["--time-col", "a", "--features", "b"], ["--time-col", "--features"]),
    ("s.jsonl", ["--id", "id"], ["--id"]),
])
def test_layout_options_the_file_does_not_read_are_named_in_one_warning(tmp_path, name, extra, unused, capsys):
    data = _wide(tmp_path / name) if name.endswith(".csv") else _jsonl(tmp_path / name, [f"s{k}" for k in range(12)])
    model = tmp_path / "m.safetensors"
    assert run_cli(["classify", "train", str(data), *FAST, "--out", str(model), *extra]) == 0
    lines = _warnings(capsys.readouterr().err)
    assert len(lines) == 1 and all(option in lines[0] for option in unused), lines
    assert run_cli(["classify", "predict", str(model), str(data), "--out", str(tmp_path / "p.csv"), *extra]) == 0
    lines = _warnings(capsys.readouterr().err)
    assert len(lines) == 1 and all(option in lines[0] for option in unused), lines


def test_options_the_file_reads_bring_no_warning(tmp_path, capsys):
    data = _wide(tmp_path / "w.csv")
    model = tmp_path / "m.safetensors"
    assert run_cli(["classify", "train", str(data), *FAST, "--out", str(model)]) == 0
    assert capsys.readouterr().err == ""
    assert run_cli(["classify", "predict", str(model), str(data), "--out", str(tmp_path / "p.csv")]) == 0
    assert capsys.readouterr().err == ""


def test_a_test_file_that_is_the_training_file_is_warned_about(tmp_path, capsys):
    data = _wide(tmp_path / "w.csv")
    assert run_cli(["classify", "train", str(data), "--test", str(tmp_path / "." / "w.csv"), *FAST,
                    "--out", str(tmp_path / "m.safetensors")]) == 0
    lines = _warnings(capsys.readouterr().err)
    assert len(lines) == 1 and "--test" in lines[0] and "training" in lines[0], lines


def test_predict_warns_when_ids_repeat_so_rows_cannot_be_told_apart(tmp_path, capsys):
    train = _wide(tmp_path / "w.csv")
    model = tmp_path / "m.safetensors"
    assert run_cli(["classify", "train", str(train), *FAST, "--out", str(model)]) == 0
    capsys.readouterr()
    data = _jsonl(tmp_path / "new.jsonl", ["a", "b", "a", "c", "a"])
    assert run_cli(["classify", "predict", str(model), str(data), "--json"]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("warning: ")]
    assert len(lines) == 1 and "'a'" in lines[0] and "3" in lines[0], captured.err
    assert json.loads(captured.out.strip().splitlines()[-1])["ids"] == ["a", "b", "a", "c", "a"]


def test_mnist1d_names_the_data_options_it_does_not_use(tmp_path, monkeypatch, capsys):
    import lstm.datasets

    rng = np.random.default_rng(0)
    tiny = (rng.normal(size=(12, 6)), np.arange(12) % 2, rng.normal(size=(4, 6)), np.arange(4) % 2)
    monkeypatch.setattr(lstm.datasets, "load_mnist1d", lambda: tiny)
    monkeypatch.chdir(tmp_path)
    out = ["--out", str(tmp_path / "m.safetensors")]
    assert run_cli(["classify", "train", "mnist1d", *FAST, *out, "--test", "other.csv", "--label", "digit"]) == 0
    lines = _warnings(capsys.readouterr().err)
    assert len(lines) == 1 and "--test" in lines[0] and "--label" in lines[0], lines
    assert run_cli(["classify", "train", "mnist1d", *FAST, *out]) == 0
    assert capsys.readouterr().err == ""
