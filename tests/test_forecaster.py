"""LSTMForecaster: its network's hand-written backward, fitting, quantiles, strategies, persistence, sklearn."""

import json

import numpy as np
import pytest

import lstm
from lstm.cli import main
from lstm.forecast import backtest
from lstm.models import LSTMForecaster, NotFittedError
from lstm.models.forecaster import ForecasterNet, seasonal_strength

from fd import max_rel_error, numeric_grad

FAST = dict(hidden_size=16, steps=60, batch_size=16, lr=1e-2)


def seasonal_series(n=120, m=12, trend=0.02, noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.exp(4 + trend * t + 0.2 * np.sin(2 * np.pi * t / m) + noise * rng.normal(size=n))


# ---------------------------------------------------------------------------------------------------------------
# the network's backward pass
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layers,quantiles", [(1, 1), (2, 3)])
def test_forecaster_net_backward_matches_finite_differences(layers, quantiles):
    rng = np.random.default_rng(1)
    net = ForecasterNet(n_features=2, hidden_size=5, num_layers=layers, steps_out=3, n_quantiles=quantiles, seed=3,
                        dtype=np.float64).eval()
    for p in net.parameters().values():          # non-zero biases everywhere
        p += rng.normal(scale=0.1, size=p.shape)
    x = rng.normal(size=(4, 6, 2))
    R = rng.normal(size=(4, 3, quantiles))
    out = net.forward(x)
    assert out.shape == (4, 3, quantiles)
    dx = net.backward(R)
    analytic = {k: g.copy() for k, g in net.grads.items()}

    def f():
        return float(np.sum(net.forward(x) * R))

    assert max_rel_error(dx, numeric_grad(f, x)) < 1e-7
    for name, p in net.parameters().items():
        assert max_rel_error(analytic[name], numeric_grad(f, p)) < 1e-7, name


def test_forecaster_net_exposes_lstm_and_linear_head():
    net = ForecasterNet(1, 8, 1, steps_out=4, n_quantiles=3, seed=0)
    assert type(net.rnn).__name__ == "LSTM" and net.rnn.batch_first
    assert net.head.weight.shape == (12, 8)
    assert sorted(net.parameters()) == sorted(["rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0",
                                               "rnn.bias_hh_l0", "head.weight", "head.bias"])


# ---------------------------------------------------------------------------------------------------------------
# fitting and predicting
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def seasonal_fit():
    y = seasonal_series()
    return y, LSTMForecaster(horizon=6, season=12, quantiles=[0.1, 0.9], **FAST).fit(y[:-6])


def test_fit_resolves_auto_choices_and_learns_attributes(seasonal_fit):
    y, m = seasonal_fit
    assert m.transform_ == "log" and m.normalize_ == "season" and m.lookback_ == 24
    assert m.quantiles_ == [0.1, 0.5, 0.9]           # 0.5 is added: it is the point forecast
    assert m.history_ and m.n_train_ == len(y) - 6
    assert LSTMForecaster().get_params()["steps"] == 300 and not hasattr(LSTMForecaster(), "net_")


def test_quantile_forecasts_are_ordered_and_the_median_is_the_point(seasonal_fit):
    y, m = seasonal_fit
    q = m.predict_quantiles(6)
    assert q.shape == (6, 3) and np.all(np.diff(q, axis=1) >= 0)
    assert np.allclose(m.predict(6), q[:, 1])
    assert np.mean(np.abs(m.predict(6) - y[-6:])) < np.mean(np.abs(y[-18:-12] - y[-6:]))   # beats seasonal naive


def test_predict_longer_than_the_head_chains_blocks_and_accepts_new_history(seasonal_fit):
    y, m = seasonal_fit
    long = m.predict(15)
    assert long.shape == (15,) and np.allclose(long[:6], m.predict(6))
    assert np.allclose(m.predict(6, y=y[:-6]), m.predict(6))           # same history → same forecast
    assert not np.allclose(m.predict(6, y=y), m.predict(6))
    with pytest.raises(ValueError, match="at least lookback = 24"):
        m.predict(3, y=y[:10])


def test_recursive_strategy_and_point_losses():
    y = seasonal_series(n=80)
    for loss in ("mse", "huber", "mae"):
        m = LSTMForecaster(horizon=4, season=12, strategy="recursive", loss=loss, **FAST).fit(y)
        assert m.net_.head.weight.shape[0] == 1 and m.predict(4).shape == (4,)
    with pytest.raises(ValueError, match="built without quantiles"):
        m.predict_quantiles(2)


def test_covariates_are_used_and_future_steps_beyond_the_head_are_refused():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = np.r_[0.0, 0.0, x[:-2]] * 2 + 0.01 * rng.normal(size=200)    # y_t = 2 x_{t-2}: x leads y by two steps
    kw = dict(horizon=2, lookback=8, normalize="none", transform="none", hidden_size=16, steps=300, lr=1e-2)
    m = LSTMForecaster(**kw).fit(y[:170], X=x[:170, None])
    alone = LSTMForecaster(**kw).fit(y[:170])
    err = [np.abs(m.predict(2, y=y[:k], X=x[:k, None]) - y[k:k + 2]).mean() for k in range(170, 198)]
    err_alone = [np.abs(alone.predict(2, y=y[:k]) - y[k:k + 2]).mean() for k in range(170, 198)]
    assert m.n_features_ == 2 and np.mean(err) < 0.3 * np.mean(err_alone)
    with pytest.raises(ValueError, match="future covariate"):
        m.predict(5)
    with pytest.raises(ValueError, match="exactly when the model was fitted with covariates"):
        m.predict(2, y=y[:100])


def test_bad_series_and_parameters_are_refused_with_one_line():
    with pytest.raises(ValueError, match="constant .*MASE is undefined"):
        LSTMForecaster(horizon=2).fit(np.full(50, 3.0))
    with pytest.raises(ValueError, match=r"too few for lookback 8 \+ horizon 2: at least 10"):
        LSTMForecaster(horizon=2).fit(np.arange(9.0))
    with pytest.raises(ValueError, match="missing or infinite value at index 3"):
        LSTMForecaster().fit([1, 2, 3, np.nan, 5] * 5)
    with pytest.raises(ValueError, match="strategy must be one of"):
        LSTMForecaster(strategy="sideways").fit(np.arange(30.0))
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        LSTMForecaster(quantiles=[0.1, 1.2]).fit(np.arange(30.0))
    with pytest.raises(NotFittedError):
        LSTMForecaster().predict(3)


def test_seasonal_strength_separates_calendar_seasons_from_noise():
    assert seasonal_strength(np.log(seasonal_series(n=144, noise=0.01)), 12) > 0.7
    assert abs(seasonal_strength(np.random.default_rng(0).normal(size=300).cumsum(), 12)) < 0.3


# ---------------------------------------------------------------------------------------------------------------
# persistence, determinism, sklearn
# ---------------------------------------------------------------------------------------------------------------

def test_save_load_round_trip_gives_identical_forecasts(seasonal_fit, tmp_path):
    _, m = seasonal_fit
    path = m.save(tmp_path / "f.safetensors")
    back = lstm.load(path)
    assert isinstance(back, LSTMForecaster) and back.get_params() == m.get_params()
    assert np.array_equal(back.predict_quantiles(9), m.predict_quantiles(9))
    assert back.scaler_.transform_name == "log" and back.normalize_ == "season"


def test_same_seed_same_model():
    y = seasonal_series(n=70)
    a = LSTMForecaster(horizon=3, season=12, **FAST).fit(y).predict(3)
    b = LSTMForecaster(horizon=3, season=12, **FAST).fit(y).predict(3)
    c = LSTMForecaster(horizon=3, season=12, **{**FAST, "seed": 1}).fit(y).predict(3)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_sklearn_clone_and_params_round_trip():
    base = pytest.importorskip("sklearn.base")
    from sklearn.utils.estimator_checks import check_get_params_invariance, check_set_params

    m = LSTMForecaster(horizon=5, quantiles=(0.2, 0.8), hidden_size=12)
    c = base.clone(m)
    assert c is not m and c.get_params() == m.get_params()
    c.set_params(hidden_size=7, steps=11)
    assert (c.hidden_size, c.steps, m.hidden_size) == (7, 11, 12)
    check_get_params_invariance("LSTMForecaster", m)
    check_set_params("LSTMForecaster", m)
    with pytest.raises(ValueError, match="has no parameter 'hidden'"):
        m.set_params(hidden=3)


# ---------------------------------------------------------------------------------------------------------------
# backtest with the real forecaster (fast), CLI end to end
# ---------------------------------------------------------------------------------------------------------------

def test_backtest_with_the_lstm_reports_every_model_and_the_coverage():
    y = seasonal_series(n=96)
    res = backtest(lambda: LSTMForecaster(horizon=6, season=12, quantiles=[0.1, 0.9], **FAST), y, horizon=6,
                   n_windows=2, season=12)
    obj = res.to_json()
    assert set(obj["metrics"]) == {"lstm", "naive", "seasonal_naive", "drift"}
    assert set(obj["metrics"]["lstm"]) == {"mae", "rmse", "mape", "smape", "mase"}
    assert obj["coverage"]["interval"] == [0.1, 0.9] and obj["coverage"]["points"] == 12
    assert 0 <= obj["coverage"]["empirical"] <= 1


def test_cli_forecast_json_is_the_last_line(tmp_path, capsys):
    y = seasonal_series(n=84)
    months = [f"{2000 + k // 12}-{k % 12 + 1:02d}" for k in range(84)]
    src = tmp_path / "s.csv"
    src.write_text("month,sales\n" + "".join(f"{t},{v:.3f}\n" for t, v in zip(months, y)))
    code = main(["forecast", str(src), "--horizon", "6", "--backtest", "2", "--steps", "30", "--hidden", "8",
                 "--json", "--out", str(tmp_path / "f.csv"), "--save", str(tmp_path / "m.safetensors")])
    out = capsys.readouterr()
    assert code == 0
    lines = out.out.strip().splitlines()
    obj = json.loads(lines[-1])
    assert len(lines) == 1 and set(obj) == {"metrics", "coverage", "forecast"}
    assert set(obj["metrics"]) == {"lstm", "naive", "seasonal_naive", "drift"}
    assert obj["forecast"]["time"][0] == "2007-01" and len(obj["forecast"]["q0.9"]) == 6
    assert "season m=12 (monthly data)" in out.err
    rows = (tmp_path / "f.csv").read_text().splitlines()
    assert rows[0] == "time,forecast,q0.1,q0.5,q0.9" and rows[1].startswith("2007-01,") and len(rows) == 7
    assert isinstance(lstm.load(tmp_path / "m.safetensors"), LSTMForecaster)


def test_cli_forecast_warns_once_of_missing_time_steps_and_still_forecasts(tmp_path, capsys):
    y = seasonal_series(n=60)
    months = [f"{2000 + k // 12}-{k % 12 + 1:02d}" for k in range(62) if k not in (30, 31)]
    src = tmp_path / "s.csv"
    src.write_text("month,sales\n" + "".join(f"{t},{v:.3f}\n" for t, v in zip(months, y)))
    assert main(["forecast", str(src), "--horizon", "3", "--steps", "5", "--hidden", "4", "--quiet"]) == 0
    out = capsys.readouterr()
    warnings = [line for line in out.err.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {src}: time column 'month' skips ~2 steps of 1 month in 1 gap, between "
                        "'2002-06' and '2002-09'; rows are read as equally spaced, so add the missing times as rows "
                        "with empty values and --fill them"]
    assert "2005-03" in out.out
    assert main(["forecast", "airline", "--horizon", "3", "--steps", "5", "--hidden", "4", "--quiet"]) == 0
    assert "warning" not in capsys.readouterr().err
    holes = "month,sales\n" + "".join(f"{2000 + k // 12}-{k % 12 + 1:02d},{'' if k in (30, 31) else f'{v:.3f}'}\n"
                                      for k, v in enumerate(seasonal_series(n=62)))
    src.write_text(holes)                                # every month there; --fill drop makes the gap
    assert main(["forecast", str(src), "--horizon", "3", "--steps", "5", "--hidden", "4", "--quiet",
                 "--fill", "drop"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {src}: time column 'month' skips ~2 steps of 1 month in 1 gap, between "
                        "'2002-06' and '2002-09'; rows are read as equally spaced, and --fill drop removed the rows "
                        "with missing values: fill them instead (e.g. --fill linear)"]


def test_cli_backtest_json_holds_the_forecast_even_without_out_or_plot(capsys):
    assert main(["forecast", "airline", "--horizon", "3", "--backtest", "1", "--steps", "5", "--hidden", "4",
                 "--quantiles", "none", "--json", "--quiet"]) == 0
    obj = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(obj) == {"metrics", "forecast"} and obj["forecast"]["time"] == ["1961-01", "1961-02", "1961-03"]


def test_cli_forecast_quiet_drops_the_progress_but_prints_the_forecast(tmp_path, capsys):
    assert main(["forecast", "airline", "--horizon", "3", "--steps", "5", "--hidden", "4", "--quiet",
                 "--out", str(tmp_path / "f.csv")]) == 0
    out = capsys.readouterr().out
    assert "1961-03" in out and f"forecast written to {tmp_path / 'f.csv'}" in out
    assert "fitting on" not in out and "lstm forecast:" not in out


def test_cli_default_lookback_is_capped_to_the_data_but_an_explicit_one_is_not(capsys):
    pytest.importorskip("plotly")                  # the stocks example: 105 weekly rows, season 52
    argv = ["forecast", "stocks", "--target", "GOOG", "--horizon", "4", "--quantiles", "0.05,0.5,0.95",
            "--steps", "5", "--hidden", "4"]
    assert main(argv + ["--json"]) == 0
    captured = capsys.readouterr()
    obj = json.loads(captured.out.strip().splitlines()[-1])
    assert len(obj["forecast"]["q0.05"]) == 4 and "lookback 50 (the default 104" in captured.err
    assert main(argv + ["--lookback", "104"]) == 2
    assert "105 rows, too few for lookback 104 + horizon 4" in capsys.readouterr().err


def test_cli_forecast_without_backtest_prints_the_forecast_json(capsys):
    assert main(["forecast", "airline", "--horizon", "3", "--steps", "5", "--hidden", "4", "--quantiles", "none",
                 "--json", "--quiet"]) == 0
    obj = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert obj["forecast"]["time"] == ["1961-01", "1961-02", "1961-03"] and len(obj["forecast"]["point"]) == 3


# ---------------------------------------------------------------------------------------------------------------
# the documented targets (minutes): python -m pytest -m slow tests/test_forecaster.py
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name,m,windows", [("airline", 12, 4), ("sunspots", 11, 5)])
def test_lstm_beats_seasonal_naive_on_the_reference_series(name, m, windows, capsys):
    if name == "sunspots":
        pytest.importorskip("statsmodels")
    assert main(["forecast", name, "--horizon", str(m), "--season", str(m), "--backtest", str(windows),
                 "--json", "--quiet"]) == 0
    obj = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert obj["metrics"]["lstm"]["mase"] < obj["metrics"]["seasonal_naive"]["mase"]


# ---------------------------------------------------------------------------------------------------------------
# options that would do nothing, quantile columns, dates, intraday steps, counts
# ---------------------------------------------------------------------------------------------------------------

TINY = ["--steps", "5", "--hidden", "4"]


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


def test_cli_warns_once_when_loss_or_dropout_would_be_ignored(capsys):
    assert main(["forecast", "airline", "--horizon", "3", "--loss", "huber", "--dropout", "0.3", "--quiet"]
                + TINY) == 0
    assert _warnings(capsys.readouterr().err) == [
        "warning: --loss huber is not used with quantiles: the quantile (pinball) loss is trained for 0.1,0.5,0.9; "
        "pass --quantiles none to train a point forecast with --loss huber",
        "warning: dropout acts between stacked layers, so --dropout 0.3 with --layers 1 does nothing; use --layers 2 "
        "or more"]
    for argv in (["--quantiles", "none", "--loss", "mae", "--layers", "2", "--dropout", "0.3"],   # both are used
                 ["--quantiles", "0.2,0.8"]):                                            # the defaults say nothing
        assert main(["forecast", "airline", "--horizon", "3", "--quiet"] + TINY + argv) == 0
        assert _warnings(capsys.readouterr().err) == []


def test_cli_point_loss_is_trained_only_without_quantiles(capsys):
    def forecast(*argv):
        assert main(["forecast", "airline", "--horizon", "3", "--json", "--quiet"] + TINY + list(argv)) == 0
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])["forecast"]["point"]

    assert forecast("--loss", "mae") == forecast()                      # quantiles on: --loss changes nothing
    assert forecast("--quantiles", "none", "--loss", "mae") != forecast("--quantiles", "none")


