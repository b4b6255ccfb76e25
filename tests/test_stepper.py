"""Streaming steppers (lstm/nn/stepper.py, lstm/kernels/_step.py) equal the full-sequence forward pass step by step.

The oracle is the layer's own forward pass on the whole sequence with the NumPy reference kernels (the spec):
float64 to 1e-12, float32 to 1e-5.  Sizes are small; the compiled step kernel is compiled once per dtype and then
loaded from Numba's disk cache.
"""

import copy
import pickle
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm.nn import GRU, LSTM, RNN
from lstm.nn.stepper import Stepper

DTYPES = [np.float64, np.float32]
BACKENDS = ["auto", "reference"]          # compiled step kernel / the NumPy path


def tol(dt):
    return 1e-12 if dt == np.float64 else 1e-5


def close(ours, ref, dt, what=""):
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape, (what, ours.shape, ref.shape)
    assert ours.dtype == ref.dtype, (what, ours.dtype, ref.dtype)
    scale = max(1.0, float(np.abs(ref).max(initial=0.0)))
    np.testing.assert_allclose(ours, ref, rtol=tol(dt), atol=tol(dt) * scale, err_msg=what)


def reference_forward(layer, x, state=None):
    """The full-sequence forward with the reference kernels, in eval mode."""
    backend, training = layer.backend, layer.training
    layer.backend = "reference"
    layer.eval()
    try:
        return layer(x, state)
    finally:
        layer.backend = backend
        layer.train(training)


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def random_state(layer, B, rng):
    shapes = layer._state_shapes(B)
    parts = tuple((0.5 * rng.standard_normal(s)).astype(layer.dtype) for s in shapes)
    return parts if len(parts) > 1 else parts[0]


def run_and_compare(layer, T, B, rng, backend="auto", with_state=True, unbatched=False):
    dt = layer.dtype
    layer.backend = backend
    x = rng.standard_normal((T, B, layer.input_size)).astype(dt)
    state0 = random_state(layer, B, rng) if with_state else None
    y_ref, final_ref = reference_forward(layer, x, state0)
    stepper = layer.stepper(B)
    stepper.state = state0
    for t in range(T):
        y_t = stepper.step(x[t, 0] if unbatched else x[t])
        close(y_t, y_ref[t, 0] if unbatched else y_ref[t], dt, f"y at step {t}")
    for ours, ref in zip(as_tuple(stepper.state), as_tuple(final_ref)):
        close(ours, ref, dt, "final state")
    return stepper


CONFIGS = {
    "lstm-2-layers": lambda dt: LSTM(5, 7, 2, dtype=dt, seed=1),
    "lstm-proj-peephole-coupled": lambda dt: LSTM(5, 8, 3, proj_size=3, peephole=True, coupled=True, dtype=dt,
                                                  seed=2),
    "lstm-proj": lambda dt: LSTM(4, 9, 2, proj_size=5, dtype=dt, seed=3),
    "lstm-peephole": lambda dt: LSTM(6, 5, 1, peephole=True, dtype=dt, seed=4),
    "lstm-no-bias": lambda dt: LSTM(5, 7, 2, bias=False, dtype=dt, seed=5),
    "gru": lambda dt: GRU(5, 6, 2, dtype=dt, seed=6),
    "gru-no-bias": lambda dt: GRU(3, 9, 1, bias=False, dtype=dt, seed=7),
    "rnn-tanh": lambda dt: RNN(5, 6, 2, dtype=dt, seed=8),
    "rnn-relu": lambda dt: RNN(5, 6, 3, nonlinearity="relu", dtype=dt, seed=9),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("name", list(CONFIGS))
def test_stepper_equals_forward(name, dt, backend):
    layer = CONFIGS[name](dt)
    rng = np.random.default_rng(0)
    run_and_compare(layer, T=6, B=3, rng=rng, backend=backend)
    run_and_compare(layer, T=5, B=1, rng=rng, backend=backend, unbatched=True, with_state=False)


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(["lstm", "gru", "rnn"]), I=st.integers(1, 20), H=st.integers(1, 40),
       L=st.integers(1, 3), B=st.integers(1, 5), T=st.integers(1, 6), bias=st.booleans(), peephole=st.booleans(),
       coupled=st.booleans(), proj=st.integers(0, 39), f64=st.booleans(), seed=st.integers(0, 2**16))
