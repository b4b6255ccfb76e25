"""The ONNX forecaster's claim: its metadata carries everything needed to redo the pre- and post-processing
without lstm.  Here they are redone from the metadata alone (NumPy + onnxruntime) and match ``predict``."""

import json

import numpy as np
import pytest

from lstm.io import to_onnx
from lstm.models import LSTMForecaster

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TINY = dict(hidden_size=6, steps=6, batch_size=8, lr=1e-2)


def series(n=72, m=12):
    rng = np.random.default_rng(0)
    t = np.arange(n)
    return np.exp(3 + 0.01 * t + 0.2 * np.sin(2 * np.pi * t / m) + 0.02 * rng.normal(size=n))


def scale(cfg, v):
    loc = np.asarray(cfg["loc"]).reshape(cfg["shape"])
    sc = np.asarray(cfg["scale"]).reshape(cfg["shape"])
    g = {"log": np.log, "sqrt": np.sqrt, "none": lambda a: a}[cfg["transform"]](v)
    return (g - loc) / sc


def unscale(cfg, z):
    g = z * np.asarray(cfg["scale"]).reshape(cfg["shape"]) + np.asarray(cfg["loc"]).reshape(cfg["shape"])
    return {"log": np.exp, "sqrt": lambda a: np.maximum(a, 0) ** 2, "none": lambda a: a}[cfg["transform"]](g)


def outside_forecast(model_bytes, y, X=None):
    """One block (S, Q) of forecasts from the ONNX file and its metadata only."""
    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    info = json.loads(sess.get_modelmeta().custom_metadata_map["lstm.forecaster"])
    L, S, m, mode = info["lookback"], info["steps_out"], info["season"], info["normalize"]
    u = scale(info["scaler"], np.asarray(y, dtype=np.float64)[-L:])
    level = {"mean": u.mean(), "none": 0.0}.get(mode, u[-1])
    cols = [(u - level)[:, None]]
    if X is not None:
        cols.append(scale(info["x_scaler"], np.asarray(X, dtype=np.float64)[-L:]))
    x = np.concatenate(cols, axis=1)[None].astype(np.float32)
    ref = u[L - m + np.arange(S) % m] if mode == "season" else np.full(S, level)
    out = sess.run(["output"], {"x": x})[0][0].astype(np.float64)            # (S, Q)
    return unscale(info["scaler"], np.sort(out + ref[:, None], axis=1))


@pytest.mark.parametrize("kw", [dict(horizon=4, season=12, quantiles=[0.1, 0.9], normalize="season"),
                                dict(horizon=3, season=12, normalize="mean", transform="sqrt", scaling="minmax"),
                                dict(horizon=2, strategy="recursive", normalize="none", transform="none")])
def test_the_metadata_is_enough_to_forecast_without_lstm(kw):
    y = series()
    m = LSTMForecaster(**kw, **TINY).fit(y[:-10])
    blob = to_onnx(m).SerializeToString()
    for hist in (y[:-10], y):
        got = outside_forecast(blob, hist)
        want = m.predict_quantiles(m.steps_out_, y=hist) if m.quantiles_ else m.predict(m.steps_out_, y=hist)[:, None]
        np.testing.assert_allclose(got, want, rtol=1e-4)


def test_the_metadata_carries_the_covariate_scaling():
    y = series()
    X = np.c_[np.arange(72.0), np.cos(np.arange(72.0))] * 10 + 3
    m = LSTMForecaster(horizon=2, season=12, **TINY).fit(y[:-6], X[:-6])
    got = outside_forecast(to_onnx(m).SerializeToString(), y, X)
    np.testing.assert_allclose(got[:, 0], m.predict(2, y=y, X=X), rtol=1e-4)
