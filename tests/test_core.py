"""The recurrent core without an oracle: gradient checks, cells vs layers, properties, lengths, traces, errors."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lstm
from lstm.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

F64 = np.float64


def rand(rng, *shape):
    return rng.normal(size=shape)


# ---------------------------------------------------------------------------------------------------------------
# Finite differences: every layer type and option, float64, non-zero biases and initial states (gradcheck's default)
# ---------------------------------------------------------------------------------------------------------------

GRADCHECK_LAYERS = {
    "lstm": lambda: LSTM(3, 4, seed=1),
    "lstm-2l-bi-proj": lambda: LSTM(3, 5, 2, bidirectional=True, proj_size=2, seed=2),
    "lstm-peephole": lambda: LSTM(3, 4, peephole=True, seed=3),
    "lstm-peephole-bi-2l": lambda: LSTM(3, 4, 2, bidirectional=True, peephole=True, seed=4),
    "lstm-coupled": lambda: LSTM(3, 4, coupled=True, seed=5),
    "lstm-coupled-peephole-proj": lambda: LSTM(3, 4, coupled=True, peephole=True, proj_size=3, forget_bias=1.0, seed=6),
    "lstm-nobias-batchfirst": lambda: LSTM(3, 4, bias=False, batch_first=True, seed=7),
    "gru": lambda: GRU(3, 4, seed=8),
    "gru-2l-bi": lambda: GRU(3, 4, 2, bidirectional=True, seed=9),
    "rnn-tanh-bi": lambda: RNN(3, 4, bidirectional=True, seed=10),
    "rnn-relu-2l": lambda: RNN(3, 4, 2, nonlinearity="relu", seed=11),
    "lstmcell": lambda: LSTMCell(3, 4, seed=12),
    "lstmcell-peephole-coupled": lambda: LSTMCell(3, 4, peephole=True, coupled=True, seed=13),
    "grucell": lambda: GRUCell(3, 4, seed=14),
    "rnncell-relu": lambda: RNNCell(3, 4, nonlinearity="relu", seed=15),
}


@pytest.mark.parametrize("name", GRADCHECK_LAYERS)
def test_gradcheck_every_parameter(name):
    layer = GRADCHECK_LAYERS[name]()
    report = lstm.gradcheck(layer, max_entries=None)
    expected = set(layer.state_dict()) | {"input"}
    assert expected <= set(report)
    assert max(report.values()) < 1e-7, report


@pytest.mark.parametrize("name", ["lstm-2l-bi-proj", "lstm-peephole-bi-2l", "gru-2l-bi", "rnn-tanh-bi"])
def test_gradcheck_with_lengths(name):
    layer = GRADCHECK_LAYERS[name]()
    x = np.random.default_rng(0).normal(size=(6, 4, 3))
    report = lstm.gradcheck(layer, x, lengths=[6, 1, 3, 5], max_entries=None)
    assert max(report.values()) < 1e-7, report


def test_gradcheck_detects_a_wrong_backward(monkeypatch):
    """The checker itself must be able to fail: corrupt one gradient and watch the report."""
    from lstm.kernels import reference

    original = reference.lstm_backward

    def broken(*args, **kwargs):
        dx, dh, dc, grads = original(*args, **kwargs)
        grads["W_hh"] = grads["W_hh"] * 1.001
        return dx, dh, dc, grads

    monkeypatch.setattr(reference, "lstm_backward", broken)
    report = lstm.gradcheck(LSTM(3, 4, seed=0, backend="reference"))
    assert report["weight_hh_l0"] > 1e-4
    assert report["weight_ih_l0"] < 1e-7


def test_coupled_gate_is_one_minus_forget_and_input_rows_get_no_gradient():
    layer = LSTM(3, 4, coupled=True, dtype=F64, seed=0)
    x = rand(np.random.default_rng(1), 5, 2, 3)
    y, _, trace = layer(x, return_trace=True)
    np.testing.assert_allclose(trace["i"], 1 - trace["f"], atol=1e-15)
    layer.backward(np.ones_like(y))
    assert np.all(layer.grads["weight_ih_l0"][:4] == 0) and np.all(layer.grads["bias_hh_l0"][:4] == 0)
    assert np.any(layer.grads["weight_ih_l0"][4:] != 0)


def test_forget_bias_shifts_only_the_forget_slice():
    base = LSTM(3, 4, seed=0).state_dict()
    shifted = LSTM(3, 4, seed=0, forget_bias=1.0).state_dict()
    diff = shifted["bias_ih_l0"] - base["bias_ih_l0"]
    np.testing.assert_allclose(diff, np.r_[np.zeros(4), np.ones(4), np.zeros(8)], atol=1e-6)
    np.testing.assert_array_equal(shifted["weight_hh_l0"], base["weight_hh_l0"])


def test_pytorch_init_bounds_and_names():
    layer = LSTM(5, 16, 2, bidirectional=True, proj_size=4)
    names = list(layer.state_dict())
    assert names[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"]
    assert layer.state_dict()["weight_ih_l1_reverse"].shape == (64, 8)
    assert layer.state_dict()["weight_hh_l1_reverse"].shape == (64, 4)
    for v in layer.state_dict().values():
        assert np.abs(v).max() <= 0.25 and v.dtype == np.float32


# ---------------------------------------------------------------------------------------------------------------
# Cells stepped by hand equal the layer
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["lstm", "lstm-peephole-coupled", "gru", "rnn-relu"])
def test_stepping_the_cell_equals_the_layer(kind):
    rng = np.random.default_rng(0)
    x = rand(rng, 7, 3, 4)
    if kind.startswith("lstm"):
        opts = dict(peephole=True, coupled=True) if kind != "lstm" else {}
        layer, cell = LSTM(4, 5, dtype=F64, seed=1, **opts), LSTMCell(4, 5, dtype=F64, seed=2, **opts)
        state = (rand(rng, 3, 5), rand(rng, 3, 5))
    elif kind == "gru":
        layer, cell = GRU(4, 5, dtype=F64, seed=1), GRUCell(4, 5, dtype=F64, seed=2)
        state = rand(rng, 3, 5)
    else:
        layer, cell = RNN(4, 5, nonlinearity="relu", dtype=F64, seed=1), RNNCell(4, 5, nonlinearity="relu",
                                                                                  dtype=F64, seed=2)
        state = rand(rng, 3, 5)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in layer.state_dict().items()})
    layer_state = tuple(s[None] for s in state) if isinstance(state, tuple) else state[None]
    y, final = layer(x, layer_state)
    s = state
    for t in range(x.shape[0]):
        s = cell(x[t], s)
        h = s[0] if isinstance(s, tuple) else s
        np.testing.assert_allclose(h, y[t], rtol=0, atol=1e-14)
    for a, b in zip(s if isinstance(s, tuple) else (s,), final if isinstance(final, tuple) else (final,)):
        np.testing.assert_allclose(a, b[0], rtol=0, atol=1e-14)


def test_cell_accepts_unbatched_input():
    cell = LSTMCell(3, 4, dtype=F64, seed=0)
    x = np.arange(3.0)
    hb, cb = cell(x[None])
    h, c = cell(x)
    assert h.shape == (4,) and np.array_equal(h, hb[0]) and np.array_equal(c, cb[0])
    dx, (dh, dc) = cell.backward((np.ones(4), None))
    assert dx.shape == (3,) and dh.shape == (4,)


# ---------------------------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------------------------

def _make(kind, bidirectional=False, layers=1, seed=0):
    cls = {"lstm": LSTM, "gru": GRU, "rnn": RNN}[kind]
    return cls(3, 4, layers, bidirectional=bidirectional, dtype=F64, seed=seed)


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(["lstm", "gru", "rnn"]), T=st.integers(2, 9), split=st.integers(1, 8),
       layers=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_two_halves_with_state_carried_equal_one_run(kind, T, split, layers, seed):
    split = min(split, T - 1)
    layer = _make(kind, layers=layers, seed=seed)
    x = np.random.default_rng(seed).normal(size=(T, 2, 3))
    y, state = layer(x)
    y1, s1 = layer(x[:split])
    y2, s2 = layer(x[split:], s1)
    np.testing.assert_allclose(np.concatenate([y1, y2]), y, rtol=0, atol=1e-13)
    as_tuple = (lambda s: s) if kind == "lstm" else (lambda s: (s,))
    for a, b in zip(as_tuple(state), as_tuple(s2)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 50.0))
def test_gates_stay_in_range_and_h_is_bounded(seed, scale):
    layer = LSTM(3, 6, 2, bidirectional=True, peephole=True, dtype=F64, seed=seed)
    x = np.random.default_rng(seed).normal(scale=scale, size=(8, 3, 3))
    _, _, trace = layer(x, return_trace=True)
    for gate in "ifo":
        assert trace[gate].min() >= 0.0 and trace[gate].max() <= 1.0
    assert np.abs(trace["g"]).max() <= 1.0
    assert np.abs(trace["h"]).max() < 1.0


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_same_seed_same_bits(seed):
    a, b = LSTM(3, 4, 2, dropout=0.3, seed=seed), LSTM(3, 4, 2, dropout=0.3, seed=seed)
    for k, v in a.state_dict().items():
        assert np.array_equal(v, b.state_dict()[k])
    x = np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)
    ya, _ = a(x)
    yb, _ = b(x)
    assert np.array_equal(ya, yb)   # dropout masks too


def test_float32_close_to_float64():
    l64 = LSTM(3, 8, 2, dtype=F64, seed=0)
    l32 = LSTM(3, 8, 2, dtype=np.float32, seed=0)
    l32.load_state_dict(l64.state_dict())
    x = np.random.default_rng(0).normal(size=(20, 4, 3))
    y64, _ = l64(x)
    y32, _ = l32(x)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# Variable lengths and traces
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_lengths_equal_running_each_sequence_alone(kind):
    layer = _make(kind, bidirectional=True, layers=2, seed=3)
    rng = np.random.default_rng(0)
    lengths = np.array([4, 7, 1])
    x = rng.normal(size=(7, 3, 3))
    y, state, trace = layer(x, lengths=lengths, return_trace=True)
    states = state if isinstance(state, tuple) else (state,)
    for b, n in enumerate(lengths):
        yb, sb = layer(x[:n, b:b + 1])
        np.testing.assert_allclose(y[:n, b], yb[:, 0], atol=1e-14)
        assert np.all(y[n:, b] == 0)
        for full, alone in zip(states, sb if isinstance(sb, tuple) else (sb,)):
            np.testing.assert_allclose(full[:, b], alone[:, 0], atol=1e-14)
        for arr in trace.values():
            assert np.all(arr[:, :, n:, b] == 0)


def test_padded_steps_contribute_nothing_to_any_gradient():
    layer = LSTM(3, 4, 2, bidirectional=True, proj_size=2, dtype=F64, seed=0)
    rng = np.random.default_rng(1)
    lengths = [5, 2]
    x = rng.normal(size=(5, 2, 3))
    dy = rng.normal(size=(5, 2, 4))
    layer(x, lengths=lengths)
    dx, _ = layer.backward(dy)
    g1 = {k: v.copy() for k, v in layer.grads.items()}
    x2, dy2 = x.copy(), dy.copy()
    x2[2:, 1] = rng.normal(size=(3, 3)) * 100     # garbage in the padding
    dy2[2:, 1] = rng.normal(size=(3, 4)) * 100
    layer(x2, lengths=lengths)
    dx2, _ = layer.backward(dy2)
    assert np.all(dx2[2:, 1] == 0) and np.array_equal(dx, dx2)
    for k in g1:
        np.testing.assert_allclose(layer.grads[k], g1[k], atol=1e-13)


def test_trace_is_time_major_whatever_batch_first():
    layer = LSTM(3, 4, 2, bidirectional=True, batch_first=True, dtype=F64, seed=0)
    x = np.random.default_rng(0).normal(size=(2, 6, 3))
    y, (h, c), trace = layer(x, return_trace=True)
    assert trace["c"].shape == (2, 2, 6, 2, 4)
    np.testing.assert_array_equal(trace["h"][1, 0].transpose(1, 0, 2), y[:, :, :4])
    np.testing.assert_array_equal(trace["h"][1, 1, 0], y[:, 0, 4:])      # reverse direction ends at t = 0
    np.testing.assert_array_equal(trace["c"][1, 1, 0], c[3])


def test_backward_overwrites_unless_accumulating():
    layer = GRU(3, 4, dtype=F64, seed=0)
    x = np.random.default_rng(0).normal(size=(4, 2, 3))
    y, _ = layer(x)
    layer.backward(np.ones_like(y))
    once = layer.grads["weight_hh_l0"].copy()
    layer.backward(np.ones_like(y))
    np.testing.assert_array_equal(layer.grads["weight_hh_l0"], once)
    layer.backward(np.ones_like(y), accumulate=True)
    np.testing.assert_allclose(layer.grads["weight_hh_l0"], 2 * once)


def test_dropout_only_in_training_and_backward_uses_the_same_mask():
    layer = LSTM(3, 4, 3, dropout=0.5, dtype=F64, seed=0)
    x = np.random.default_rng(0).normal(size=(5, 2, 3))
    y_train, _ = layer(x)
    layer.eval()
    y_eval, _ = layer(x)
    y_eval2, _ = layer(x)
    assert not np.allclose(y_train, y_eval) and np.array_equal(y_eval, y_eval2)
    layer.train()
    report = lstm.gradcheck(layer)        # gradcheck runs in eval mode on a copy
    assert max(report.values()) < 1e-7
    assert layer.training


# ---------------------------------------------------------------------------------------------------------------
# Inputs by lookup: layer(table, ids=ids) is layer(table[ids]), and backward gives the table's gradient
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["reference", "numba"])
@pytest.mark.parametrize("cls", [LSTM, GRU, RNN])
@pytest.mark.parametrize("batch_first,bidirectional,with_lengths", [(False, False, False), (True, True, True),
                                                                    (False, True, False), (True, False, True)])
def test_lookup_equals_the_layer_on_the_looked_up_rows(cls, backend, batch_first, bidirectional, with_lengths):
    if backend == "numba":
        pytest.importorskip("numba")
    rng = np.random.default_rng(3)
    kw = dict(num_layers=2, batch_first=batch_first, bidirectional=bidirectional, dtype=F64, seed=4, backend=backend)
    a, b = cls(3, 5, **kw), cls(3, 5, **kw)
    table = rand(rng, 6, 3)
    ids = rng.integers(0, 5, size=(4, 7) if batch_first else (7, 4))               # row 5 never looked up
    lengths = [7, 2, 5, 1] if with_lengths else None
    y, state = a(table, ids=ids, lengths=lengths)
    y_ref, state_ref = b(table[ids], lengths=lengths)
    np.testing.assert_allclose(y, y_ref, rtol=0, atol=1e-13)
    both = (state, state_ref) if cls is LSTM else ((state,), (state_ref,))
    for s, r in zip(*both):
        np.testing.assert_allclose(s, r, rtol=0, atol=1e-13)
    dy = rand(rng, *y.shape)
    dtable, _ = a.backward(dy)
    dx, _ = b.backward(dy)
    expected = np.zeros_like(table)
    np.add.at(expected, ids, dx)
    assert dtable.shape == table.shape and not dtable[5].any()
    np.testing.assert_allclose(dtable, expected, rtol=0, atol=1e-12)
    for name in a.grads:
        np.testing.assert_allclose(a.grads[name], b.grads[name], rtol=0, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_lookup_table_gradient_matches_finite_differences(backend):
    """The table's gradient (and W_ih's, which the compiled kernel gets as δtabᵀ table) against central
    differences, with biases, a non-zero initial state, lengths and both directions."""
    if backend == "numba":
        pytest.importorskip("numba")
    from fd import max_rel_error, numeric_grad

    rng = np.random.default_rng(5)
    layer = LSTM(3, 4, 2, bidirectional=True, batch_first=True, dtype=F64, seed=6, backend=backend)
    table, ids, lengths = rand(rng, 5, 3), rng.integers(0, 5, size=(3, 6)), [6, 2, 4]
    state = (rand(rng, 4, 3, 4), rand(rng, 4, 3, 4))
    R_y = rand(rng, 3, 6, 8)

    def loss():
        return float(np.sum(layer(table, state, lengths, ids=ids)[0] * R_y))

    loss()
    dtable, _ = layer.backward(R_y)
    assert max_rel_error(dtable, numeric_grad(loss, table)) < 1e-7
    w = layer._params["weight_ih_l0"]
    analytic = layer.grads["weight_ih_l0"].copy()
    assert max_rel_error(analytic, numeric_grad(loss, w)) < 1e-7


def test_lookup_errors():
    layer = LSTM(3, 4, batch_first=True)
    table = np.zeros((5, 3), np.float32)
    with pytest.raises(ValueError, match=r"table \(V, 3\) of input vectors, got shape \(5, 4\)"):
        layer(np.zeros((5, 4), np.float32), ids=[[0, 1]])
    with pytest.raises(ValueError, match=r"2-D integer array \(B, T\), got float64"):
        layer(table, ids=np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"index the table's 5 rows, got 5; map them into \[0, 4\]"):
        layer(table, ids=[[0, 5]])
    with pytest.raises(ValueError, match="got -1"):
        layer(table, ids=[[-1, 2]])
    with pytest.raises(ValueError, match="at least one step"):
        layer(table, ids=np.zeros((2, 0), np.int64))


# ---------------------------------------------------------------------------------------------------------------
# Errors say what was expected and what was given
# ---------------------------------------------------------------------------------------------------------------

def test_input_errors():
    layer = LSTM(3, 4, 2)
    x = np.zeros((5, 2, 3), np.float32)
    with pytest.raises(ValueError, match=r"3-D .*or 2-D \(T, input_size\) for one sequence, got 4-D"):
        layer(np.zeros((5, 2, 1, 3), np.float32))
    assert layer(np.zeros((5, 3), np.float32))[0].shape == (5, 4)       # one sequence, unbatched (as torch)
    with pytest.raises(ValueError, match="3 features"):
        layer(np.zeros((5, 2, 4), np.float32))
    with pytest.raises(TypeError, match="float32 or float64, got dtype float16"):
        layer(x.astype(np.float16))
    with pytest.raises(TypeError, match="got dtype int64"):
        layer(np.zeros((5, 2, 3), np.int64))
    with pytest.raises(ValueError, match=r"state h must have shape \(2, 2, 4\)"):
        layer(x, (np.zeros((1, 2, 4)), np.zeros((2, 2, 4))))
    with pytest.raises(ValueError, match="pair"):
        layer(x, np.zeros((2, 2, 4)))
    with pytest.raises(RuntimeError, match="forward call first"):
        LSTM(3, 4).backward(np.zeros((5, 2, 4)))
    y, _ = layer(x)
    with pytest.raises(ValueError, match="dy must have shape"):
        layer.backward(np.zeros((5, 2, 3)))


@pytest.mark.parametrize("lengths, exc, msg", [
    ([0, 3], ValueError, "between 1 and T=5"),
    ([6, 3], ValueError, "between 1 and T=5"),
    ([3, 3, 3], ValueError, r"one entry per sequence, shape \(2,\)"),
    ([2.0, 3.0], TypeError, "integers"),
    ([2.5, 3.0], TypeError, "integer array"),
])
def test_bad_lengths(lengths, exc, msg):
    with pytest.raises(exc, match=msg):
        GRU(3, 4)(np.zeros((5, 2, 3), np.float32), lengths=lengths)


def test_load_state_dict_errors():
    layer = LSTM(3, 4)
    sd = layer.state_dict()
    with pytest.raises(ValueError, match="missing .*bias_hh_l0"):
        layer.load_state_dict({k: v for k, v in sd.items() if k != "bias_hh_l0"})
    with pytest.raises(ValueError, match="unexpected .*weight_hr_l0"):
        layer.load_state_dict({**sd, "weight_hr_l0": np.zeros((2, 4))})
    with pytest.raises(ValueError, match=r"shape mismatch for 'weight_ih_l0': this module has \(16, 3\)"):
        layer.load_state_dict({**sd, "weight_ih_l0": np.zeros((16, 4))})
    layer.load_state_dict({k: v * 0 + 1 for k, v in sd.items()})
    assert np.all(layer.state_dict()["weight_hh_l0"] == 1)


@pytest.mark.parametrize("kwargs, msg", [
    (dict(hidden_size=0), "hidden_size must be a positive integer"),
    (dict(proj_size=4), r"proj_size must be an integer in \[0, hidden_size=4\)"),
    (dict(dropout=1.0), r"dropout must be a probability in \[0, 1\)"),
    (dict(dtype=np.float16), "dtype must be float32 or float64"),
    (dict(backend="cuda"), "backend must be one of"),
])
def test_constructor_errors(kwargs, msg):
    args = dict(input_size=3, hidden_size=4)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=msg):
        LSTM(**args)


# ---------------------------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------------------------

def test_cli_gradcheck_runs(capsys):
    from lstm.cli import main

    assert main(["gradcheck", "--hidden", "3", "--steps", "4"]) == 0
    out = capsys.readouterr().out
    assert "all gradients agree" in out and "GRUCell" in out


def test_cli_bad_input_exits_2_without_traceback(capsys):
    from lstm.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["gradcheck", "--hidden", "-1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "positive integer" in err and "Traceback" not in err


def test_cli_every_help_page_reads_clean_and_shows_an_example():
    """Every command's --help, nested ones included: no argparse escapes left over (a literal '%%' shows as
    '%%' in a description), and an example to copy."""
    import argparse

    from lstm.cli import build_parser

    def pages(parser, path):
        yield path, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    yield from pages(child, path + [name])

    seen = 0
    for path, parser in pages(build_parser(), ["lstm"]):
        text = parser.format_help()
        assert "%%" not in text and "%(" not in text, (path, text)
        if len(path) > 1 and not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
            assert "example" in text.lower(), path
            seen += 1
    assert seen >= 15


def test_variational_dropout_uses_one_mask_for_every_step():
    layer = LSTM(3, 4, 3, dropout=0.5, variational_dropout=True, dtype=F64, seed=0)
    x = np.random.default_rng(0).normal(size=(6, 2, 3))
    layer(x)
    masks = [m for m in layer._run.drop_masks if m is not None]
    assert len(masks) == 2 and all(m.shape == (1, 2, 4) for m in masks)
    assert set(np.unique(masks[0])) <= {0.0, 2.0}
    per_step = LSTM(3, 4, 3, dropout=0.5, dtype=F64, seed=0)
    per_step(x)
    assert per_step._run.drop_masks[0].shape == (6, 2, 4)


def test_weight_dropout_is_dropconnect_on_the_recurrent_weights():
    """A training forward with weight_dropout equals an eval forward whose weight_hh is masked by hand,
    and its weight_hh gradient is that layer's gradient times the mask."""
    layer = LSTM(3, 5, weight_dropout=0.4, dtype=F64, seed=1)
    x = np.random.default_rng(0).normal(size=(6, 2, 3))
    y, _ = layer(x)
    mask = layer._run.hh_masks[0][0]
    assert mask.shape == (20, 5) and 0 < np.mean(mask == 0) < 1
    dy = np.random.default_rng(1).normal(size=y.shape)
    dx, _ = layer.backward(dy)
    plain = LSTM(3, 5, dtype=F64, seed=1).eval()
    sd = layer.state_dict()
    sd["weight_hh_l0"] = sd["weight_hh_l0"] * mask
    plain.load_state_dict(sd)
    y2, _ = plain(x)
    dx2, _ = plain.backward(dy)
    np.testing.assert_allclose(y, y2, atol=1e-14)
    np.testing.assert_allclose(dx, dx2, atol=1e-14)
    np.testing.assert_allclose(layer.grads["weight_hh_l0"], plain.grads["weight_hh_l0"] * mask, atol=1e-14)
    layer.eval()
    y3, _ = layer(x)
    assert layer._run.hh_masks[0][0] is None and not np.allclose(y3, y)


def test_subpackages_are_reached_from_import_lstm_and_load_on_first_use():
    """The README names lstm.train.Trainer, lstm.models.LanguageModel, lstm.io.from_torch after ``import lstm``."""
    import subprocess
    import sys

    code = ("import sys, lstm; before = 'lstm.models' in sys.modules; "
            "print(before, lstm.train.Trainer.__name__, lstm.models.LanguageModel.__name__, "
            "lstm.io.from_torch.__name__, 'viz' in dir(lstm))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "Trainer", "LanguageModel", "from_torch", "True"]
    with pytest.raises(AttributeError, match="module 'lstm' has no attribute 'nothing'"):
        lstm.nothing
