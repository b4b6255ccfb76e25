"""ONNX export of LSTMForecaster: onnxruntime runs the network (windows → outputs) to 1e-5 of lstm, and the
forecast rebuilt from its output is the forecaster's own."""

import json

import numpy as np
import pytest

import lstm
from lstm.cli import main
from lstm.datasets import load_series
from lstm.io import check_onnx, run_onnx, to_onnx
from lstm.io.onnx_forecaster import forecast_from_onnx, forecaster_window, onnx_forecast
from lstm.models import LSTMForecaster

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

STANDARD_OPS = {"LSTM", "Transpose", "Reshape", "Squeeze", "Slice", "Concat", "Identity", "Gather", "MatMul", "Add"}
FAST = {"hidden_size": 8, "steps": 8, "batch_size": 16, "lr": 1e-2, "season": 12}

CONFIGS = {
    "direct-quantiles-2layers": {"horizon": 6, "quantiles": [0.1, 0.9], "num_layers": 2},
    "direct-point-mean": {"horizon": 4, "normalize": "mean", "transform": "sqrt"},
    "recursive-point-last": {"horizon": 3, "strategy": "recursive", "normalize": "last"},
}


@pytest.fixture(scope="module")
def airline():
    return load_series("airline").y


@pytest.fixture(scope="module", params=list(CONFIGS))
def fitted(request, airline):
    m = LSTMForecaster(**CONFIGS[request.param], **FAST).fit(airline[:-12])
    return m, to_onnx(m)


def _windows(m, y, ends):
    """Preprocessed windows (B, L, F) and references (B, S) for histories y[:k], k in ends."""
    pairs = [forecaster_window(m, y[:k]) for k in ends]
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


def test_onnxruntime_matches_the_network_on_real_and_random_windows(fitted, airline):
    m, model = fitted
    L, S, Q = m.lookback_, m.steps_out, m.net_.n_quantiles
    assert {n.op_type for n in model.graph.node} <= STANDARD_OPS
    assert [i.name for i in model.graph.input] == ["x"] and [o.name for o in model.graph.output] == ["output"]
    x, _ = _windows(m, airline, range(L, len(airline) + 1, 7))                  # (B, L, 1)
    assert x.shape == (len(range(L, len(airline) + 1, 7)), L, 1) and x.dtype == np.float32
    got = run_onnx(model, threads=1, x=x)["output"]
    want = m.net_.forward(x)
    assert got.shape == want.shape == (len(x), S, Q)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    assert np.abs(want).max() > 1e-3                                            # not a trivially zero output
    noise = np.random.default_rng(0).normal(size=(3, L, 1)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(model, x=noise)["output"], m.net_.forward(noise), rtol=0, atol=1e-5)
    assert check_onnx(m, model) < 1e-5


def test_forecast_rebuilt_from_the_onnx_output_is_the_forecasters_own(fitted, airline):
    m, model = fitted
    S = m.steps_out
    mid = 0 if m.quantiles_ is None else m.quantiles_.index(0.5)
    for y in (None, airline, airline[:-30]):                                    # training tail and new histories
        q = onnx_forecast(m, model, y=y, threads=1)                             # (S, Q)
        want = m._forecast(S, y)
        np.testing.assert_allclose(q, want, rtol=1e-4, atol=0)
        np.testing.assert_allclose(q[:, mid], m.predict(S, y=y), rtol=1e-4, atol=0)
    # several windows at once through the same helpers
    x, ref = _windows(m, airline, [100, 120, 144])
    out = run_onnx(model, x=x)["output"]
    batch = forecast_from_onnx(m, out, ref)                                     # (3, S, Q)
    for row, k in zip(batch, [100, 120, 144]):
        np.testing.assert_allclose(row[:, mid], m.predict(S, y=airline[:k]), rtol=1e-4, atol=0)


def test_graph_metadata_carries_what_the_outside_steps_need(fitted):
    m, model = fitted
    meta = {p.key: p.value for p in model.metadata_props}
    info = json.loads(meta["lstm.forecaster"])
    assert meta["lstm.class"] == "LSTMForecaster"
    assert (info["lookback"], info["steps_out"], info["quantiles"]) == (m.lookback_, m.steps_out, m.quantiles_)
    assert (info["transform"], info["normalize"]) == (m.transform_, m.normalize_)
    assert info["scaler"] == m.scaler_.to_config()
    dims = [d.dim_value or d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", m.lookback_, 1]


def test_covariates_are_input_features(airline):
    X = np.sin(np.arange(len(airline)) * 2 * np.pi / 12)[:, None]
    m = LSTMForecaster(horizon=2, **FAST).fit(airline[:-6], X[:-6])
    model = to_onnx(m)
    x, _ = forecaster_window(m, airline, X)
    assert x.shape == (1, m.lookback_, 2)
    np.testing.assert_allclose(run_onnx(model, x=x)["output"], m.net_.forward(x), rtol=0, atol=1e-5)
    np.testing.assert_allclose(onnx_forecast(m, model, airline, X)[:, 0], m.predict(2, y=airline, X=X), rtol=1e-4)


def test_unknown_options_and_unfitted_models_are_refused(fitted):
    m, _ = fitted
    with pytest.raises(TypeError, match="takes no option logits"):
        to_onnx(m, logits=True)
    assert [i.name for i in to_onnx(m, initial_state=True).graph.input] == ["x"]    # always from zero state
    with pytest.raises(ValueError, match="not fitted"):
        to_onnx(LSTMForecaster())


def test_export_command_on_a_saved_forecaster(airline, tmp_path, capsys):
    m = LSTMForecaster(horizon=3, **FAST).fit(airline)
    src = lstm.save(m, tmp_path / "forecaster.safetensors")
    out = tmp_path / "f.onnx"
    assert main(["export", str(src), "--onnx", str(out)]) == 0
    text = capsys.readouterr().out
    assert "inputs x; outputs output" in text and "onnxruntime agrees with lstm" in text
    back = lstm.load(src)
    np.testing.assert_allclose(onnx_forecast(back, out)[:, 0], m.predict(3), rtol=1e-4, atol=0)
    assert main(["export", str(src), "--onnx", str(tmp_path / "g.onnx"), "--logits"]) == 2
    err = capsys.readouterr().err
    assert "--logits applies to language models" in err and "an LSTMForecaster" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "g.onnx").exists()
    assert main(["export", str(src), "--torch-safetensors", str(tmp_path / "f-torch.safetensors")]) == 0
    text = capsys.readouterr().out                    # to_torch builds no module for a forecaster: not offered
    assert "lstm.io.to_torch_state_dict(lstm.load(MODEL)) gives the same tensors" in text
    assert "to_torch(lstm.load" not in text


def test_metadata_describes_the_fitted_model_after_set_params(airline):
    m = LSTMForecaster(horizon=4, **FAST).fit(airline[:-12])
    before = json.loads({p.key: p.value for p in to_onnx(m).metadata_props}["lstm.forecaster"])
    m.set_params(horizon=9, strategy="recursive", season=4)             # for the next fit only
    after = json.loads({p.key: p.value for p in to_onnx(m).metadata_props}["lstm.forecaster"])
    assert after == before and (after["horizon"], after["strategy"], after["season"]) == (4, "direct", 12)