def test_cli_forecast_has_a_column_for_each_quantile_asked_for(tmp_path, capsys):
    out = tmp_path / "f.csv"
    assert main(["forecast", "airline", "--horizon", "3", "--quantiles", "0.8,0.2", "--json", "--out", str(out)]
                + TINY) == 0
    captured = capsys.readouterr()
    fc = json.loads(captured.out.strip().splitlines()[-1])["forecast"]
    assert list(fc) == ["time", "point", "q0.2", "q0.8"]
    assert all(lo <= p <= hi for lo, p, hi in zip(fc["q0.2"], fc["point"], fc["q0.8"]))   # the median between
    assert out.read_text().splitlines()[0] == "time,forecast,q0.2,q0.8"
    assert [line.split() for line in captured.err.splitlines() if line.split()[:1] == ["time"]] == [
        ["time", "forecast", "q0.2", "q0.8"]]


def test_cli_forecast_reads_day_first_dates_and_writes_dates_without_a_time(tmp_path, capsys):
    y = seasonal_series(n=48)
    src = tmp_path / "s.csv"                       # monthly, written day/month/year on the first of each month
    src.write_text("date,sales\n" + "".join(f"01/{k % 12 + 1:02d}/{2020 + k // 12},{v:.3f}\n" for k, v in enumerate(y)))
    assert main(["forecast", str(src), "--horizon", "2", "--json"] + TINY) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip().splitlines()[-1])["forecast"]["time"] == ["2024-01-01", "2024-02-01"]
    assert "(01/01/2020 .. 01/12/2023, read day/month/year)" in captured.err
    assert "season m=12 (monthly data)" in captured.err and _warnings(captured.err) == []