def test_stepper_property(kind, I, H, L, B, T, bias, peephole, coupled, proj, f64, seed):
    """Any size (odd widths exercise the kernels' remainder loops), any option: stepping == the whole sequence."""
    dt = np.float64 if f64 else np.float32
    if kind == "lstm":
        layer = LSTM(I, H, L, bias=bias, proj_size=proj % H, peephole=peephole, coupled=coupled, dtype=dt, seed=seed)
    else:
        layer = (GRU if kind == "gru" else RNN)(I, H, L, bias=bias, dtype=dt, seed=seed)
    run_and_compare(layer, T, B, np.random.default_rng(seed))


def test_stepper_equals_compiled_forward_on_a_realistic_size():
    """H = 64 (the benchmark size, full vector loops) against the default (compiled) forward pass too."""
    layer = LSTM(32, 64, 2, dtype=np.float32, seed=0)
    x = np.random.default_rng(1).standard_normal((20, 2, 32)).astype(np.float32)
    y, _ = layer(x)
    stepper = layer.stepper(2)
    ys = np.stack([stepper.step(x[t]).copy() for t in range(20)])
    close(ys, y, np.float32)


@pytest.mark.parametrize("dt", DTYPES)
def test_functional_step_matches_stepper_and_leaves_its_inputs_alone(dt):
    layer = LSTM(4, 6, 2, proj_size=3, dtype=dt, seed=3)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 4)).astype(dt)
    state = random_state(layer, 1, rng)
    saved = tuple(s.copy() for s in state)
    y_ref, final_ref = reference_forward(layer, x[:, None], state)
    s = state
    for t in range(5):
        y, s = layer.step(x[t], s)
        assert y.shape == (3,) and y.flags.writeable
        close(y, y_ref[t, 0], dt)
    for ours, ref in zip(s, final_ref):
        close(ours, ref, dt)
    for a, b in zip(state, saved):
        np.testing.assert_array_equal(a, b)
    y, (h, c) = layer.step(x[:2])                               # a batch of 2, zero state
    assert y.shape == (2, 3) and h.shape == (2, 2, 3) and c.shape == (2, 2, 6)
    gru = GRU(3, 4, dtype=dt, seed=0)
    y, h = gru.step(np.ones(3, dt))
    assert isinstance(h, np.ndarray) and h.shape == (1, 1, 4)
    close(y, reference_forward(gru, np.ones((1, 1, 3), dt))[0][0, 0], dt)


def test_state_reset_and_output_view():
    layer = LSTM(3, 4, 2, seed=0)
    stepper = layer.stepper()
    x = np.ones(3, np.float32)
    y = stepper.step(x)
    assert not y.flags.writeable
    with pytest.raises(ValueError):
        y[0] = 1.0
    h, c = stepper.state
    assert h.shape == (2, 1, 4) and c.shape == (2, 1, 4) and np.abs(c).sum() > 0
    h[...] = 123.0                                              # a copy: the stepper is unaffected
    assert np.abs(stepper.state[0]).max() < 1
    first = y.copy()
    stepper.step(x)
    assert not np.array_equal(y, first)                         # y is the live buffer, overwritten by the next step
    stepper.reset()
    assert all(np.all(s == 0) for s in stepper.state)
    np.testing.assert_array_equal(stepper.step(x), first)       # after reset, the first step again
    stepper.state = (h * 0, c * 0)
    np.testing.assert_array_equal(stepper.step(x), first)
    stepper.state = None
    np.testing.assert_array_equal(stepper.step(x), first)


def test_weights_written_outside_lstm_are_read_at_reset():
    """Arrays written in place by hand are re-read by reset(); replaced arrays too."""
    layer = LSTM(3, 5, seed=0)
    layer.eval()
    stepper = layer.stepper()
    x = np.full(3, 0.5, np.float32)
    before = stepper.step(x).copy()
    layer.parameters()["weight_ih_l0"] *= -2.0                  # in place, like opt.step
    stepper.reset()
    after = stepper.step(x).copy()
    close(after, reference_forward(layer, x[None, None])[0][0, 0], np.float32)
    assert not np.allclose(before, after)
    layer._params["weight_hh_l0"] = layer._params["weight_hh_l0"] * 0.5   # replaced (as gradcheck does)
    stepper.reset()
    stepper.step(x)
    close(stepper.step(x), reference_forward(layer, np.stack([x, x])[:, None])[0][1, 0], np.float32)


