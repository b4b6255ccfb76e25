"""`lstm forecast` and `lstm classify`: an output never replaces an input (or another output of the same run), and
every quantile asked for keeps its own column in the CSV and the JSON."""

import json

import numpy as np
import pytest

from cli_run import one_line, run_cli

FAST = ["--steps", "3", "--hidden", "4", "--quiet"]


def _monthly(path, n=40):
    t = np.arange(n)
    y = 100 + t + 5 * np.sin(t)
    path.write_text("month,units\n" + "".join(f"{2015 + k // 12}-{1 + k % 12:02d}-01,{v:.3f}\n"
                                             for k, v in enumerate(y)))
    return path


def _wide(path, n=12):
    rng = np.random.default_rng(0)
    rows = [f"{['up', 'down'][k % 2]}," + ",".join(f"{v:.3f}" for v in rng.normal(size=5)) for k in range(n)]
    path.write_text("label,a,b,c,d,e\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("option", ["--out", "--save"])
def test_forecast_refuses_to_write_over_its_input_file(tmp_path, option, capsys):
    data = _monthly(tmp_path / "sales.csv")
    before = data.read_bytes()
    assert run_cli(["forecast", str(data), "--horizon", "2", *FAST, option, str(data)]) == 2
    err = one_line(capsys)
    assert err.startswith("lstm forecast: error: ") and option in err and "input" in err
    assert data.read_bytes() == before


@pytest.mark.parametrize("argv, names", [
    (["--out", "{d}/same", "--save", "{d}/same"], ("--out", "--save")),
    (["--plot", "{d}/f.png", "--save", "{d}/f.png"], ("--plot", "--save")),
    (["--plot", "{d}/f.png", "--backtest", "1", "--out", "{d}/f-backtest.png"], ("--out", "--plot")),
])
def test_forecast_refuses_two_outputs_on_one_path_before_any_work(tmp_path, argv, names, capsys):
    data = _monthly(tmp_path / "sales.csv")
    argv = [a.format(d=tmp_path) for a in argv]
    assert run_cli(["forecast", str(data), "--horizon", "2", *FAST, *argv]) == 2
    err = one_line(capsys)
    assert all(name in err for name in names), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sales.csv"]          # nothing written


def test_forecast_outputs_to_a_device_may_share_it(tmp_path, capsys):
    data = _monthly(tmp_path / "sales.csv")
    assert run_cli(["forecast", str(data), "--horizon", "2", *FAST, "--out", "/dev/null", "--save", "/dev/null"]) == 0


def test_classify_train_refuses_to_write_its_model_over_the_data(tmp_path, capsys):
    data = _wide(tmp_path / "w.csv")
    test = _wide(tmp_path / "t.csv")
    for out in (data, test):
        before = out.read_bytes()
        assert run_cli(["classify", "train", str(data), "--test", str(test), "--epochs", "1", "--hidden", "4",
                        "--quiet", "--out", str(out)]) == 2
        err = one_line(capsys)
        assert err.startswith("lstm classify train: error: --out") and "input" in err
        assert out.read_bytes() == before


def test_classify_predict_refuses_to_write_over_the_model_or_the_data(tmp_path, capsys):
    data = _wide(tmp_path / "w.csv")
    model = tmp_path / "m.safetensors"
    assert run_cli(["classify", "train", str(data), "--epochs", "1", "--hidden", "4", "--quiet",
                    "--out", str(model)]) == 0
    capsys.readouterr()
    for out in (model, data):
        before = out.read_bytes()
        assert run_cli(["classify", "predict", str(model), str(data), "--out", str(out)]) == 2
        err = one_line(capsys)
        assert err.startswith("lstm classify predict: error: --out") and "input" in err
        assert out.read_bytes() == before


def test_quantiles_that_agree_to_six_digits_keep_separate_columns(tmp_path, capsys):
    data = _monthly(tmp_path / "sales.csv")
    out = tmp_path / "f.csv"
    levels = "0.1234561,0.1234562,0.9"
    assert run_cli(["forecast", str(data), "--horizon", "2", *FAST, "--quantiles", levels, "--out", str(out),
                    "--json"]) == 0
    fc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["forecast"]
    header = out.read_text().splitlines()[0].split(",")
    assert len(set(header)) == len(header) == 5, header
    assert [k for k in fc if k.startswith("q")] == header[2:]
    rows = np.array([line.split(",")[1:] for line in out.read_text().splitlines()[1:]], dtype=float)
    for j, name in enumerate(header[2:]):
        assert np.allclose(rows[:, j + 1], fc[name])


@pytest.mark.parametrize("features", ["", " , "])
def test_a_features_option_that_names_no_column_is_refused(tmp_path, features, capsys):
    data = _monthly(tmp_path / "sales.csv")
    assert run_cli(["forecast", str(data), "--horizon", "2", *FAST, "--features", features]) == 2
    assert "lstm forecast: error: --features" in one_line(capsys)
    wide = _wide(tmp_path / "w.csv")
    assert run_cli(["classify", "train", str(wide), "--epochs", "1", "--hidden", "4", "--quiet", "--id", "label",
                    "--features", features, "--out", str(tmp_path / "m.safetensors")]) == 2
    assert "lstm classify train: error: --features" in one_line(capsys)


def test_a_model_of_another_kind_is_named_with_its_article(tmp_path, capsys):
    model = tmp_path / "f.safetensors"
    assert run_cli(["forecast", "airline", "--horizon", "2", "--steps", "2", "--hidden", "4", "--quiet",
                    "--save", str(model)]) == 0
    capsys.readouterr()
    data = tmp_path / "w.csv"
    data.write_text("label,t0,t1\na,1,2\n")
    assert run_cli(["classify", "predict", str(model), str(data)]) == 2
    assert f"{model} holds an LSTMForecaster, not a classifier" in one_line(capsys)
