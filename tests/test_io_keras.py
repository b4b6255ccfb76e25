"""Keras 3 weight exchange, checked against Keras itself running on its PyTorch backend (no TensorFlow)."""

import os
import sys

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")   # before Keras is imported anywhere

from lstm.io import (MissingDependencyError, from_keras, from_keras_weights, to_keras, to_keras_layers,  # noqa: E402
                     to_keras_weights)
from lstm.nn import GRU, LSTM, RNN  # noqa: E402

keras = pytest.importorskip("keras")
# Keras' torch backend converts tensors with np.array(x), which NumPy 2 flags; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")

CONFIGS = [
    (LSTM, 1, {}),
    (LSTM, 2, {"bidirectional": True}),
    (LSTM, 1, {"bias": False}),
    (GRU, 1, {}),
    (GRU, 3, {"bidirectional": True}),
    (GRU, 2, {"bias": False}),
    (RNN, 1, {"nonlinearity": "tanh"}),
    (RNN, 2, {"nonlinearity": "relu", "bidirectional": True}),
]


def _ids(config):
    cls, layers, opts = config
    return f"{cls.__name__}-{layers}-" + "-".join(f"{k}={v}" for k, v in opts.items())


def _layer(cls, layers, opts, dtype=np.float32, seed=0):
    layer = cls(3, 5, layers, batch_first=True, dtype=dtype, seed=seed, **opts).eval()
    rng = np.random.default_rng(seed + 7)
    for value in layer.parameters().values():
        value[...] = rng.uniform(-0.7, 0.7, value.shape)
    return layer


def _np(t):
    return keras.ops.convert_to_numpy(t)


def _x(B=2, T=7, I=3, dtype=np.float32, seed=1):
    return np.random.default_rng(seed).normal(size=(B, T, I)).astype(dtype)


def test_weight_layout_follows_keras_gate_order():
    lstm = _layer(LSTM, 1, {})
    H = 5
    kernel, rec, bias = to_keras_weights(lstm)[0]
    p = lstm.parameters()
    assert kernel.shape == (3, 4 * H) and rec.shape == (H, 4 * H) and bias.shape == (4 * H,)
    for gate in range(4):                            # Keras i, f, c, o == ours i, f, g, o
        cols = slice(gate * H, (gate + 1) * H)
        assert np.array_equal(kernel[:, cols], p["weight_ih_l0"][cols].T)
        assert np.array_equal(rec[:, cols], p["weight_hh_l0"][cols].T)
    assert np.array_equal(bias, p["bias_ih_l0"] + p["bias_hh_l0"])

    gru = _layer(GRU, 1, {})
    kernel, rec, bias = to_keras_weights(gru)[0]
    p = gru.parameters()
    assert bias.shape == (2, 3 * H)
    for keras_gate, ours in ((0, 1), (1, 0), (2, 2)):   # Keras z, r, h  <-  ours r, z, n
        k, o = slice(keras_gate * H, (keras_gate + 1) * H), slice(ours * H, (ours + 1) * H)
        assert np.array_equal(kernel[:, k], p["weight_ih_l0"][o].T)
        assert np.array_equal(rec[:, k], p["weight_hh_l0"][o].T)
        assert np.array_equal(bias[0, k], p["bias_ih_l0"][o]) and np.array_equal(bias[1, k], p["bias_hh_l0"][o])


@pytest.mark.parametrize("config", CONFIGS, ids=_ids)
def test_keras_runs_our_weights_to_1e_5_and_round_trips(config):
    layer = _layer(*config)
    x = _x()
    y, _ = layer(x)
    km = to_keras(layer)
    np.testing.assert_allclose(_np(km(x)), y, rtol=0, atol=1e-5)

    back = from_keras(km)                                     # lstm -> Keras -> lstm
    assert type(back) is type(layer) and repr(back) == repr(layer)
    ours, theirs = layer.state_dict(), back.state_dict()
    for name in ours:
        if isinstance(layer, GRU) or name.startswith("weight"):
            assert np.array_equal(ours[name], theirs[name]), name          # exactly representable: bit-identical
    if layer.bias and not isinstance(layer, GRU):                          # one Keras bias: all in bias_ih
        for name in ours:
            if name.startswith("bias_ih"):
                hh = name.replace("bias_ih", "bias_hh")
                assert np.array_equal(theirs[name], ours[name] + ours[hh]) and not theirs[hh].any()
    np.testing.assert_allclose(back(x)[0], y, rtol=0, atol=1e-6)
    for a, b in zip(to_keras_weights(back), to_keras_weights(layer)):      # lstm -> Keras -> lstm -> Keras
        for wa, wb in zip(a, b):
            assert np.array_equal(wa, wb)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_keras_layers_come_in_with_their_states(kind):
    kl = getattr(keras.layers, kind)(4, return_sequences=True, return_state=True, seed=0)
    x = _x(B=3, T=5)
    kl.build(x.shape)
    rng = np.random.default_rng(2)
    kl.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in kl.get_weights()])
    n_states = 2 if kind == "LSTM" else 1
    init = [rng.normal(size=(3, 4)).astype(np.float32) for _ in range(n_states)]
    out = kl(x, initial_state=init)
    layer = from_keras(kl)
    assert layer.batch_first and layer.dtype == np.float32
    y, state = layer(x, tuple(s[None] for s in init) if n_states == 2 else init[0][None])
    np.testing.assert_allclose(_np(out[0]), y, rtol=0, atol=1e-5)
    for keras_state, ours in zip(out[1:], state if n_states == 2 else (state,)):
        np.testing.assert_allclose(_np(keras_state), ours[0], rtol=0, atol=1e-5)
    for a, b in zip(to_keras_weights(layer)[0], kl.get_weights()):          # Keras -> lstm -> Keras: exact
        assert np.array_equal(a, b)