@pytest.mark.parametrize("B", [1, 2])
def test_optimizer_steps_and_loaded_weights_are_seen_by_the_next_step(B):
    """A stepper (batch 1 packs the weights) notices lstm's own in-place writes by itself, keeping its state."""
    from lstm.optim import SGD
    layer = LSTM(3, 5, 2, proj_size=2, seed=0)
    stepper = layer.stepper(B)
    x = np.random.default_rng(0).standard_normal((4, B, 3)).astype(np.float32)
    stepper.step(x[0])
    stepper.step(x[1])
    grads = {k: np.full_like(v, 0.3) for k, v in layer.parameters().items()}
    SGD(layer.parameters(), lr=1.0).step(grads)                 # every weight moves by -0.3
    state = stepper.state                                       # carried from the old weights
    close(stepper.step(x[2]), reference_forward(layer, x[2:3], state)[0][0], np.float32, "after an optimizer step")
    other = LSTM(3, 5, 2, proj_size=2, seed=7)
    layer.load_state_dict(other.state_dict())
    state = stepper.state
    close(stepper.step(x[3]), reference_forward(other, x[3:4], state)[0][0], np.float32, "after load_state_dict")


def test_token_stepper_of_batch_one_sees_a_head_update():
    """Embedding → LSTM → head at batch 1 (packed layer and head): an optimizer step on the head alone is seen."""
    from lstm.nn import Embedding, Linear
    from lstm.optim import SGD
    dt = np.float64
    layer = LSTM(5, 7, dtype=dt, seed=1)
    emb, head = Embedding(11, 5, dtype=dt, seed=2), Linear(7, 11, dtype=dt, seed=3)
    ids = np.array([[3], [10], [7]])                            # (T, 1)
    y, _ = reference_forward(layer, emb(ids))                   # (T, 1, 7): the head does not feed back
    stepper = Stepper(layer, embedding=emb, head=head)
    close(stepper.step(3), head(y)[0, 0], dt)
    SGD(head.parameters(), lr=0.5).step({k: np.ones_like(v) for k, v in head.parameters().items()})
    close(stepper.step(10), head(y)[1, 0], dt)
    close(stepper.step(7), head(y)[2, 0], dt)


def test_refresh_rereads_weights_written_by_hand_and_keeps_the_state():
    layer = GRU(4, 6, seed=0)
    stepper = layer.stepper()
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    stepper.step(x[0])
    state = stepper.state
    layer.parameters()["weight_hh_l0"][:] *= 0.5                # outside lstm: not counted
    stepper.refresh()
    np.testing.assert_array_equal(stepper.state, state)
    close(stepper.step(x[1]), reference_forward(layer, x[1:2, None], state)[0][0, 0], np.float32)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("make", [lambda dt: LSTM(32, 64, 2, dtype=dt, seed=0),
                                  lambda dt: LSTM(24, 40, proj_size=17, peephole=True, dtype=dt, seed=1),
                                  lambda dt: GRU(20, 50, 2, dtype=dt, seed=2),
                                  lambda dt: RNN(16, 150, dtype=dt, seed=3)],
                         ids=["lstm-64", "lstm-40-proj", "gru-50", "rnn-150"])
def test_batch_one_equals_the_compiled_forward_on_panel_sizes(make, dt):
    """Batch 1 runs on packed weight panels (128 float32 / 64 float64 columns): full panels, padded last panels,
    several panels, a projection narrower than a panel."""
    layer = make(dt)
    x = np.random.default_rng(1).standard_normal((12, 1, layer.input_size)).astype(dt)
    y, _ = layer(x)
    stepper = layer.stepper()
    ys = np.stack([stepper.step(x[t, 0]).copy() for t in range(12)])
    close(ys, y[:, 0], dt)


def test_no_allocation_per_step():
    """NumPy allocates nothing while stepping (the fast path passes x through and returns a view)."""
    domain = np.lib.tracemalloc_domain
    layer = LSTM(8, 16, 2, seed=0)
    stepper = layer.stepper()
    x = np.ones(8, np.float32)
    xb = np.ones((1, 8), np.float32)
    stepper.step(x)
    stepper.step(xb)
    tracemalloc.start()
    try:
        for _ in range(50):
            stepper.step(x)
            stepper.step(xb)
        snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.DomainFilter(True, domain)])
    finally:
        tracemalloc.stop()
    assert sum(s.size for s in snap.statistics("filename")) == 0


