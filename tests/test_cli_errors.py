"""The command line on bad input and hostile conditions: one line on stderr and exit code 2 (never a traceback),
checked before any work or writing; a closed output pipe ends quietly."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import lstm
from lstm.cli import main
from lstm.models import LSTMClassifier, LSTMForecaster
from cli_run import one_line, run_cli

TINY = ["--steps", "5", "--hidden", "4"]


@pytest.fixture
def binary_csv(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)))
    return path


def test_a_diverging_run_is_one_line_that_suggests_a_lower_lr(capsys):
    assert run_cli(["forecast", "airline", "--horizon", "3", "--steps", "20", "--hidden", "4", "--lr", "1e30",
                    "--quiet"]) == 2
    err = one_line(capsys)
    assert "became nan at step" in err and "lower --lr (it was 1e+30)" in err and "clip_norm" not in err


@pytest.mark.parametrize("argv,message", [
    (["forecast", "airline", "--seed", "-1"], "--seed: expected an integer >= 0, got -1"),
    (["demo", "--seed", "-1"], "--seed: expected an integer >= 0, got -1"),
    (["forecast", "airline", "--lr", "-1"], "--lr: expected a number > 0, got -1"),
    (["forecast", "airline", "--lr", "0"], "--lr: expected a number > 0, got 0"),
    (["forecast", "airline", "--dropout", "-0.1"], "--dropout: expected a probability in [0, 1), got -0.1"),
    (["forecast", "airline", "--dropout", "1"], "--dropout: expected a probability in [0, 1), got 1"),
    (["classify", "train", "mnist1d", "--forget-bias", "nan"], "--forget-bias: expected a finite number, got nan"),
    (["tasks", "run", "adding", "--forget-bias", "inf"], "--forget-bias: expected a finite number, got inf"),
])
def test_bad_options_name_the_option_its_range_and_the_value_before_any_output(argv, message, capsys):
    assert run_cli(argv) == 2
    out = capsys.readouterr()
    assert out.out == "" and message in out.err and len(out.err.strip().splitlines()) == 1, out


def test_a_file_that_is_not_utf8_text_is_named_with_the_fix(tmp_path, binary_csv, capsys):
    assert main(["forecast", str(binary_csv), "--target", "x", "--horizon", "2"]) == 2
    assert f"{binary_csv} is not UTF-8 text" in one_line(capsys)
    seqs = [np.arange(k, k + 4.0)[:, None] for k in range(4)]
    model = LSTMClassifier(hidden_size=4, epochs=1, val_fraction=0).fit(seqs, np.array(["a", "b"] * 2))
    lstm.save(model, tmp_path / "m.safetensors")
    assert main(["classify", "predict", str(tmp_path / "m.safetensors"), str(binary_csv)]) == 2
    assert f"{binary_csv} is not UTF-8 text" in one_line(capsys)


def test_a_directory_given_as_a_file_is_called_a_directory(tmp_path, capsys):
    assert main(["forecast", str(tmp_path), "--horizon", "2"]) == 2
    assert f"{tmp_path} is a directory; give a CSV file" in one_line(capsys)
    assert main(["classify", "predict", str(tmp_path), str(tmp_path / "x.csv")]) == 2
    assert f"{tmp_path} is a directory; give a model file" in one_line(capsys)
    assert main(["export", str(tmp_path), "--onnx", str(tmp_path / "m.onnx")]) == 2
    assert f"{tmp_path} is a directory" in one_line(capsys)


def test_export_refuses_opset_0_like_any_other_invalid_opset(tmp_path, capsys):
    pytest.importorskip("onnx")
    model = LSTMForecaster(horizon=2, steps=2, hidden_size=4).fit(np.sin(np.arange(30.0)))
    src = lstm.save(model, tmp_path / "m.safetensors")
    assert main(["export", str(src), "--onnx", str(tmp_path / "m.onnx"), "--opset", "0", "--no-check"]) == 2
    assert "opset must be an integer from 14" in one_line(capsys)
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("extra,message", [
    (["--out", "{dir}"], "--out {dir} is a directory"),
    (["--out", "{dir}/old.csv", "--plot", "{dir}/sub.png"], "--plot {dir}/sub.png is a directory"),
    (["--out", "{dir}/old.csv", "--plot", "{dir}/f.jpg"], "--plot must name a PNG file ending in .png"),
    (["--out", "{dir}/old.csv/f.csv"], "old.csv is a file, not a directory"),
    (["--save", "{dir}/sub"], "--save {dir}/sub is a directory"),
])
def test_forecast_output_paths_are_checked_before_any_work_or_writing(tmp_path, capsys, extra, message):
    (tmp_path / "sub.png").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "old.csv").write_text("keep me\n")
    extra = [a.replace("{dir}", str(tmp_path)) for a in extra]
    assert main(["forecast", "airline", "--horizon", "3"] + TINY + extra) == 2
    out = capsys.readouterr()
    assert out.out == "" and message.replace("{dir}", str(tmp_path)) in out.err and out.err.count("\n") == 1
    assert (tmp_path / "old.csv").read_text() == "keep me\n"


def test_export_refuses_a_directory_as_output_before_loading(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing.safetensors"), "--torch-safetensors", str(tmp_path)]) == 2
    assert f"--torch-safetensors {tmp_path} is a directory" in one_line(capsys)


def test_a_closed_output_pipe_ends_quietly():
    read_end, write_end = os.pipe()
    os.close(read_end)                                   # like `lstm ... | head` after head has exited
    code = "import sys; from lstm.cli import main; sys.exit(main(sys.argv[1:]))"
    res = subprocess.run([sys.executable, "-c", code, "forecast", "airline", "--horizon", "3", "--quiet"] + TINY,
                         stdout=write_end, stderr=subprocess.PIPE, timeout=120)
    os.close(write_end)
    assert res.returncode == 141 and res.stderr == b""


def test_the_progress_bar_goes_to_stderr_so_stdout_holds_only_results():
    code = "import sys; from lstm.cli import main; sys.exit(main(sys.argv[1:]))"
    res = subprocess.run([sys.executable, "-c", code, "forecast", "airline", "--horizon", "3"] + TINY,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "step 5/5" in res.stderr and "step 5/5" not in res.stdout
    assert "1961-01" in res.stdout                                   # the forecast itself


@pytest.mark.parametrize("quantiles,message", [
    ("0.5,0.5", "--quantiles has 0.5 twice; give each quantile once, like 0.1,0.5,0.9"),
    ("0.1,0.5,0.50,0.9,0.1", "--quantiles has 0.1 twice and 0.5 twice; give each quantile once"),
])
def test_forecast_refuses_a_quantile_given_twice(quantiles, message, capsys):
    assert run_cli(["forecast", "airline", "--horizon", "3", "--quantiles", quantiles, "--quiet"] + TINY) == 2
    out = capsys.readouterr()
    assert out.out == "" and message in out.err and len(out.err.strip().splitlines()) == 1, out


def _long_csv(tmp_path):
    rows = ["id,t,a,b,label"] + [f"{s},{t},{np.sin(s + t):.3f},{np.cos(s * t):.3f},{'xy'[s % 2]}"
                                  for s in range(8) for t in range(5)]
    path = tmp_path / "long.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("argv,message", [
    (["forecast", "stocks", "--target", "GOOG", "--features", "AAPL,MSFT,AAPL", "--horizon", "2", "--quiet"] + TINY,
     "--features has 'AAPL' twice; give each column once"),
    (["forecast", "stocks", "--target", "GOOG", "--features", "AAPL, AAPL,AAPL", "--horizon", "2", "--quiet"] + TINY,
     "--features has 'AAPL' 3 times; give each column once"),
    (["classify", "train", "{long}", "--id", "id", "--time-col", "t", "--features", "a,b,a", "--epochs", "1",
      "--hidden", "4", "--quiet", "--out", "{dir}/m.safetensors"], "--features has 'a' twice; give each column once"),
    (["tasks", "compare", "adding", "--models", "lstm,gru,lstm", "--steps", "2", "--hidden", "2", "--length", "10",
      "--quiet", "--out", "{dir}/c.png"], "--models has lstm twice; give each model once, like lstm,gru,rnn"),
])
def test_a_list_option_naming_an_item_twice_is_refused_before_any_work(tmp_path, argv, message, capsys):
    argv = [a.replace("{long}", str(_long_csv(tmp_path))).replace("{dir}", str(tmp_path)) for a in argv]
    assert run_cli(argv) == 2
    out = capsys.readouterr()
    assert out.out == "" and message in out.err and len(out.err.strip().splitlines()) == 1, out
    assert not (tmp_path / "m.safetensors").exists() and not (tmp_path / "c.png").exists()


TINY_TASK = ["--steps", "2", "--hidden", "2", "--length", "10", "--quiet"]


@pytest.mark.parametrize("argv,message", [
    (["tasks", "run", "adding", "--model", "gru", "--forget-bias", "2"],
     "--forget-bias applies to the LSTM's forget gate; --model gru has none (drop --forget-bias or use --model lstm)"),
    (["tasks", "run", "adding", "--model", "rnn", "--forget-bias", "-1"],
     "--forget-bias applies to the LSTM's forget gate; --model rnn has none (drop --forget-bias or use --model lstm)"),
    (["tasks", "compare", "adding", "--models", "gru,rnn", "--forget-bias", "2", "--out", "{dir}/c.png"],
     "--forget-bias applies to the LSTM's forget gate; --models gru,rnn has none (drop --forget-bias or add lstm "
     "to --models)"),
])
def test_tasks_refuse_a_forget_bias_for_models_without_a_forget_gate(tmp_path, argv, message, capsys):
    argv = [a.replace("{dir}", str(tmp_path)) for a in argv]
    assert run_cli(argv + TINY_TASK) == 2
    out = capsys.readouterr()
    assert out.out == "" and message in out.err and len(out.err.strip().splitlines()) == 1, out
    assert not (tmp_path / "c.png").exists()


@pytest.mark.parametrize("argv", [
    ["tasks", "run", "adding", "--model", "gru", "--forget-bias", "0"],     # 0: no bias added, nothing to refuse
    ["tasks", "run", "adding", "--model", "lstm", "--forget-bias", "2"],
])
def test_tasks_accept_a_forget_bias_that_means_something(argv, capsys):
    assert run_cli(argv + TINY_TASK) == 0
    assert "criterion" in capsys.readouterr().out


def test_sizes_beyond_memory_are_one_line_and_exit_2(capsys):
    assert main(["forecast", "airline", "--horizon", "3", "--hidden", "100000", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not enough memory for this run" in err and "--hidden" in err
    assert "(--hidden, --batch, --layers)" in err                   # the size options this command has


def test_a_learning_rate_beyond_float32_is_one_line_with_no_warning():
    code = "import sys; from lstm.cli import main; sys.exit(main(sys.argv[1:]))"   # warnings as a user sees them
    res = subprocess.run([sys.executable, "-c", code, "tasks", "run", "adding", "--length", "10", "--steps", "5",
                          "--hidden", "2", "--quiet", "--lr", "1e300"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "became nan" in res.stderr and "lower --lr (it was 1e+300)" in res.stderr


def test_negative_numbers_in_exponent_form_are_values_not_options(capsys):
    argv = ["tasks", "run", "adding", "--length", "4", "--steps", "1", "--hidden", "2", "--quiet", "--json"]
    assert run_cli(argv + ["--forget-bias", "-1e1"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["forget_bias"] == -10.0


@pytest.mark.parametrize("argv, prefix", [
    (["classify", "predict", "missing.safetensors", "missing.csv"], "lstm classify predict: error: "),
    (["generate", "missing.safetensors"], "lstm generate: error: "),
    (["classify", "predict", "m.safetensors"], "lstm classify predict: error: "),     # argparse's own error
])
def test_errors_start_with_the_full_subcommand_as_argparse_names_it(tmp_path, monkeypatch, argv, prefix, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_cli(argv) == 2
    assert one_line(capsys).startswith(prefix)


def test_a_missing_optional_package_is_one_line_naming_what_to_install(tmp_path, monkeypatch, capsys):
    for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)                     # as if it were not installed
    code = run_cli(["forecast", "airline", "--horizon", "2", "--steps", "2", "--hidden", "4", "--quiet",
                    "--plot", str(tmp_path / "f.png")])
    err = one_line(capsys)
    assert code == 2 and "pip install" in err and "matplotlib" in err
