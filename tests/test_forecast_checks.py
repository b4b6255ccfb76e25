"""Forecast evaluation checked against the textbook formulas (Hyndman & Athanasopoulos, FPP3 §5.2, §5.8;
Hyndman & Koehler 2006), written out here in plain NumPy, and hostile input refused with one line."""

import math

import numpy as np
import pytest

from lstm.forecast import (backtest, coverage, drift, mae, mape, mase, metrics_table, naive, rmse, rolling_origins,
                           seasonal_naive, smape)
from lstm.forecast.metrics import mase_scale
from lstm.models import LSTMForecaster

TINY = dict(hidden_size=4, steps=4, batch_size=8, lr=1e-2)


def wavy(n=60, m=12, seed=0):
    rng = np.random.default_rng(seed)
    return 10 + np.sin(np.arange(n) * 2 * np.pi / m) + 0.1 * rng.normal(size=n)


def one_line(err) -> str:
    msg = str(err.value)
    assert "\n" not in msg and msg
    return msg


# ---------------------------------------------------------------------------------------------------------------
# baselines against FPP3: ŷ_{T+h|T} = y_T, y_{T+h−m(k+1)} with k = ⌊(h−1)/m⌋, y_T + h (y_T − y_1)/(T − 1)
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("m,H", [(1, 5), (4, 3), (4, 9), (12, 25), (7, 7)])
def test_baselines_follow_the_textbook_formulas(m, H):
    y = np.random.default_rng(m * H).normal(size=30).cumsum()
    T = len(y)
    want_snaive = [y[T + h - m * ((h - 1) // m + 1) - 1] for h in range(1, H + 1)]      # 1-based y_t is y[t - 1]
    want_drift = [y[-1] + h * (y[-1] - y[0]) / (T - 1) for h in range(1, H + 1)]
    np.testing.assert_array_equal(seasonal_naive(y, H, m), want_snaive)
    np.testing.assert_allclose(drift(y, H), want_drift, rtol=1e-12)
    np.testing.assert_array_equal(naive(y, H), np.full(H, y[-1]))


@pytest.mark.parametrize("fn", [naive, seasonal_naive, drift])
@pytest.mark.parametrize("h", [0, -2, 2.5, 2.0, True, "3", None])
def test_baselines_refuse_a_horizon_that_is_not_a_positive_integer(fn, h):
    with pytest.raises(ValueError, match="horizon must be a positive integer") as err:
        fn(np.arange(10.0), h)
    assert repr(h) in one_line(err)


@pytest.mark.parametrize("m", [0, -2, 1.5, None])
def test_seasonal_naive_refuses_a_season_that_is_not_a_positive_integer(m):
    with pytest.raises(ValueError, match=r"season(al period)? m must be a positive integer") as err:
        seasonal_naive(np.arange(10.0), 3, m)
    assert repr(m) in one_line(err)


@pytest.mark.parametrize("fn", [naive, seasonal_naive, drift])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_baselines_refuse_missing_or_infinite_history(fn, bad):
    y = np.arange(10.0)
    y[4] = bad
    with pytest.raises(ValueError, match="missing or infinite value at index 4") as err:
        fn(y, 3)
    one_line(err)


def test_baselines_take_lists_and_numpy_integers():
    assert np.array_equal(seasonal_naive([1, 2, 3, 4], np.int64(3), np.int64(2)), [3.0, 4.0, 3.0])
    assert np.array_equal(drift([1, 3], 2), [5.0, 7.0])


# ---------------------------------------------------------------------------------------------------------------
# metrics against direct formulas
# ---------------------------------------------------------------------------------------------------------------

def test_metrics_match_direct_numpy_formulas():
    rng = np.random.default_rng(3)
    train = 5 + rng.normal(size=40).cumsum()
    a, f = train[-1] + rng.normal(size=7), train[-1] + rng.normal(size=7)
    e = a - f
    assert mae(a, f) == pytest.approx(np.abs(e).mean(), rel=1e-12)
    assert rmse(a, f) == pytest.approx(math.sqrt((e ** 2).mean()), rel=1e-12)
    assert mape(a, f) == pytest.approx(100 * np.mean(np.abs(e) / np.abs(a)), rel=1e-12)
    assert smape(a, f) == pytest.approx(100 * np.mean(2 * np.abs(e) / (np.abs(a) + np.abs(f))), rel=1e-12)
    for m in (1, 4, 12):
        scale = np.mean([abs(train[t] - train[t - m]) for t in range(m, len(train))])
        assert mase(a, f, train, m) == pytest.approx(np.abs(e).mean() / scale, rel=1e-12)
    table = metrics_table(a, f, train, 4)
    assert table == {"mae": mae(a, f), "rmse": rmse(a, f), "mape": mape(a, f), "smape": smape(a, f),
                     "mase": mase(a, f, train, 4)}


def test_mase_of_the_in_sample_seasonal_naive_is_one():
    y = np.random.default_rng(0).normal(size=48).cumsum()
    m = 12                                  # seasonal naive one step at a time over the training series itself
    assert mase(y[m:], y[:-m], y, m) == pytest.approx(1.0, rel=1e-12)


def test_smape_stays_within_0_and_200_and_mape_is_nan_with_a_zero_actual():
    assert smape([1, -1], [-1, 1]) == 200.0 and smape([0, 0], [0, 0]) == 0.0 and smape([3], [3]) == 0.0
    rng = np.random.default_rng(1)
    for _ in range(20):
        v = smape(rng.normal(size=5), rng.normal(size=5))
        assert 0 <= v <= 200
    assert math.isnan(mape([0, 1], [1, 1]))


def test_coverage_counts_the_closed_interval():
    a = np.array([0.0, 1.0, 2.0, 3.0])
    assert coverage(a, [0, 0, 0, 0], [1, 1, 1, 1]) == 0.5        # both ends included
    assert coverage(a, a, a) == 1.0


@pytest.mark.parametrize("fn", [mae, rmse, mape, smape])
@pytest.mark.parametrize("which", ["actual", "forecast"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_metrics_refuse_missing_or_infinite_values(fn, which, bad):
    a, f = np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.5, 3.5])
    (a if which == "actual" else f)[1] = bad
    with pytest.raises(ValueError, match=f"{which}s have a missing or infinite value at index 1") as err:
        fn(a, f)
    one_line(err)


def test_mase_refuses_a_training_series_with_missing_values_or_a_fractional_season():
    with pytest.raises(ValueError, match="training series has a missing or infinite value at index 1") as err:
        mase([1.0], [2.0], [3.0, np.nan, 4.0, 5.0])
    one_line(err)
    for m in (1.5, None, "2"):
        with pytest.raises(ValueError, match="seasonal period m must be a positive integer") as err:
            mase_scale([1.0, 2.0, 4.0, 3.0], m)
        assert repr(m) in one_line(err)
    with pytest.raises(ValueError, match=r"training series must be 1-D .* got shape \(6, 2\)") as err:
        mase_scale(np.arange(12.0).reshape(6, 2), 1)
    one_line(err)


def test_coverage_refuses_empty_crossed_or_missing_bounds():
    with pytest.raises(ValueError, match="at least one actual value") as err:
        coverage([], [], [])
    one_line(err)
    with pytest.raises(ValueError, match=r"lower bound above the upper bound at index 1 \(3 > 2\)") as err:
        coverage([1, 2], [0, 3], [2, 2])
    one_line(err)
    with pytest.raises(ValueError, match="missing or infinite value at index 0") as err:
        coverage([np.nan], [0], [1])
    one_line(err)


# ---------------------------------------------------------------------------------------------------------------
# rolling origins and backtests
# ---------------------------------------------------------------------------------------------------------------

def test_rolling_origins_place_windows_as_documented():
    n, h = 50, 4
    for N, s in ((1, None), (3, None), (4, 2), (3, 7)):
        step = h if s is None else s
        assert rolling_origins(n, h, N, s) == [n - h - step * (N - 1 - w) for w in range(N)]
    assert rolling_origins(50, 4, 3)[-1] + 4 == 50                    # the last window ends at the last row
    most = rolling_origins(20, 3, 6)                                   # the message's "at most 6" is right
    assert most[0] >= 1
    with pytest.raises(ValueError, match="use at most 6 windows or more data"):
        rolling_origins(20, 3, 7)


@pytest.mark.parametrize("kw", [dict(horizon=2.5), dict(horizon=True), dict(n_windows=2.0), dict(step=1.5),
                                dict(step=0), dict(n_windows=0), dict(horizon=-1)])
def test_rolling_origins_refuse_parameters_that_are_not_positive_integers(kw):
    args = {"n": 40, "horizon": 3, "n_windows": 2, "step": None, **kw}
    name, value = next(iter(kw.items()))
    with pytest.raises(ValueError, match=f"{name} must be a positive integer") as err:
        rolling_origins(**args)
    assert repr(value) in one_line(err)


def test_rolling_origins_message_counts_in_english():
    with pytest.raises(ValueError, match="^1 backtest window of horizon 3 .* needs 3 of the 2 rows and leaves no"
                       ) as err:
        rolling_origins(2, 3, 1)
    one_line(err)


class LastValue:
    """A forecaster that records what it was fitted on."""
    seen = []

    def fit(self, y, X=None):
        LastValue.seen.append((np.array(y), None if X is None else np.array(X)))
        self.last = float(np.asarray(y)[-1])
        return self

    def predict(self, horizon):
        return np.full(horizon, self.last)


def test_backtest_fits_each_window_on_its_history_only_and_scores_it():
    y, X = wavy(), np.arange(120.0).reshape(60, 2)
    LastValue.seen = []
    res = backtest(LastValue, y, X, horizon=3, n_windows=3, season=12, step=2)
    assert res.cutoffs == [53, 55, 57]
    for (hist, xh), c, actual in zip(LastValue.seen, res.cutoffs, res.actuals):
        assert np.array_equal(hist, y[:c]) and np.array_equal(xh, X[:c]) and np.array_equal(actual, y[c:c + 3])
    for w, c in enumerate(res.cutoffs):
        assert res.window_metrics["naive"][w]["mase"] == pytest.approx(mase(y[c:c + 3], naive(y[:c], 3), y[:c], 12))
        np.testing.assert_array_equal(res.forecasts["lstm"][w], res.forecasts["naive"][w])
    assert res.metrics["seasonal_naive"]["mae"] == pytest.approx(
        np.mean([mae(y[c:c + 3], seasonal_naive(y[:c], 3, 12)) for c in res.cutoffs]))


def test_backtest_of_the_lstm_never_sees_values_after_the_cutoff():
    y = wavy(n=64)

    def make():
        return LSTMForecaster(horizon=3, season=12, quantiles=[0.1, 0.9], val_fraction=0.2, transform="auto",
                              scaling="minmax", **TINY)

    a = backtest(make, y, horizon=3, n_windows=2, season=12)
    later = y.copy()
    later[a.cutoffs[0]:] = later[a.cutoffs[0]:] * 5 + 100            # the future: other level, other scale
    b = backtest(make, later, horizon=3, n_windows=2, season=12)
    np.testing.assert_array_equal(a.forecasts["lstm"][0], b.forecasts["lstm"][0])
    np.testing.assert_array_equal(a.quantiles[0], b.quantiles[0])
    assert not np.array_equal(a.forecasts["lstm"][1], b.forecasts["lstm"][1])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_backtest_refuses_a_series_with_missing_values_before_fitting(bad):
    y = wavy()
    y[30] = bad
    LastValue.seen = []
    with pytest.raises(ValueError, match="missing or infinite value at index 30") as err:
        backtest(LastValue, y, horizon=3, n_windows=2)
    one_line(err)
    assert LastValue.seen == []


def test_backtest_refuses_a_2d_series_covariates_of_another_length_and_a_bad_season():
    y = wavy()
    with pytest.raises(ValueError, match=r"y must be a 1-D series .* got shape \(60, 2\)") as err:
        backtest(LastValue, np.c_[y, y], horizon=3, n_windows=2)
    one_line(err)
    with pytest.raises(ValueError, match=r"X must have one row per value of y \(60\), got shape \(10, 1\)") as err:
        backtest(LastValue, y, np.ones((10, 1)), horizon=3, n_windows=2)
    one_line(err)
    for season in (None, 0, 1.5):
        with pytest.raises(ValueError, match="season must be a positive integer") as err:
            backtest(LastValue, y, horizon=3, n_windows=2, season=season)
        assert repr(season) in one_line(err)


def test_backtest_with_a_season_longer_than_the_series_says_the_season_is_the_problem():
    with pytest.raises(ValueError, match="season m=100 .* smaller season or more data") as err:
        backtest(LastValue, wavy(), horizon=3, n_windows=2, season=100)
    one_line(err)


def test_backtest_names_a_forecast_of_the_wrong_length():
    class TooLong(LastValue):
        def predict(self, horizon):
            return np.zeros(horizon + 1)

    with pytest.raises(ValueError, match=r"the lstm forecast for window 1 has shape \(4,\); expected \(3,\)") as err:
        backtest(TooLong, wavy(), horizon=3, n_windows=2)
    one_line(err)


def test_backtest_names_a_model_whose_forecast_is_not_finite():
    class Diverged(LastValue):
        def predict(self, horizon):
            return np.r_[1.0, np.inf, np.nan][:horizon]

    with pytest.raises(ValueError, match="the lstm forecast for window 1 is inf at step 2, not a finite number") as err:
        backtest(Diverged, wavy(), horizon=3, n_windows=2)
    one_line(err)


def test_backtest_without_a_season_blames_the_horizon_not_the_season():
    with pytest.raises(ValueError, match="leaves only 1 row to train the first one; .* or a shorter horizon") as err:
        backtest(LastValue, wavy(), horizon=59, n_windows=1)
    assert "season" not in one_line(err)


def test_backtest_accepts_lists_and_pandas_series_alike():
    pd = pytest.importorskip("pandas")
    y = wavy()
    want = backtest(LastValue, y, horizon=3, n_windows=2, season=12).metrics
    assert backtest(LastValue, list(y), horizon=3, n_windows=2, season=12).metrics == want
    assert backtest(LastValue, pd.Series(y), horizon=3, n_windows=2, season=12).metrics == want