def test_cli_intraday_series_name_their_step(tmp_path, capsys):
    stamps = [str(t).replace("T", " ") for t in np.arange("2024-03-01T00:00", "2024-03-03T00:00", 15,
                                                          dtype="datetime64[m]")]
    y = np.sin(np.arange(len(stamps)) * 2 * np.pi / 96) + 2
    src = tmp_path / "load.csv"
    for rows, gap in ((range(len(stamps)), []), ([k for k in range(len(stamps)) if k != 100], [99, 101])):
        src.write_text("timestamp,load\n" + "".join(f"{stamps[k]},{y[k]:.4f}\n" for k in rows))
        assert main(["forecast", str(src), "--horizon", "2", "--json"] + TINY) == 0
        captured = capsys.readouterr()
        assert "15-minute data, no season assumed: --season 96 sets a daily cycle" in captured.err
        warned = _warnings(captured.err)
        assert len(warned) == len(gap) // 2
        if gap:
            assert (f"skips ~1 step of 15 minutes in 1 gap, between {stamps[gap[0]]!r} and {stamps[gap[1]]!r}"
                    in warned[0])
        fc = json.loads(captured.out.strip().splitlines()[-1])["forecast"]
        assert fc["time"] == ["2024-03-03 00:00", "2024-03-03 00:15"]


def test_cli_counts_read_as_english(capsys):
    assert main(["forecast", "airline", "--horizon", "1", "--backtest", "1", "--quantiles", "none", "--steps", "1",
                 "--hidden", "4"]) == 0
    out = capsys.readouterr().out
    assert "backtest: 1 rolling-origin window of 1 step, refitting each time" in out
    assert "144 rows" in out and ", 1 step per fit" in out
    assert main(["forecast", "airline", "--horizon", "2", "--backtest", "2", "--quantiles", "none"] + TINY) == 0
    out = capsys.readouterr().out
    assert "backtest: 2 rolling-origin windows of 2 steps" in out and ", 5 steps per fit" in out
