"""What a forward or backward call computes for gradients.

``lstm.no_grad()``: recurrent layers keep nothing for backward, give the same outputs, and say so if asked to
backpropagate; the flag nests, works as a decorator, is per thread, and the trainer validates under it.
Linear, Embedding and attention keep their own copy of a caller's input (a change between forward and backward
leaves the gradients as they were), and also keep nothing under no_grad().
``backward(..., input_grad=False)``: no δx, every other gradient unchanged."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import lstm
from lstm.nn import GRU, LSTM, RNN, is_grad_enabled, no_grad

BACKENDS = ["reference", "numba"]


def _states(s):
    return list(s) if isinstance(s, tuple) else [s]


def _layer_and_input(make, backend, seed):
    """The layer on ``backend``, a batch of 3 sequences (7 steps, 5 features) in its layout, and their lengths."""
    if backend == "numba":
        pytest.importorskip("numba")
    layer = make(backend)
    x = np.random.default_rng(seed).normal(size=(3, 7, 5) if layer.batch_first else (7, 3, 5))
    return layer, x.astype(layer.dtype), np.array([7, 2, 5])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("make", [
    lambda be: LSTM(5, 6, 2, bidirectional=True, proj_size=4, dtype=np.float64, seed=1, backend=be),
    lambda be: LSTM(5, 6, 1, peephole=True, batch_first=True, dtype=np.float32, seed=2, backend=be),
    lambda be: GRU(5, 6, 2, bidirectional=True, dtype=np.float64, seed=3, backend=be),
    lambda be: RNN(5, 6, 2, dtype=np.float32, seed=4, backend=be),
], ids=["lstm-bi-proj", "lstm-peep-batch-first", "gru-bi", "rnn"])
def test_outputs_equal_with_and_without_grad(make, backend):
    layer, x, lengths = _layer_and_input(make, backend, 0)
    y, state = layer(x, lengths=lengths)
    with no_grad():
        y2, state2 = layer(x, lengths=lengths)
        y3, state3, trace = layer(x, lengths=lengths, return_trace=True)
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(y3, y)
    for a, b in zip(_states(state2), _states(state)):
        np.testing.assert_array_equal(a, b)
    assert trace["h"].shape[2] == 7                        # a trace still gets what it needs


def test_backward_after_no_grad_forward_is_refused_then_works_again():
    layer = LSTM(3, 4, dtype=np.float64, seed=0)
    x = np.random.default_rng(1).normal(size=(5, 2, 3))
    with no_grad():
        y, _ = layer(x)
    with pytest.raises(RuntimeError, match="no_grad"):
        layer.backward(np.ones_like(y))
    y, _ = layer(x)                                        # outside again: backward works
    dx, _ = layer.backward(np.ones_like(y))
    assert dx.shape == x.shape and np.abs(dx).sum() > 0


def test_flag_nests_decorates_and_is_per_thread():
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        with lstm.no_grad():
            assert not is_grad_enabled()
        assert not is_grad_enabled()
        seen = []
        worker = threading.Thread(target=lambda: seen.append(is_grad_enabled()))
        worker.start()
        worker.join()
        assert seen == [True]                               # another thread is unaffected
    assert is_grad_enabled()

    @no_grad()
    def inside():
        return is_grad_enabled()

    assert inside() is False and is_grad_enabled()
    with pytest.raises(KeyError):
        with no_grad():
            raise KeyError("restored even on error")
    assert is_grad_enabled()


def test_validation_in_the_trainer_runs_without_grad():
    from lstm.optim import SGD
    from lstm.train import Trainer

    layer = LSTM(2, 3, dtype=np.float64, seed=0)
    x = np.random.default_rng(2).normal(size=(4, 2, 2))
    modes = []

    def step(batch, carry):
        y, _ = layer(x)
        layer.backward(y)
        return float((y ** 2).sum() / 2), carry

    def evaluate():
        modes.append(is_grad_enabled())
        return 1.0

    Trainer(layer, SGD(layer, lr=0.01), step, lambda k: None, steps=2, evaluate=evaluate, eval_every=1,
            progress=False).fit()
    assert modes == [False, False]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("make", [
    lambda be: LSTM(5, 6, 2, bidirectional=True, dropout=0.3, dtype=np.float64, seed=1, backend=be),
    lambda be: LSTM(5, 6, 1, proj_size=3, batch_first=True, dtype=np.float64, seed=2, backend=be),
    lambda be: GRU(5, 6, 2, dtype=np.float64, seed=3, backend=be),
    lambda be: RNN(5, 6, 1, bidirectional=True, dtype=np.float64, seed=4, backend=be),
], ids=["lstm-2-bi-dropout", "lstm-proj-batch-first", "gru-2", "rnn-bi"])
def test_backward_without_input_grad_leaves_other_gradients_unchanged(make, backend):
    layer, x, lengths = _layer_and_input(make, backend, 5)
    y, state = layer(x, lengths=lengths)
    dy = np.random.default_rng(6).normal(size=y.shape)
    dx, dstate = layer.backward(dy)
    full = {k: v.copy() for k, v in layer.grads.items()}
    none, dstate2 = layer.backward(dy, input_grad=False)
    assert dx is not None and dx.shape == x.shape and none is None
    for a, b in zip(_states(dstate2), _states(dstate)):
        np.testing.assert_array_equal(a, b)
    for k, v in full.items():
        np.testing.assert_array_equal(layer.grads[k], v, err_msg=k)


# -- the other layers: what the forward kept is their own, and nothing under no_grad ---------------------------------

def _linear():
    from lstm.nn import Linear
    layer = Linear(3, 2, dtype=np.float64, seed=0)
    x = np.random.default_rng(7).normal(size=(4, 5, 3))
    return layer, [x], lambda *a: layer(*a), lambda y: layer.backward(np.ones_like(y))


def _embedding(feed=False):
    from lstm.nn import Embedding
    layer = Embedding(7, 3, dtype=np.float64, seed=0)
    rnn = LSTM(3, 2, dtype=np.float64, seed=1)
    ids = np.random.default_rng(8).integers(0, 7, size=(4, 5))          # 20 positions: 4·V > 20, so not folded

    def forward(ids):
        return layer.feed(rnn, ids)[0] if feed else layer(ids)

    def backward(y):
        if feed:
            dx, _ = rnn.backward(np.ones_like(y))
            return layer.feed_backward(dx)
        return layer.backward(np.ones_like(y))
    return layer, [ids], forward, backward


def _attention(kind):
    from lstm.nn.attention import make_attention
    layer = make_attention(kind, 3, 3, dtype=np.float64, seed=0)
    rng = np.random.default_rng(9)
    q, k = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 5, 3))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
    return layer, [q, k, mask], lambda *a: layer(*a)[0], lambda y: layer.backward(np.ones_like(y))


def _lookup():
    layer = LSTM(3, 4, dtype=np.float64, seed=0)
    rng = np.random.default_rng(10)
    table, ids = rng.normal(size=(5, 3)), rng.integers(0, 5, size=(6, 4))
    return layer, [table, ids], lambda t, i: layer(t, ids=i)[0], lambda y: layer.backward(np.ones_like(y))


LAYERS = {"lstm-lookup": _lookup, "linear": _linear, "embedding": _embedding,
          "embedding-feed": lambda: _embedding(feed=True), "dot": lambda: _attention("dot"),
          "general": lambda: _attention("general"), "bahdanau": lambda: _attention("bahdanau")}


def _all_grads(layer, returned):
    """The parameters' gradients and the input gradients backward returned (None for ids)."""
    grads = {k: v.copy() for k, v in layer.grads.items()}
    for i, g in enumerate(returned if isinstance(returned, tuple) else (returned,)):
        if g is not None:
            grads[f"input {i}"] = g
    return grads


@pytest.mark.parametrize("name", LAYERS)
def test_changing_the_input_between_forward_and_backward_leaves_the_gradients(name):
    layer, inputs, forward, backward = LAYERS[name]()
    expected = _all_grads(layer, backward(forward(*inputs)))
    mine = [a.copy() for a in inputs]
    y = forward(*mine)
    for a in mine:                                        # the caller reuses its buffers before calling backward
        if a.dtype == bool:
            a[...] = True
        elif a.dtype.kind in "iu":
            a[...] = 0
        else:
            a *= 3.0
    got = _all_grads(layer, backward(y))
    assert got.keys() == expected.keys() and len(expected) > 0
    for k, v in expected.items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)


@pytest.mark.parametrize("name", ["linear", "embedding", "general", "bahdanau"])
def test_other_layers_refuse_backward_after_a_no_grad_forward(name):
    layer, inputs, forward, backward = LAYERS[name]()
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones(1))
    with no_grad():
        y = forward(*inputs)
    with pytest.raises(RuntimeError, match=r"under lstm\.nn\.no_grad\(\)"):
        backward(y)
    backward(forward(*inputs))                             # outside again: backward works
    assert any(np.abs(g).sum() > 0 for g in layer.grads.values())