def test_one_layer_export_returns_states_like_keras():
    layer = _layer(LSTM, 1, {"bidirectional": True})
    x = _x()
    y, (h, c) = layer(x)
    out = to_keras(layer, return_state=True)(x)
    assert len(out) == 5                                   # y, forward h, c, backward h, c
    np.testing.assert_allclose(_np(out[1]), h[0], atol=1e-5)
    np.testing.assert_allclose(_np(out[4]), c[1], atol=1e-5)
    stack = to_keras_layers(_layer(GRU, 2, {}))
    assert len(stack) == 2 and all(type(kl).__name__ == "GRU" for kl in stack)
    with pytest.raises(ValueError, match="one-layer"):
        to_keras(_layer(GRU, 2, {}), return_state=True)


def test_float64_layers_agree_to_1e_12():
    layer = _layer(GRU, 2, {"bidirectional": True}, dtype=np.float64)
    x = _x(dtype=np.float64)
    km = to_keras(layer)
    np.testing.assert_allclose(_np(km(x)), layer(x)[0], rtol=0, atol=1e-12)
    assert from_keras(km).dtype == np.float64


def test_what_cannot_be_converted_is_refused():
    for bad, what in ((LSTM(3, 4, proj_size=2), "projection"), (LSTM(3, 4, peephole=True), "peephole"),
                      (LSTM(3, 4, coupled=True), "coupled")):
        with pytest.raises(ValueError, match=what):
            to_keras_weights(bad)
    old_gru = keras.layers.GRU(4, reset_after=False)
    old_gru.build((None, None, 3))
    with pytest.raises(ValueError, match="reset_after"):
        from_keras(old_gru)
    with pytest.raises(ValueError, match="reset_after=True"):
        from_keras_weights(old_gru.get_weights())
    back = keras.layers.LSTM(4, go_backwards=True)
    back.build((None, None, 3))
    with pytest.raises(ValueError, match="go_backwards"):
        from_keras(back)
    hard = keras.layers.LSTM(4, recurrent_activation="hard_sigmoid")
    hard.build((None, None, 3))
    with pytest.raises(ValueError, match="recurrent_activation='sigmoid'"):
        from_keras(hard)
    with pytest.raises(ValueError, match="kind='GRU'.*LSTM"):
        from_keras_weights(to_keras_weights(_layer(LSTM, 1, {}))[0], kind="GRU")
    with pytest.raises(ValueError, match="5 weight arrays"):
        from_keras_weights([np.zeros((3, 20), np.float32)] * 5)


def test_unbuilt_layers_and_empty_stacks_are_refused_for_what_they_are():
    for unbuilt in (keras.layers.LSTM(4), keras.layers.Bidirectional(keras.layers.GRU(3))):
        with pytest.raises(ValueError, match="has no weights yet: build it first"):
            from_keras(unbuilt)
    for empty in ([], keras.Sequential([keras.Input((None, 3))])):
        with pytest.raises(ValueError, match="got no layers"):
            from_keras(empty)


def test_a_missing_keras_names_the_extra_and_weights_need_no_keras(monkeypatch):
    layer = _layer(GRU, 2, {})
    monkeypatch.setitem(sys.modules, "keras", None)             # as if not installed
    with pytest.raises(MissingDependencyError, match=r"pip install lstm\[keras\]"):
        to_keras(layer)
    back = from_keras_weights(to_keras_weights(layer))
    for name, value in layer.state_dict().items():
        assert np.array_equal(back.state_dict()[name], value)