def test_errors_are_one_line_and_helpful():
    with pytest.raises(ValueError, match="bidirectional"):
        LSTM(3, 4, bidirectional=True).stepper()
    with pytest.raises(ValueError, match="bidirectional"):
        GRU(3, 4, bidirectional=True).step(np.zeros(3, np.float32))
    stepper = LSTM(3, 4, seed=0).stepper(batch_size=2)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        stepper.step(np.zeros(3, np.float32))                  # batch 2 needs (2, 3)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        stepper.step(np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        stepper.step(np.zeros((2, 3), np.int64))
    with pytest.raises(ValueError, match="batch_size"):
        LSTM(3, 4).stepper(batch_size=0)
    with pytest.raises(ValueError):
        stepper.state = np.zeros((1, 2, 4), np.float32)          # LSTM needs (h, c)
    with pytest.raises(TypeError, match="LSTM, GRU or RNN"):
        Stepper(object())
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(stepper)
    with pytest.raises(TypeError, match="copy"):
        copy.deepcopy(stepper)


def test_inputs_are_converted_on_the_slow_path():
    layer = LSTM(3, 4, dtype=np.float32, seed=0)
    a, b = layer.stepper(), layer.stepper()
    x64 = np.array([0.1, -0.2, 0.3])
    np.testing.assert_array_equal(a.step(x64), b.step(x64.astype(np.float32)))
    np.testing.assert_array_equal(a.step([0.1, -0.2, 0.3]), b.step(x64[::-1][::-1].astype(np.float32)))
    wide = np.zeros((1, 6), np.float32)
    np.testing.assert_array_equal(a.step(wide[:, ::2]), b.step(np.zeros((1, 3), np.float32)))   # strided input


# ---- the language model -----------------------------------------------------------------------------------------
TEXT = "the quick brown fox jumps over the lazy dog.\nhow vexingly quick daft zebras jump!\n" * 8


def small_lm(tie=False):
    from lstm.data.text import Vocabulary
    from lstm.models import LanguageModel
    lm = LanguageModel(hidden_size=16, num_layers=2, embedding_dim=16 if tie else 8, tie_weights=tie, seed=3)
    lm._build(Vocabulary.build(TEXT, "char"))
    return lm


@pytest.mark.parametrize("tie", [False, True])
def test_language_model_stepper_equals_forward(tie):
    lm = small_lm(tie)
    net = lm.net_
    net.eval()
    ids = lm.vocab_.encode("the lazy fox")
    logits, _ = net.forward(ids[None])
    stepper = lm.stepper()
    for t, token in enumerate(ids):
        close(stepper.step(int(token)), logits[0, t], np.float32, f"logits at {t}")
    batch = lm.stepper(batch_size=2)                            # two streams at once
    pair = np.stack([ids, ids[::-1]])
    want, _ = net.forward(pair)
    for t in range(len(ids)):
        close(batch.step(pair[:, t]), want[:, t], np.float32)
    with pytest.raises(IndexError, match="out of range"):
        stepper.step(len(lm.vocab_))
    with pytest.raises(ValueError, match="int array"):
        batch.step(3)


def test_language_model_stream_uses_the_stepper_and_matches_the_network():
    """Greedy generation from the stepper equals greedy generation by full forward passes over the prefix."""
    lm = small_lm()
    net = lm.net_
    text = lm.sample(12, prime="the ", temperature=0)
    ids = list(lm.vocab_.encode("the "))
    for _ in range(12):
        logits, _ = net.forward(np.array([ids]))
        z = logits[0, -1].astype(np.float64)
        z[0] = -np.inf
        ids.append(int(np.argmax(z)))
    assert text == lm.vocab_.decode(ids[4:])
    assert lm.sample(20, seed=5) == lm.sample(20, seed=5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_embedding_and_head_on_any_layer(backend):
    """Stepper(layer, embedding=..., head=...) on a GRU: ids → E rows → layers → logits, as the forward spelled out."""
    from lstm.nn import Embedding, Linear
    dt = np.float64
    gru = GRU(5, 7, 2, dtype=dt, seed=1, backend=backend)
    emb, head = Embedding(11, 5, dtype=dt, seed=2), Linear(7, 11, dtype=dt, seed=3)
    ids = np.array([[3, 0], [10, 4], [7, 7]])                  # (T, B)
    y, _ = reference_forward(gru, emb(ids))
    want = head(y)                                              # (T, B, 11)
    stepper = Stepper(gru, 2, embedding=emb, head=head)
    for t in range(3):
        close(stepper.step(ids[t]), want[t], dt)
    no_bias = Stepper(gru, 2, embedding=emb.weight, head=(head.weight, None))
    for t in range(3):
        close(no_bias.step(ids[t]), want[t] - head.bias, dt)
    with pytest.raises(ValueError, match="head weight"):
        Stepper(gru, head=(np.zeros((3, 4)), None))


def test_layer_step_neither_keeps_the_layer_alive_nor_blocks_copies():
    import gc
    import weakref

    layer = LSTM(3, 5, seed=0)
    y, state = layer.step(np.ones(3, np.float32))
    for dup in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):   # the cached stepper is left behind
        y2, state2 = dup.step(np.ones(3, np.float32))
        assert np.array_equal(y2, y) and np.array_equal(state2[1], state[1])
    alive = weakref.ref(layer)
    del layer, dup
    gc.collect()
    assert alive() is None


