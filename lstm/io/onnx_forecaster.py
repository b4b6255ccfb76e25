"""ONNX export of :class:`~lstm.models.LSTMForecaster`: the network, preprocessed windows in, raw outputs out.

The graph is the neural network only (``net_`` in eval mode)::

    input   x       (B, L, F) float32     preprocessed windows: x_j = [u_j − u_{L−1}, covariates_j]
    LSTM stack over x (ONNX LSTM operators, zero initial state)
    h_T   = final hidden state of the top layer                          (B, H)
    o     = h_T W_headᵀ + b_head                                         (B, S·Q)   MatMul + Add
    output  output  (B, S, Q) float32     Reshape

L = ``lookback_``, F = 1 + number of covariates, S = ``steps_out`` (``horizon`` for the direct strategy, 1 for the
recursive one), Q = number of quantiles (1 for a point forecaster).

**Scaling, the reference and the inverse transform stay outside the graph**: they are a few lines of arithmetic
on the series (log / sqrt, standardisation, the "last" / "season" / "mean" reference r, the sort that keeps
quantiles from crossing), done by the forecaster itself:

    x, r = forecaster_window(forecaster)                  # = forecaster.network_input(): (1, L, F), (1, S)
    o = onnxruntime session.run(["output"], {"x": x})[0]  # (1, S, Q)
    q = forecast_from_onnx(forecaster, o, r)[0]           # = forecaster.forecast_from_output(o, r): (S, Q)
    q[:, forecaster.quantiles_.index(0.5)] (or q[:, 0])   # == forecaster.predict(S)

(:func:`onnx_forecast` does the three steps.)  Forecasts longer than S feed the median back block by block, as
``predict`` does.  Everything needed to redo the pre/post-processing without lstm travels in the model's metadata
(``lstm.forecaster``: lookback, steps, quantiles, transform, normalize, season, scaler parameters; JSON).
"""

from __future__ import annotations

import json

import numpy as np

from .onnx_export import _max_diff, onnx_session, register_onnx_exporter
from .onnx_graph import Graph, emit_linear, emit_recurrent

__all__ = ["forecast_from_onnx", "forecaster_window", "onnx_forecast"]


def forecaster_window(forecaster, y=None, X=None) -> tuple[np.ndarray, np.ndarray]:
    """The graph's input x (1, L, F) float32 and the reference r (1, S) for the window ending at the last value
    of the training series (or of ``y`` / ``X``); see :meth:`LSTMForecaster.network_input`."""
    return forecaster.network_input(y, X)


def forecast_from_onnx(forecaster, output, ref) -> np.ndarray:
    """The graph's output (B, S, Q) and reference r (B, S) → forecasts (B, S, Q) in the series' units; see
    :meth:`LSTMForecaster.forecast_from_output`."""
    return forecaster.forecast_from_output(output, ref)


def onnx_forecast(forecaster, onnx_model, y=None, X=None, threads: int | None = None) -> np.ndarray:
    """The next S steps' quantile forecasts (S, Q) with the network run by onnxruntime."""
    x, ref = forecaster_window(forecaster, y, X)
    out = onnx_session(onnx_model, threads).run(["output"], {"x": x})[0]                # (1, S, Q)
    return forecast_from_onnx(forecaster, out, ref)[0]


def _check_forecaster(model, sess, rng, batch: int, steps: int) -> float:
    """Largest |graph − net_| on random windows of the model's own length (``steps`` is not used: L is fixed)."""
    net = model.net_
    x = rng.normal(size=(batch, model.lookback_, model.n_features_)).astype(np.float32)   # (B, L, F)
    was = net.training
    net.eval()
    try:
        want = net.forward(x)                                                             # (B, S, Q)
    finally:
        net.train(was)
    return _max_diff(sess, {"output": want}, {"x": x})


@register_onnx_exporter("LSTMForecaster", check=_check_forecaster)
def _export_forecaster(model, g: Graph, *, initial_state: bool = False, **options) -> None:
    """``initial_state`` is accepted (``lstm export`` passes it for every model) and ignored: a forecaster's
    recurrence always starts from zeros, so the graph has no h0 / c0 inputs."""
    if options:
        raise TypeError(f"the LSTMForecaster export takes no option {', '.join(sorted(options))} "
                        "(its graph maps windows x (B, L, F) to outputs (B, S, Q))")
    net = model.net_
    rnn, L, F = net.rnn, int(model.lookback_), int(model.n_features_)
    S, Q = net.steps_out, net.n_quantiles
    x = g.input("x", "float", ["batch", L, F])
    xt = g.node("Transpose", [x], base="x_time_major", perm=[1, 0, 2])                  # (L, B, F)
    _, states = emit_recurrent(g, rnn, xt)                                               # h_n (layers, B, H)
    top = g.node("Gather", [states[0], g.const("top_layer", np.array(rnn.num_layers - 1))], base="h_top",
                 axis=0)                                                                 # (B, H)
    o = emit_linear(g, net.head, top)                                                    # (B, S·Q)
    out = g.node("Reshape", [o, g.const("out_shape", [0, S, Q])], base="out_bsq")       # (B, S, Q)
    g.output(out, "output", "float", ["batch", S, Q])
    g.metadata.update({
        "lstm.class": "LSTMForecaster",
        "lstm.forecaster": json.dumps({
            "lookback": L, "n_features": F, "steps_out": S, "horizon": int(model.horizon_),
            "strategy": model.fitted_params()["strategy"], "quantiles": model.quantiles_,
            "transform": model.transform_, "normalize": model.normalize_, "season": model.season_,
            "scaler": model.scaler_.to_config(),
            "x_scaler": None if model.x_scaler_ is None else model.x_scaler_.to_config(),
            "note": "graph: preprocessed windows x -> network output o; forecast = inverse_scaling(sort(o + r))",
        }),
    })
