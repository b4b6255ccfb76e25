"""LSTMForecaster as a forecasting-library user drives it: hostile parameters and data refused with one line,
the pinball loss as written in the textbook, persistence of what predictions follow."""

import numpy as np
import pytest

import lstm
from lstm.models import LSTMForecaster
from test_forecast_checks import one_line, wavy

TINY = dict(hidden_size=4, steps=3, batch_size=8, lr=1e-2)


@pytest.fixture(scope="module")
def fitted():
    return LSTMForecaster(horizon=2, **TINY).fit(wavy())


@pytest.mark.parametrize("q", [[np.nan, 0.9], [0.1, np.inf], [0.1, float("-inf")]])
def test_non_finite_quantiles_are_refused_before_training(q):
    m = LSTMForecaster(horizon=2, quantiles=q, **TINY)
    with pytest.raises(ValueError, match="every quantile must lie strictly between 0 and 1") as err:
        m.fit(wavy())
    assert "pinball" not in one_line(err) and not hasattr(m, "net_")


@pytest.mark.parametrize("q", [[0.1, 0.1, 0.9], [0.9, 0.2, 0.9]])
def test_repeated_quantiles_are_refused(q):
    with pytest.raises(ValueError, match=r"must not repeat a level, got .* 0\.\d appears more than once") as err:
        LSTMForecaster(horizon=2, quantiles=q, **TINY).fit(wavy())
    one_line(err)


def test_unsorted_quantiles_are_sorted_and_the_median_added():
    m = LSTMForecaster(horizon=2, quantiles=(0.9, 0.1), **TINY).fit(wavy())
    q = m.predict_quantiles()
    assert m.quantiles_ == [0.1, 0.5, 0.9] and q.shape == (2, 3) and np.all(np.diff(q, axis=1) >= 0)
    assert np.array_equal(m.predict(), q[:, 1])


def test_the_quantile_loss_is_the_textbook_pinball_loss():
    m = LSTMForecaster(horizon=3, quantiles=[0.1, 0.9])
    m.quantiles_ = m._levels()
    rng = np.random.default_rng(0)
    out, target = rng.normal(size=(4, 3, 3)), rng.normal(size=(4, 3))
    loss, grad = m._loss(out, target)
    u = target[..., None] - out
    tau = np.array([0.1, 0.5, 0.9])
    assert loss == pytest.approx(np.mean(np.maximum(tau * u, (tau - 1) * u)), rel=1e-12)
    np.testing.assert_allclose(grad, np.where(u > 0, -tau, 1 - tau) / u.size, rtol=1e-12)


def test_predict_refuses_covariates_without_the_history_they_belong_to(fitted):
    with pytest.raises(ValueError, match="pass X together with y") as err:
        fitted.predict(2, X=np.ones((60, 1)))
    one_line(err)
    with pytest.raises(ValueError, match="pass X together with y"):
        fitted.network_input(X=np.ones((60, 1)))


def test_score_refuses_missing_actuals(fitted):
    with pytest.raises(ValueError, match="missing or infinite value at index 0") as err:
        fitted.score([np.nan, 1.0])
    one_line(err)
    assert fitted.score(wavy(62)[60:]) == -np.mean(np.abs(fitted.predict(2) - wavy(62)[60:]))


@pytest.mark.parametrize("name,value", [("val_fraction", "0.2"), ("dropout", None), ("lr", "fast"),
                                        ("val_fraction", np.nan)])
def test_non_numeric_float_parameters_are_refused_with_one_line(name, value):
    with pytest.raises(ValueError, match=f"{name} must be") as err:
        LSTMForecaster(horizon=2, **{**TINY, name: value}).fit(wavy())
    assert repr(value) in one_line(err)


def test_non_numeric_covariates_are_refused_with_one_line():
    with pytest.raises(TypeError, match="X must hold numbers") as err:
        LSTMForecaster(horizon=2, **TINY).fit(wavy(), X=np.array([["a"]] * 60))
    one_line(err)


def test_a_default_lookback_too_long_for_the_data_says_where_it_comes_from():
    for kw, why in ((dict(horizon=2, season=100), "lookback 200 \\+ horizon 2: at least 202 are needed \\(the "
                                                  "default lookback is 2 x season 100\\)"),
                    (dict(horizon=40), "lookback 80 \\+ horizon 40: .* \\(the default lookback is 2 x horizon 40\\)")):
        with pytest.raises(ValueError, match=why) as err:
            LSTMForecaster(**kw, **TINY).fit(wavy())
        one_line(err)
    with pytest.raises(ValueError, match=r"too few for lookback 50 \+ horizon 2") as err:   # explicit: said as is
        LSTMForecaster(horizon=2, lookback=50, **TINY).fit(wavy()[:40])
    assert "default" not in one_line(err)


def test_inputs_as_lists_series_and_columns_give_the_same_forecast():
    pd = pytest.importorskip("pandas")
    y = wavy()
    want = LSTMForecaster(horizon=2, **TINY).fit(y).predict()
    for same in (list(y), pd.Series(y), y[:, None], pd.DataFrame({"y": y})):
        assert np.array_equal(LSTMForecaster(horizon=2, **TINY).fit(same).predict(), want)


def test_set_params_after_fit_changes_neither_the_forecast_nor_the_saved_model(tmp_path):
    y = wavy()
    m = LSTMForecaster(horizon=3, season=12, quantiles=[0.2, 0.8], **TINY).fit(y)
    want = m.predict_quantiles()
    m.set_params(horizon=5, strategy="recursive", season=4, quantiles=None)
    assert np.array_equal(m.predict_quantiles(), want)
    back = lstm.load(m.save(tmp_path / "f.safetensors"))
    assert np.array_equal(back.predict_quantiles(), want) and back.get_params()["horizon"] == 3