@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("make", [lambda: LSTM(4, 6, 2, proj_size=3, seed=0), lambda: GRU(4, 6, seed=1),
                                  lambda: RNN(4, 6, nonlinearity="relu", seed=2)], ids=["lstm-proj", "gru", "rnn"])
def test_layer_step_sees_weights_written_by_hand(make, B):
    """layer.step is a pure function: it has no refresh() to call, so any write to the weights — through the
    attribute getter or parameters(), outside lstm's own bookkeeping — must be seen by the next call."""
    layer = make()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, 4)).astype(np.float32)
    x = x[0] if B == 1 else x
    state = random_state(layer, B, rng)
    before, _ = layer.step(x, state)                            # caches this layer's stepper for batch B
    layer.weight_ih_l0[...] *= -1.5                             # in place, by hand: lstm counts no write
    layer.parameters()["weight_hh_l0"][:2] = 0.25
    y, new_state = layer.step(x, state)
    y_ref, final_ref = reference_forward(layer, x[None, None] if B == 1 else x[None], state)
    close(y, y_ref[0, 0] if B == 1 else y_ref[0], np.float32, "y after a write by hand")
    for ours, ref in zip(as_tuple(new_state), as_tuple(final_ref)):
        close(ours, ref, np.float32, "state after a write by hand")
    assert not np.allclose(y, before)


@pytest.mark.parametrize("dt", DTYPES)
def test_layer_step_takes_an_unbatched_state_with_an_unbatched_input_and_gives_one_back(dt):
    """As the forward pass (and torch) take one sequence: x (I,) with states (num_layers, width)."""
    layer = LSTM(4, 6, 2, proj_size=3, dtype=dt, seed=3)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4)).astype(dt)
    h0, c0 = (s[:, 0] for s in random_state(layer, 1, rng))     # (2, 3), (2, 6)
    y_ref, (h_ref, c_ref) = reference_forward(layer, x, (h0, c0))  # unbatched forward: states come back 2-D
    state = (h0, c0)
    for t in range(3):
        y, state = layer.step(x[t], state)
        close(y, y_ref[t], dt, f"y at step {t}")
    assert state[0].shape == (2, 3) and state[1].shape == (2, 6)
    close(state[0], h_ref, dt)
    close(state[1], c_ref, dt)
    gru = GRU(4, 5, dtype=dt, seed=0)
    y, h = gru.step(x[0], np.zeros((1, 5), dt))
    assert h.shape == (1, 5)
    close(y, reference_forward(gru, x[:1])[0][0], dt)
    y, h = gru.step(x[0])                                       # no state: the documented (num_layers, B, H)
    assert h.shape == (1, 1, 5)


@pytest.mark.parametrize("x,shape", [(np.zeros((0, 4), np.float32), "(0, 4)"), (np.zeros((2, 3), np.float32),
                                     "(2, 3)"), (np.zeros((1, 2, 4), np.float32), "(1, 2, 4)")])
def test_layer_step_names_the_input_shape_it_takes(x, shape):
    """The pure step's own words: not the batch_size of a stepper the caller never built."""
    with pytest.raises(ValueError) as err:
        LSTM(4, 5, seed=0).step(x)
    message = str(err.value)
    assert "(B, 4) with B >= 1, or (4,)" in message and f"got {shape}" in message
    assert "batch_size" not in message and "\n" not in message
