"""Layer edge cases a PyTorch user meets: 0-d inputs, recurrent layers inside Sequential, attention's ``projected``,
argument types, and what the errors say."""

from __future__ import annotations

import re

import numpy as np
import pytest

import lstm.nn as nn
from lstm.nn.attention import make_attention


def test_linear_refuses_0d_input_and_reports_its_shape():
    """torch's Linear refuses a 0-d input; the message must report the shape given, (), not (1,)."""
    with pytest.raises(ValueError, match=r"got \(\);"):
        nn.Linear(1, 2, dtype=np.float64, seed=0)(np.float64(2.0))


def test_dropout_keeps_a_0d_input_0d():
    d = nn.Dropout(0.5, seed=0)
    assert d(np.float64(2.0)).shape == ()
    assert d.backward(np.float64(1.0)).shape == ()
    assert d.eval()(np.float32(2.0)).shape == ()


@pytest.mark.parametrize("layer", [lambda: nn.LSTM(1, 2), lambda: nn.LSTMCell(1, 2)])
def test_recurrent_input_error_reports_a_scalar_as_given(layer):
    with pytest.raises(ValueError, match=r"got .*\(\)"):
        layer()(np.float32(1.0))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_stepper_and_step_still_take_a_scalar_for_one_input_feature(kind):
    """A univariate stream may hand the stepper plain floats (x_t of shape (1,) as a scalar)."""
    layer = getattr(nn, kind)(1, 3, 2, dtype=np.float64, seed=0)
    xs = [0.5, -1.25, 2.0]
    y, _ = layer(np.array(xs)[:, None, None])
    st = layer.stepper()
    np.testing.assert_allclose([st.step(v).copy() for v in xs], y[:, 0], rtol=0, atol=1e-12)
    state, out = None, []
    for v in xs:
        y_t, state = layer.step(v, state)
        out.append(y_t)
    np.testing.assert_allclose(np.stack(out), y[:, 0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_sequential_with_a_recurrent_layer_inside_says_what_to_do(kind):
    """A recurrent layer returns (y, state): passing that tuple on used to end in NumPy's 'inhomogeneous shape'
    error; now a one-line TypeError names the module."""
    seq = nn.Sequential(getattr(nn, kind)(3, 4), nn.Linear(4, 2))
    with pytest.raises(TypeError, match=rf"module 0 \({kind}\) returned a tuple") as info:
        seq(np.ones((2, 1, 3), np.float32))
    assert "\n" not in str(info.value)


def test_sequential_backward_through_a_recurrent_layer_says_what_to_do():
    seq = nn.Sequential(nn.Linear(3, 3), nn.GRU(3, 4))
    y, _ = seq(np.ones((2, 1, 3), np.float32))        # last: its (y, state) is the caller's
    with pytest.raises(TypeError, match=r"module 1 \(GRU\) returned a tuple"):
        seq.backward(np.ones((2, 1, 4), np.float32))


def test_sequential_recurrent_layer_last_still_returns_its_pair():
    lin, rnn = nn.Linear(3, 3, dtype=np.float64, seed=0), nn.GRU(3, 4, dtype=np.float64, seed=1)
    x = np.random.default_rng(0).normal(size=(5, 2, 3))
    y, h = nn.Sequential(lin, rnn)(x)
    y_ref, h_ref = rnn(lin(x))
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(h, h_ref)


def test_sequential_index_out_of_range_says_how_many_modules():
    seq = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    with pytest.raises(IndexError, match=r"index 5 is out of range.*2 modules"):
        seq[5]
    assert seq[-2] is seq[0]


@pytest.mark.parametrize("kind, width", [("dot", 3), ("general", 3), ("additive", 3)])
def test_attention_checks_the_shape_of_projected_keys(kind, width):
    """``projected=`` of the wrong shape used to surface as a NumPy matmul/broadcast error."""
    attn = make_attention(kind, width, 3, seed=0)
    q, k = np.zeros((2, 1, width), np.float32), np.zeros((2, 4, 3), np.float32)
    good = attn.project_keys(k)
    with pytest.raises(ValueError, match=re.escape(f"projected keys must have shape {good.shape}") + ".*project_keys"):
        attn(q, k, projected=np.zeros((2, 5, good.shape[-1]), np.float32))
    with pytest.raises(ValueError, match="projected keys"):
        attn(q, k, projected=good[..., :1])
    with pytest.raises(TypeError, match="projected keys must be float32 or float64"):
        attn(q, k, projected=good.astype(np.float16))
    c, a = attn(q, k, projected=good)
    c2, a2 = attn(q, k)
    np.testing.assert_array_equal(c, c2)
    np.testing.assert_array_equal(a, a2)


def test_lstm_refuses_a_bool_proj_size():
    """proj_size=True used to build a projection of width 1 (the other size arguments refuse bools)."""
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=True)
    assert nn.LSTM(3, 4, proj_size=np.int64(2)).proj_size == 2


def test_lstm_cell_state_error_says_what_was_given():
    with pytest.raises(ValueError, match=r"state must be a pair \(h, c\).*got ndarray of shape \(2, 4\)"):
        nn.LSTMCell(3, 4)(np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"state must be a pair \(h, c\).*got a tuple of 3 items"):
        nn.LSTMCell(3, 4)(np.zeros((2, 3), np.float32), (np.zeros((2, 4)), np.zeros((2, 4)), np.zeros(1)))
    cell = nn.LSTMCell(3, 4)
    cell(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"dstate must be a pair \(dh, dc\).*got a tuple of 3 items"):
        cell.backward((np.zeros((2, 4)), np.zeros((2, 4)), np.zeros(1)))


@pytest.mark.parametrize("backend", ["reference", "numba"])
@pytest.mark.parametrize("make", [
    lambda be: __import__("lstm").nn.LSTM(3, 4, 2, bidirectional=True, dtype=np.float64, seed=0, backend=be),
    lambda be: __import__("lstm").nn.LSTM(3, 4, batch_first=True, proj_size=2, dtype=np.float64, seed=1, backend=be),
    lambda be: __import__("lstm").nn.GRU(3, 4, 2, dtype=np.float64, seed=2, backend=be),
    lambda be: __import__("lstm").nn.RNN(3, 4, bidirectional=True, batch_first=True, dtype=np.float64, seed=3,
                                         backend=be),
], ids=["lstm-bi-2", "lstm-proj-batch-first", "gru-2", "rnn-bi-batch-first"])
def test_nan_in_padded_steps_reaches_neither_outputs_nor_gradients(make, backend):
    """As with torch's packed sequences: what the padding holds is never read (the kernels masked by multiplying
    by 0, so a NaN there made y's padding and every gradient NaN)."""
    lengths = np.array([5, 2, 4])
    rng = np.random.default_rng(0)
    layer = make(backend)
    shape = (3, 5, 3) if layer.batch_first else (5, 3, 3)
    x = rng.normal(size=shape)
    pad = (np.arange(5)[None, :] >= lengths[:, None])                   # (B, T)
    pad = pad if layer.batch_first else pad.T
    clean = np.where(pad[..., None], 0.0, x)
    y, _ = layer(clean, lengths=lengths)
    dy = rng.normal(size=y.shape)
    dy_clean = np.where(pad[..., None], 0.0, dy)
    dx, _ = layer.backward(dy_clean)
    want = {k: v.copy() for k, v in layer.grads.items()}
    dirty_x, dirty_dy = np.where(pad[..., None], np.nan, x), np.where(pad[..., None], np.nan, dy)
    y2, _ = layer(dirty_x, lengths=lengths)
    dx2, _ = layer.backward(dirty_dy)
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(dx2, dx)
    for k, v in want.items():
        np.testing.assert_array_equal(layer.grads[k], v, err_msg=k)
    assert np.isnan(dirty_x).any() and np.isnan(dirty_dy).any()       # the caller's arrays are left as given
