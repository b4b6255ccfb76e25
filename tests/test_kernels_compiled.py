"""The compiled (Numba) kernels equal the NumPy reference kernels: every kernel, option, mask and dtype.

float64 must agree to 1e-12 (the compiled math is within a few ulp of NumPy's); float32 to 1e-5 of each array's
scale.  Sizes are small so compilation dominates (cached on disk after the first run).
"""

import numpy as np
import pytest

pytest.importorskip("numba")

from lstm.kernels import get_backend, reference as R  # noqa: E402
from lstm.nn import GRU, LSTM, RNN  # noqa: E402

C = get_backend("numba")
DTYPES = [np.float64, np.float32]
T, B, I, H, P = 7, 3, 5, 6, 4
LENGTHS = np.array([7, 3, 1])


def tol(dt):
    return 1e-12 if dt == np.float64 else 1e-5


def close(ours, ref, dt, what):
    assert ours is not None and ref is not None, what
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape, (what, ours.shape, ref.shape)
    assert ours.dtype == ref.dtype, (what, ours.dtype, ref.dtype)
    scale = max(1.0, float(np.abs(ref).max(initial=0.0)))
    np.testing.assert_allclose(ours, ref, rtol=tol(dt), atol=tol(dt) * scale, err_msg=what)


def same_grads(ours, ref, dt):
    assert set(ours) == set(ref)
    for k in ref:
        assert (ours[k] is None) == (ref[k] is None), k
        if ref[k] is not None:
            close(ours[k], ref[k], dt, f"grad {k}")


def rnd(rng, dt, *shape):
    return rng.normal(size=shape).astype(dt)


def make_mask(dt, masked):
    return (np.arange(T)[:, None] < LENGTHS[None, :]).astype(dt)[:, :, None] if masked else None


# ---------------------------------------------------------------------------------------------------------------
# LSTM
# ---------------------------------------------------------------------------------------------------------------
LSTM_OPTIONS = {
    "plain": {},
    "no-bias": {"bias": False},
    "bias-ih-only": {"bias": "ih"},
    "bias-hh-only": {"bias": "hh"},
    "proj": {"proj": True},
    "peephole": {"peephole": True},
    "coupled": {"coupled": True},
    "all": {"proj": True, "peephole": True, "coupled": True},
}


def lstm_params(rng, dt, bias=True, proj=False, peephole=False, coupled=False, hidden=H):
    Pw = P if proj else hidden
    return R.LSTMParams(
        W_ih=rnd(rng, dt, 4 * hidden, I) * 0.5, W_hh=rnd(rng, dt, 4 * hidden, Pw) * 0.5,
        b_ih=rnd(rng, dt, 4 * hidden) if bias in (True, "ih") else None,
        b_hh=rnd(rng, dt, 4 * hidden) if bias in (True, "hh") else None,
        W_hr=rnd(rng, dt, P, hidden) * 0.5 if proj else None,
        peephole=rnd(rng, dt, 3 * hidden) if peephole else None, coupled=coupled)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("masked", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("option", LSTM_OPTIONS)
def test_lstm_forward_and_backward_match_reference(option, masked, dt):
    rng = np.random.default_rng(hash(option) % 2**32)
    p = lstm_params(rng, dt, **LSTM_OPTIONS[option])
    Pw = p.W_hh.shape[1]
    x, h0, c0 = rnd(rng, dt, T, B, I), rnd(rng, dt, B, Pw), rnd(rng, dt, B, H)
    mask = make_mask(dt, masked)
    ref = R.lstm_forward(x, h0, c0, p, mask)
    ours = C.lstm_forward(x, h0, c0, p, mask)
    for name, a, b in zip(("y", "h_T", "c_T"), ours[:3], ref[:3]):
        close(a, b, dt, name)
    for field in ("i", "f", "g", "o", "c", "h"):                  # what traces read
        close(getattr(ours[3], field), getattr(ref[3], field), dt, f"cache.{field}")
    inference = C.lstm_forward(x, h0, c0, p, mask, keep_cache=False)    # ring buffers, same arithmetic
    assert inference[3] is None
    for name, a, b in zip(("y", "h_T", "c_T"), inference[:3], ours[:3]):
        np.testing.assert_array_equal(a, b, err_msg=f"{name} without a cache")
    dy, dhT, dcT = rnd(rng, dt, T, B, Pw), rnd(rng, dt, B, Pw), rnd(rng, dt, B, H)
    gref = R.lstm_backward(p, ref[3], dy, dhT, dcT)
    gours = C.lstm_backward(p, ours[3], dy, dhT, dcT)
    for name, a, b in zip(("dx", "dh0", "dc0"), gours[:3], gref[:3]):
        close(a, b, dt, name)
    same_grads(gours[3], gref[3], dt)
    for backend, full in ((C, gours), (R, gref)):                       # without δx: the rest is unchanged
        part = backend.lstm_backward(p, ours[3] if backend is C else ref[3], dy, dhT, dcT, input_grad=False)
        assert part[0] is None
        for name, a, b in zip(("dh0", "dc0"), part[1:3], full[1:3]):
            np.testing.assert_array_equal(a, b, err_msg=f"{name} without δx")
        for k, v in full[3].items():
            assert (v is None) == (part[3][k] is None), k
            if v is not None:
                np.testing.assert_array_equal(part[3][k], v, err_msg=f"grad {k} without δx")
    # the compiled backward also accepts a reference cache, and upstream state gradients may be omitted
    g2 = C.lstm_backward(p, ref[3], dy)
    g2ref = R.lstm_backward(p, ref[3], dy)
    close(g2[0], g2ref[0], dt, "dx from reference cache")
    same_grads(g2[3], g2ref[3], dt)


# ---------------------------------------------------------------------------------------------------------------
# GRU and RNN
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("masked", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_gru_forward_and_backward_match_reference(bias, masked, dt):
    rng = np.random.default_rng(1 + bias + 2 * masked)
    p = R.GRUParams(W_ih=rnd(rng, dt, 3 * H, I) * 0.5, W_hh=rnd(rng, dt, 3 * H, H) * 0.5,
                    b_ih=rnd(rng, dt, 3 * H) if bias else None, b_hh=rnd(rng, dt, 3 * H) if bias else None)
    x, h0 = rnd(rng, dt, T, B, I), rnd(rng, dt, B, H)
    mask = make_mask(dt, masked)
    ref = R.gru_forward(x, h0, p, mask)
    ours = C.gru_forward(x, h0, p, mask)
    close(ours[0], ref[0], dt, "y")
    close(ours[1], ref[1], dt, "h_T")
    for field in ("r", "z", "n", "hn", "h"):
        close(getattr(ours[2], field), getattr(ref[2], field), dt, f"cache.{field}")
    dy, dhT = rnd(rng, dt, T, B, H), rnd(rng, dt, B, H)
    gref = R.gru_backward(p, ref[2], dy, dhT)
    gours = C.gru_backward(p, ours[2], dy, dhT)
    close(gours[0], gref[0], dt, "dx")
    close(gours[1], gref[1], dt, "dh0")
    same_grads(gours[2], gref[2], dt)
    same_grads(C.gru_backward(p, ref[2], dy)[2], R.gru_backward(p, ref[2], dy)[2], dt)
    part = C.gru_backward(p, ours[2], dy, dhT, input_grad=False)
    assert part[0] is None and R.gru_backward(p, ref[2], dy, dhT, input_grad=False)[0] is None
    close(part[1], gref[1], dt, "dh0 without δx")
    same_grads(part[2], gref[2], dt)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("masked", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("nonlinearity,bias", [("tanh", True), ("relu", True), ("tanh", False)])
def test_rnn_forward_and_backward_match_reference(nonlinearity, bias, masked, dt):
    rng = np.random.default_rng(7 + bias + 2 * masked)
    p = R.RNNParams(W_ih=rnd(rng, dt, H, I) * 0.5, W_hh=rnd(rng, dt, H, H) * 0.5,
                    b_ih=rnd(rng, dt, H) if bias else None, b_hh=rnd(rng, dt, H) if bias else None,
                    nonlinearity=nonlinearity)
    x, h0 = rnd(rng, dt, T, B, I), rnd(rng, dt, B, H)
    mask = make_mask(dt, masked)
    ref = R.rnn_forward(x, h0, p, mask)
    ours = C.rnn_forward(x, h0, p, mask)
    close(ours[0], ref[0], dt, "y")
    close(ours[1], ref[1], dt, "h_T")
    close(ours[2].h, ref[2].h, dt, "cache.h")
    if nonlinearity == "relu":
        assert (ours[2].h > 0).any() and (ours[2].h == 0).any()    # both branches of relu' exercised
    dy, dhT = rnd(rng, dt, T, B, H), rnd(rng, dt, B, H)
    gref = R.rnn_backward(p, ref[2], dy, dhT)
    gours = C.rnn_backward(p, ours[2], dy, dhT)
    close(gours[0], gref[0], dt, "dx")
    close(gours[1], gref[1], dt, "dh0")
    same_grads(gours[2], gref[2], dt)
    part = C.rnn_backward(p, ours[2], dy, dhT, input_grad=False)
    assert part[0] is None and R.rnn_backward(p, ref[2], dy, dhT, input_grad=False)[0] is None
    close(part[1], gref[1], dt, "dh0 without δx")
    same_grads(part[2], gref[2], dt)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("kind", ["gru", "rnn-tanh", "rnn-relu"])
@pytest.mark.parametrize("batch,hidden", [(9, 6), (13, 40), (20, 33)])
def test_gru_rnn_threaded_paths_match_reference(batch, hidden, kind, dt, monkeypatch):
    """GRU and RNN batches cut into row chunks shared by two threads (9 and 13 rows leave a partial chunk), hidden
    sizes that are not whole micro-kernel panels, with and without lengths: the reference results."""
    monkeypatch.setattr(C, "PARALLEL_LOOP_MACS", 0)
    monkeypatch.setattr(C, "THREADS", 2)
    assert C._chunks(batch, 1) > 1
    rng = np.random.default_rng(batch + hidden)
    G = 3 * hidden if kind == "gru" else hidden
    args = dict(W_ih=rnd(rng, dt, G, I) * 0.5, W_hh=rnd(rng, dt, G, hidden) * 0.5, b_ih=rnd(rng, dt, G),
                b_hh=rnd(rng, dt, G))
    if kind == "gru":
        p, fwd, bwd = R.GRUParams(**args), "gru_forward", "gru_backward"
    else:
        p, fwd, bwd = R.RNNParams(**args, nonlinearity=kind[4:]), "rnn_forward", "rnn_backward"
    x, h0 = rnd(rng, dt, T, batch, I), rnd(rng, dt, batch, hidden)
    lengths = rng.integers(1, T + 1, size=batch)
    mask = (np.arange(T)[:, None] < lengths[None, :]).astype(dt)[:, :, None]
    for m in (None, mask):
        ref, ours = getattr(R, fwd)(x, h0, p, m), getattr(C, fwd)(x, h0, p, m)
        close(ours[0], ref[0], dt, "y")
        close(ours[1], ref[1], dt, "h_T")
        dy, dhT = rnd(rng, dt, T, batch, hidden), rnd(rng, dt, batch, hidden)
        gref, gours = getattr(R, bwd)(p, ref[2], dy, dhT), getattr(C, bwd)(p, ours[2], dy, dhT)
        close(gours[0], gref[0], dt, "dx")
        close(gours[1], gref[1], dt, "dh0")
        assert gours[1].shape == (batch, hidden)
        same_grads(gours[2], gref[2], dt)


# ---------------------------------------------------------------------------------------------------------------
# The vectorised transcendental functions, over their whole range
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dt", DTYPES)
def test_vectorised_exp_sigmoid_tanh_error_bounds(dt):
    from numba import njit
    from lstm.kernels._shared import FASTMATH
    from lstm.kernels._vmath import exp, sigmoid, tanh

    @njit(fastmath=FASTMATH, error_model="numpy")
    def apply(x, out):
        for k in range(x.shape[0]):
            out[0, k] = exp(x[k])
            out[1, k] = sigmoid(x[k])
            out[2, k] = tanh(x[k])

    x = np.concatenate([np.linspace(-60, 60, 200_001), np.linspace(-1, 1, 100_001),
                        np.geomspace(1e-12, 1, 2001), -np.geomspace(1e-12, 1, 2001), [0.0]]).astype(dt)
    out = np.empty((3, x.size), dt)
    apply(x, out)
    xl = x.astype(np.float64)
    truth = (np.exp(xl), 1.0 / (1.0 + np.exp(-xl)), np.tanh(xl))
    bound = 1e-15 if dt == np.float64 else 1e-6
    for name, got, want in zip(("exp", "sigmoid", "tanh"), out, truth):
        normal = np.abs(want) > (1e-30 if dt == np.float32 else 1e-300)
        rel = np.abs(got - want)[normal] / np.abs(want)[normal]
        assert rel.max() < bound, (name, rel.max())
    nan = np.full(1, np.nan, dt)
    o = np.empty((3, 1), dt)
    apply(nan, o)
    assert np.isnan(o).all()                                           # NaN propagates (no NaN assumptions)


# ---------------------------------------------------------------------------------------------------------------
# Layers: backend="numba" and backend="reference" give the same outputs, traces and gradients
# ---------------------------------------------------------------------------------------------------------------
LAYERS = {
    "lstm-2l-bi-proj": lambda be, dt: LSTM(I, H, 2, bidirectional=True, proj_size=P, dtype=dt, seed=3, backend=be),
    "lstm-peephole-coupled": lambda be, dt: LSTM(I, H, peephole=True, coupled=True, batch_first=True, dtype=dt,
                                                 seed=4, backend=be),
    "gru-2l-bi": lambda be, dt: GRU(I, H, 2, bidirectional=True, dtype=dt, seed=5, backend=be),
    "rnn-relu": lambda be, dt: RNN(I, H, nonlinearity="relu", dtype=dt, seed=6, backend=be),
}


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("name", LAYERS)
def test_layers_with_numba_backend_match_reference(name, dt):
    ref_layer, our_layer = LAYERS[name]("reference", dt), LAYERS[name]("numba", dt)
    rng = np.random.default_rng(11)
    batch_first = ref_layer.batch_first
    x = rnd(rng, dt, *((B, T, I) if batch_first else (T, B, I)))
    outs = [layer(x, lengths=LENGTHS, return_trace=True) for layer in (ref_layer, our_layer)]
    close(outs[1][0], outs[0][0], dt, "y")
    for a, b in zip(np.atleast_1d(outs[1][1]) if not isinstance(outs[1][1], tuple) else outs[1][1],
                    np.atleast_1d(outs[0][1]) if not isinstance(outs[0][1], tuple) else outs[0][1]):
        close(a, b, dt, "final state")
    assert outs[1][2].keys() == outs[0][2].keys()
    for k in outs[0][2]:
        close(outs[1][2][k], outs[0][2][k], dt, f"trace {k}")
    dy = rnd(rng, dt, *outs[0][0].shape)
    dxs = [layer.backward(dy)[0] for layer in (ref_layer, our_layer)]
    close(dxs[1], dxs[0], dt, "dx")
    for k, g in ref_layer.grads.items():
        close(our_layer.grads[k], g, dt, f"grad {k}")


def test_backend_names():
    assert get_backend("numba") is C
    assert get_backend("auto") is C
    assert get_backend("reference") is R
    with pytest.raises(ValueError):
        get_backend("cuda")


# ---------------------------------------------------------------------------------------------------------------
# The multi-threaded paths: batch split over threads, weight gradients split over output rows
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("option", ["plain", "all"])
@pytest.mark.parametrize("batch,rows,streamed", [(9, 4, False), (13, 4, False), (20, 8, False), (20, 10, True),
                                                 (13, 7, True)])
def test_lstm_threaded_paths_match_reference(batch, rows, streamed, option, dt, monkeypatch):
    """Batches split into row chunks shared by the threads (4 rows below 16, else 8; 9, 13 and 20 rows leave a
    partial chunk; one chunk per thread when the weights are "streamed"), and the weight packs and weight-gradient
    products split over threads, give the reference results."""
    monkeypatch.setattr(C, "PARALLEL_LOOP_MACS", 0)
    monkeypatch.setattr(C, "PARALLEL_MACS", 0)
    monkeypatch.setattr(C, "PARALLEL_PACK", 0)                # weight packs split over the threads too
    monkeypatch.setattr(C, "THREADS", 2)
    assert C._chunks(64, 1) == 8 and C._chunks(64, 1, C.STREAMED_WEIGHT_BYTES + 1) == 2   # one chunk per thread
    if streamed:
        monkeypatch.setattr(C, "STREAMED_WEIGHT_BYTES", -1)
    assert C._chunks(batch, 1) == -(-batch // rows)
    rng = np.random.default_rng(batch)
    p = lstm_params(rng, dt, **LSTM_OPTIONS[option])
    Pw = p.W_hh.shape[1]
    x, h0, c0 = rnd(rng, dt, T, batch, I), rnd(rng, dt, batch, Pw), rnd(rng, dt, batch, H)
    lengths = rng.integers(1, T + 1, size=batch)
    mask = (np.arange(T)[:, None] < lengths[None, :]).astype(dt)[:, :, None]
    for m in (None, mask):
        ref, ours = R.lstm_forward(x, h0, c0, p, m), C.lstm_forward(x, h0, c0, p, m)
        for name, a, b in zip(("y", "h_T", "c_T"), ours[:3], ref[:3]):
            close(a, b, dt, name)
        for name, a, b in zip(("y", "h_T", "c_T"), C.lstm_forward(x, h0, c0, p, m, keep_cache=False)[:3], ours[:3]):
            np.testing.assert_array_equal(a, b, err_msg=f"{name} without a cache")
        dy, dhT, dcT = rnd(rng, dt, T, batch, Pw), rnd(rng, dt, batch, Pw), rnd(rng, dt, batch, H)
        gref, gours = R.lstm_backward(p, ref[3], dy, dhT, dcT), C.lstm_backward(p, ours[3], dy, dhT, dcT)
        for name, a, b in zip(("dx", "dh0", "dc0"), gours[:3], gref[:3]):
            close(a, b, dt, name)
        same_grads(gours[3], gref[3], dt)
        part = C.lstm_backward(p, ours[3], dy, dhT, dcT, input_grad=False)
        assert part[0] is None
        close(part[1], gref[1], dt, "dh0 without δx")
        same_grads(part[3], gref[3], dt)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("option", ["plain", "bias-hh-only", "all"])
@pytest.mark.parametrize("batch,hidden,threads", [(B, H, 1), (20, H, 2), (9, 32, 2)])
def test_lstm_inputs_by_lookup_match_reference(batch, hidden, threads, option, dt, monkeypatch):
    """x a table (V, I) read through ids (T, B): the compiled kernel projects the table's rows once, gathers them
    at each step and sums δa per row, the reference looks the rows up.  Repeated ids and rows never looked up
    (zero gradient), masks, row chunks on one and two threads, the whole-block gate loop (H = 32), inference
    without a cache, δtable skipped, and the compiled backward on a reference cache."""
    monkeypatch.setattr(C, "PARALLEL_LOOP_MACS", 0)
    monkeypatch.setattr(C, "PARALLEL_MACS", 0)
    monkeypatch.setattr(C, "PARALLEL_PACK", 0)                 # δa summed per table row in blocks on the pool
    monkeypatch.setattr(C, "THREADS", threads)
    rng = np.random.default_rng(batch + hidden)
    p = lstm_params(rng, dt, hidden=hidden, **LSTM_OPTIONS[option])
    Pw = p.W_hh.shape[1]
    V = 9
    table, ids = rnd(rng, dt, V, I), rng.integers(0, V - 2, size=(T, batch))     # rows V-2, V-1 unused
    h0, c0 = rnd(rng, dt, batch, Pw), rnd(rng, dt, batch, hidden)
    lengths = rng.integers(1, T + 1, size=batch)
    for m in (None, (np.arange(T)[:, None] < lengths[None, :]).astype(dt)[:, :, None]):
        ref, ours = R.lstm_forward(table, h0, c0, p, m, ids=ids), C.lstm_forward(table, h0, c0, p, m, ids=ids)
        for name, a, b in zip(("y", "h_T", "c_T"), ours[:3], ref[:3]):
            close(a, b, dt, name)
        for field in ("i", "f", "g", "o", "c", "h"):
            close(getattr(ours[3], field), getattr(ref[3], field), dt, f"cache.{field}")
        inference = C.lstm_forward(table, h0, c0, p, m, keep_cache=False, ids=ids)
        for name, a, b in zip(("y", "h_T", "c_T"), inference[:3], ours[:3]):
            np.testing.assert_array_equal(a, b, err_msg=f"{name} without a cache")
        dy, dhT, dcT = rnd(rng, dt, T, batch, Pw), rnd(rng, dt, batch, Pw), rnd(rng, dt, batch, hidden)
        gref, gours = R.lstm_backward(p, ref[3], dy, dhT, dcT), C.lstm_backward(p, ours[3], dy, dhT, dcT)
        assert gours[0].shape == table.shape
        for name, a, b in zip(("dtable", "dh0", "dc0"), gours[:3], gref[:3]):
            close(a, b, dt, name)
        assert not gours[0][V - 2:].any() and gours[0][:V - 2].any()
        same_grads(gours[3], gref[3], dt)
        part = C.lstm_backward(p, ours[3], dy, dhT, dcT, input_grad=False)
        assert part[0] is None
        same_grads(part[3], gref[3], dt)
        cross = C.lstm_backward(p, ref[3], dy, dhT, dcT)
        close(cross[0], gref[0], dt, "dtable from a reference cache")
        same_grads(cross[3], gref[3], dt)


@pytest.mark.parametrize("threads", [1, 2])
def test_sum_by_id_is_the_scattered_sum_in_a_fixed_order(threads, monkeypatch):
    """The sum of rows by id behind δtable (``compiled._sum_by_id``): blocks of rows on the pool, each into its
    own table, the tables added in block order — np.add.at's sum, and the same bits at every call however the
    threads took the blocks."""
    monkeypatch.setattr(C, "THREADS", threads)
    monkeypatch.setattr(C, "PARALLEL_PACK", 0)
    rng = np.random.default_rng(3)
    src = rng.standard_normal((203, 40)).astype(np.float32)     # 203 rows: blocks of 52, 52, 52, 47
    ids = rng.integers(0, 7, 203)                               # id 7 of 8 never used
    want = np.zeros((8, 40))
    np.add.at(want, ids, src.astype(np.float64))
    first = C._sum_by_id(src, ids, 8).copy()
    np.testing.assert_allclose(first, want, rtol=1e-5, atol=1e-5)
    assert not first[7].any() and first[:7].all()
    for _ in range(5):
        np.testing.assert_array_equal(C._sum_by_id(src, ids, 8), first)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("option", ["plain", "all"])
@pytest.mark.parametrize("lookup", [False, True], ids=["x", "ids"])
@pytest.mark.parametrize("threads", [1, 2])
def test_lstm_batch_major_output_and_gradient_are_the_time_major_ones(threads, lookup, option, dt, monkeypatch):
    """``batch_major``: y comes back (B, T, P) and dy is read (B, T, P) — exactly the time-major arrays transposed,
    in both backends, masked or not, with and without a cache, by lookup, on one and two threads."""
    monkeypatch.setattr(C, "PARALLEL_LOOP_MACS", 0)
    monkeypatch.setattr(C, "PARALLEL_MACS", 0)
    monkeypatch.setattr(C, "THREADS", threads)
    rng = np.random.default_rng(threads + 2 * lookup)
    batch = 9
    p = lstm_params(rng, dt, **LSTM_OPTIONS[option])
    Pw = p.W_hh.shape[1]
    x, ids = (rnd(rng, dt, 6, I), rng.integers(0, 6, size=(T, batch))) if lookup else (rnd(rng, dt, T, batch, I), None)
    h0, c0 = rnd(rng, dt, batch, Pw), rnd(rng, dt, batch, H)
    mask = (np.arange(T)[:, None] < rng.integers(1, T + 1, size=batch)[None, :]).astype(dt)[:, :, None]
    dy = rnd(rng, dt, T, batch, Pw)
    for backend in (C, R):
        for m in (None, mask):
            tm = backend.lstm_forward(x, h0, c0, p, m, ids=ids)
            bm = backend.lstm_forward(x, h0, c0, p, m, ids=ids, batch_major=True)
            assert bm[0].shape == (batch, T, Pw) and bm[0].flags.c_contiguous
            np.testing.assert_array_equal(bm[0], tm[0].transpose(1, 0, 2))
            for a, b in zip(bm[1:3], tm[1:3]):
                np.testing.assert_array_equal(a, b)
            ring = backend.lstm_forward(x, h0, c0, p, m, keep_cache=False, ids=ids, batch_major=True)
            np.testing.assert_array_equal(ring[0], bm[0])
            gtm = backend.lstm_backward(p, tm[3], dy, h0, c0)
            gbm = backend.lstm_backward(p, bm[3], dy.transpose(1, 0, 2).copy(), h0, c0, batch_major=True)
            for a, b in zip(gbm[:3], gtm[:3]):
                np.testing.assert_array_equal(a, b)
            for k, v in gtm[3].items():
                np.testing.assert_array_equal(gbm[3][k], v, err_msg=k)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("option", ["plain", "coupled", "no-bias", "peephole"])
@pytest.mark.parametrize("threads", [1, 2])
def test_lstm_whole_block_gate_loops_match_reference(option, threads, dt, monkeypatch):
    """With H a whole number of micro-kernel panels (32 here, for both dtypes) the gates of all of a chunk's rows
    are contiguous, and the forward and (without peepholes or projection) backward gate math runs over them in one
    loop; the sizes above (H = 6) take the per-row loops.  Partial chunks, masks, both thread counts."""
    monkeypatch.setattr(C, "PARALLEL_LOOP_MACS", 0)
    monkeypatch.setattr(C, "THREADS", threads)
    rng = np.random.default_rng(16)
    Hw, batch = 32, 9
    assert Hw % C.panel_width(dt) == 0
    p = lstm_params(rng, dt, hidden=Hw, **LSTM_OPTIONS[option])
    x, h0, c0 = rnd(rng, dt, T, batch, I), rnd(rng, dt, batch, Hw), rnd(rng, dt, batch, Hw)
    lengths = rng.integers(1, T + 1, size=batch)
    for m in (None, (np.arange(T)[:, None] < lengths[None, :]).astype(dt)[:, :, None]):
        ref, ours = R.lstm_forward(x, h0, c0, p, m), C.lstm_forward(x, h0, c0, p, m)
        for name, a, b in zip(("y", "h_T", "c_T"), ours[:3], ref[:3]):
            close(a, b, dt, name)
        dy, dhT, dcT = rnd(rng, dt, T, batch, Hw), rnd(rng, dt, batch, Hw), rnd(rng, dt, batch, Hw)
        gref, gours = R.lstm_backward(p, ref[3], dy, dhT, dcT), C.lstm_backward(p, ours[3], dy, dhT, dcT)
        for name, a, b in zip(("dx", "dh0", "dc0"), gours[:3], gref[:3]):
            close(a, b, dt, name)
        same_grads(gours[3], gref[3], dt)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("lookup", [False, True], ids=["x", "ids"])
@pytest.mark.parametrize("threads", [1, 2])
def test_lstm_hidden_state_written_in_place_matches_reference(threads, lookup, dt, monkeypatch):
    """With the whole-block gate loop (H = 32) and no mask, h_t goes from the gate math straight into the next
    step's [x | h] row (input by lookup) or into a time-major y; the other destinations copy it from there.  Both
    layouts of y, with and without a cache, against the reference; masked runs take the general path alongside."""
    monkeypatch.setattr(C, "PARALLEL_LOOP_MACS", 0)
    monkeypatch.setattr(C, "PARALLEL_MACS", 0)
    monkeypatch.setattr(C, "THREADS", threads)
    rng = np.random.default_rng(20 + threads + 2 * lookup)
    Hw, batch = 32, 9
    p = lstm_params(rng, dt, hidden=Hw)
    x, ids = (rnd(rng, dt, 6, I), rng.integers(0, 6, size=(T, batch))) if lookup else (rnd(rng, dt, T, batch, I), None)
    h0, c0 = rnd(rng, dt, batch, Hw), rnd(rng, dt, batch, Hw)
    dy = rnd(rng, dt, T, batch, Hw)
    mask = (np.arange(T)[:, None] < rng.integers(1, T + 1, size=batch)[None, :]).astype(dt)[:, :, None]
    for m in (None, mask):
        ref = R.lstm_forward(x, h0, c0, p, m, ids=ids)
        for batch_major in (False, True):
            ours = C.lstm_forward(x, h0, c0, p, m, ids=ids, batch_major=batch_major)
            y = ours[0].transpose(1, 0, 2) if batch_major else ours[0]
            for name, a, b in zip(("y", "h_T", "c_T"), (y, *ours[1:3]), ref[:3]):
                close(a, b, dt, name)
            close(ours[3].h, ref[3].h, dt, "cache.h")
            ring = C.lstm_forward(x, h0, c0, p, m, keep_cache=False, ids=ids, batch_major=batch_major)
            np.testing.assert_array_equal(ring[0], ours[0])
            g = C.lstm_backward(p, ours[3], dy.transpose(1, 0, 2).copy() if batch_major else dy,
                                batch_major=batch_major)
            same_grads(g[3], R.lstm_backward(p, ref[3], dy)[3], dt)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("option", ["plain", "proj"])
@pytest.mark.parametrize("lookup", [False, True], ids=["x", "ids"])
@pytest.mark.parametrize("threads", [1, 2])
def test_lstm_backward_writes_the_weight_gradients_into_out(threads, lookup, option, dt, monkeypatch):
    """``out`` {W_ih, W_hh}: the compiled backward writes those gradients into the given arrays and returns them,
    exactly the values it returns without ``out``; arrays it cannot write into (another dtype, not contiguous, one
    missing) are left alone.  The reference takes ``out`` and returns fresh arrays."""
    monkeypatch.setattr(C, "PARALLEL_LOOP_MACS", 0)
    monkeypatch.setattr(C, "PARALLEL_MACS", 0)
    monkeypatch.setattr(C, "THREADS", threads)
    rng = np.random.default_rng(30 + threads + 2 * lookup)
    p = lstm_params(rng, dt, **LSTM_OPTIONS[option])
    Pw = p.W_hh.shape[1]
    x, ids = (rnd(rng, dt, 6, I), rng.integers(0, 6, size=(T, B))) if lookup else (rnd(rng, dt, T, B, I), None)
    y, _, _, cache = C.lstm_forward(x, rnd(rng, dt, B, Pw), rnd(rng, dt, B, H), p, ids=ids)
    dy = rnd(rng, dt, T, B, Pw)
    plain = C.lstm_backward(p, cache, dy)
    out = {"W_ih": np.full_like(p.W_ih, np.nan), "W_hh": np.full_like(p.W_hh, np.nan)}
    got = C.lstm_backward(p, cache, dy, out=out)
    for k in ("W_ih", "W_hh"):
        assert got[3][k] is out[k], k
        np.testing.assert_array_equal(out[k], plain[3][k], err_msg=k)
    for k, v in plain[3].items():
        if v is not None:
            np.testing.assert_array_equal(got[3][k], v, err_msg=k)
    np.testing.assert_array_equal(got[0], plain[0])
    other = np.float32 if dt == np.float64 else np.float64
    for bad in ({"W_ih": out["W_ih"].astype(other), "W_hh": out["W_hh"]},
                {"W_ih": np.asfortranarray(out["W_ih"]), "W_hh": out["W_hh"]}, {"W_hh": out["W_hh"]}):
        before = {k: v.copy() for k, v in bad.items()}
        g = C.lstm_backward(p, cache, dy, out=bad)
        for k, v in bad.items():
            assert g[3][k] is not v
            np.testing.assert_array_equal(v, before[k])
            np.testing.assert_array_equal(g[3][k], plain[3][k])
    ref = R.lstm_backward(p, R.lstm_forward(x, rnd(rng, dt, B, Pw), rnd(rng, dt, B, H), p, ids=ids)[3], dy, out=out)
    assert ref[3]["W_hh"] is not out["W_hh"]


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("lookup", [False, True], ids=["x", "ids"])
@pytest.mark.parametrize("threads", [1, 2])
def test_a_weight_gradient_handed_on_runs_beside_the_next_loop_to_the_same_bits(threads, lookup, dt, monkeypatch):
    """``out["defer"]``: the backward leaves its δ[W_ih | W_hh] product undone and returns it as
    ``grads["pending"]``; ``out["then"]`` runs it in the next backward's call, its row blocks claimed before that
    loop's chunks.  Both layers' gradients are then exactly those of the two backwards run one after the other."""
    monkeypatch.setattr(C, "PARALLEL_LOOP_MACS", 0)
    monkeypatch.setattr(C, "PARALLEL_MACS", 0)
    monkeypatch.setattr(C, "THREADS", threads)
    rng = np.random.default_rng(40 + threads + 2 * lookup)
    upper, lower = lstm_params(rng, dt), lstm_params(rng, dt)
    x, ids = (rnd(rng, dt, 6, I), rng.integers(0, 6, size=(T, B))) if lookup else (rnd(rng, dt, T, B, I), None)
    lower_cache = C.lstm_forward(x, rnd(rng, dt, B, H), rnd(rng, dt, B, H), lower, ids=ids)[3]
    upper_cache = C.lstm_forward(rnd(rng, dt, T, B, I), rnd(rng, dt, B, H), rnd(rng, dt, B, H), upper)[3]
    dy_up, dy_low = rnd(rng, dt, T, B, H), rnd(rng, dt, T, B, H)

    def arrays(p):
        return {"W_ih": np.full_like(p.W_ih, np.nan), "W_hh": np.full_like(p.W_hh, np.nan)}

    one_by_one = (C.lstm_backward(upper, upper_cache, dy_up), C.lstm_backward(lower, lower_cache, dy_low))
    up_out, low_out = arrays(upper), arrays(lower)
    up = C.lstm_backward(upper, upper_cache, dy_up, out={**up_out, "defer": True})
    pending = up[3].pop("pending")
    assert np.isnan(up_out["W_hh"]).all()                    # not run yet
    low = C.lstm_backward(lower, lower_cache, dy_low, out={**low_out, "then": pending})
    assert "pending" not in low[3]
    for got, want in zip((up, low), one_by_one):
        for k, v in want[3].items():
            if v is not None:
                np.testing.assert_array_equal(got[3][k], v, err_msg=k)
        for a, b in zip(got[:3], want[:3]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dt", DTYPES)
def test_a_stack_hands_each_weight_gradient_to_the_layer_below_and_gets_the_bits_of_separate_layers(dt, monkeypatch):
    """A 2-layer LSTM runs layer 1's weight-gradient product beside layer 0's backward loop: its gradients are
    exactly those of two 1-layer LSTMs chained by hand."""
    calls = []
    backward = C.lstm_backward

    def spy(*args):
        out = args[7] if len(args) > 7 else None                 # as the layer calls it: every argument in place
        calls.append(sorted(k for k, v in (out or {}).items() if v is not None and v is not False))
        return backward(*args)

    monkeypatch.setattr(C, "lstm_backward", spy)
    stack = LSTM(5, 32, num_layers=2, dtype=dt, seed=0, backend="numba")
    first, second = LSTM(5, 32, dtype=dt, seed=1, backend="numba"), LSTM(32, 32, dtype=dt, seed=2, backend="numba")
    state = stack.state_dict()
    first.load_state_dict({k: v for k, v in state.items() if k.endswith("_l0")})
    second.load_state_dict({k.replace("_l1", "_l0"): v for k, v in state.items() if k.endswith("_l1")})
    rng = np.random.default_rng(0)
    x, dy = rnd(rng, dt, 60, 16, 5), rnd(rng, dt, 60, 16, 32)
    y, _ = stack(x)
    dx, _ = stack.backward(dy)
    assert calls == [["W_hh", "W_ih", "defer"], ["W_hh", "W_ih", "then"]]
    h, _ = first(x)
    np.testing.assert_array_equal(second(h)[0], y)
    dh, _ = second.backward(dy)
    np.testing.assert_array_equal(first.backward(dh)[0], dx)
    for name, g in stack.grads.items():
        layer, own = (first, name) if name.endswith("_l0") else (second, name.replace("_l1", "_l0"))
        np.testing.assert_array_equal(g, layer.grads[own], err_msg=name)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (9, 5, 3), (3, 17, 10), (0, 4, 3), (4, 0, 3)])
@pytest.mark.parametrize("blas", ["numpy", "scipy"])
def test_matmul_matches_reference(blas, m, k, n, threads, dt, monkeypatch):
    """The dense product on the kernel threads (output rows split over the pool), through NumPy's bundled
    OpenBLAS and through SciPy's (the fallback): every transpose combination, odd sizes, empty operands."""
    from lstm.kernels._blas import numpy_blas

    if blas == "numpy" and numpy_blas() is None:
        pytest.skip("NumPy's BLAS is not its bundled OpenBLAS here")
    monkeypatch.setattr(C, "USE_NUMPY_BLAS", blas == "numpy")
    monkeypatch.setattr(C, "PARALLEL_MACS", 0)
    monkeypatch.setattr(C, "THREADS", threads)
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    for ta in (False, True):
        for tb in (False, True):
            A = rnd(rng, dt, *((k, m) if ta else (m, k)))
            Bm = rnd(rng, dt, *((n, k) if tb else (k, n)))
            ours, ref = C.matmul(A, Bm, ta, tb), R.matmul(A, Bm, ta, tb)
            assert ours.shape == (m, n) and ours.dtype == dt
            close(ours, ref, dt, f"matmul ta={ta} tb={tb}")


def test_matmul_leaves_numpys_blas_thread_count_as_it_found_it(monkeypatch):
    """The pool's threads call NumPy's OpenBLAS one thread each; its own thread count is restored afterwards."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from lstm.kernels._blas import numpy_blas

    if numpy_blas() is None:
        pytest.skip("NumPy's BLAS is not its bundled OpenBLAS here")
    monkeypatch.setattr(C, "PARALLEL_MACS", 0)
    A = np.ones((64, 32), np.float32)
    for n in (1, 2):
        with threadpool_limits(n, user_api="blas"):
            before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
            np.testing.assert_array_equal(C.matmul(A, A, tb=True), np.full((64, 64), 32, np.float32))
            assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("rows,K,N", [(1, 1, 1), (5, 7, 33), (9, 40, 64), (4, 0, 8)])
def test_packed_micro_kernel_matches_matmul(rows, K, N, dt):
    """The register-blocked micro-kernel: store, accumulate and bias modes, any row range, padded panels."""
    from lstm.kernels._microkernel import ACCUMULATE, BIAS, STORE, matmul_packed, pack_panels, panel_width
    rng = np.random.default_rng(rows + K + N)
    A, W = rnd(rng, dt, rows, K), rnd(rng, dt, N, K)
    nr = panel_width(dt)
    n_p = (N + nr - 1) // nr
    for transpose, Wop in ((True, W), (False, np.ascontiguousarray(W.T))):
        Bp = np.empty((n_p, K, nr), dt)
        pack_panels(Wop, transpose, N, N, Bp)
        want = (A.astype(np.float64) @ W.T.astype(np.float64)).astype(dt)
        S = np.full((rows, n_p * nr), 7.0, dt)
        matmul_packed(A, 0, rows, Bp, S, STORE)
        close(S[:, :N], want, dt, "store")
        assert (S[:, N:] == 0).all()                                   # zero-padded columns stay zero
        matmul_packed(A, 0, rows, Bp, S, ACCUMULATE)
        close(S[:, :N], 2 * want, dt, "accumulate")
        bias = rnd(rng, dt, n_p * nr)
        S2 = np.full_like(S, 7.0)
        matmul_packed(A, rows // 2, rows, Bp, S2, BIAS, bias)
        close(S2[rows // 2:, :N], want[rows // 2:] + bias[:N], dt, "bias")
        assert (S2[:rows // 2] == 7.0).all()                           # rows outside [r0, r1) untouched


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("H,Hp,K", [(5, None, 3), (32, None, 512), (40, None, 17), (7, 7, 9)])
def test_pack_panels_layout(H, Hp, K, dt):
    """Panel p, row k, lane c holds column p·NR + c of op(W) (gate blocks of H padded to Hp), zero in padding —
    exactly, for both source layouts, packed whole or a panel range at a time."""
    from lstm.kernels._microkernel import pack_panels, panel_width
    nr = panel_width(dt)
    gates = 4 if Hp is None else 1
    Hp = (H + nr - 1) // nr * nr if Hp is None else Hp
    n_p = (gates * Hp + nr - 1) // nr
    W = rnd(np.random.default_rng(K), dt, gates * H, K)                 # (N, K): op(W) = Wᵀ
    cols = np.zeros((K, n_p * nr), dt)                                   # op(W) with padded gate blocks
    for k in range(gates):
        cols[:, k * Hp:k * Hp + H] = W[k * H:(k + 1) * H].T
    want = cols.reshape(K, n_p, nr).transpose(1, 0, 2)
    for transpose, src in ((True, W), (False, np.ascontiguousarray(W.T))):
        Bp = np.full((n_p, K, nr), 7.0, dt)
        pack_panels(src, transpose, H, Hp, Bp)
        np.testing.assert_array_equal(Bp, want)
        Bp[:] = 7.0                                                      # in two panel ranges, as threads do
        pack_panels(src, transpose, H, Hp, Bp, 0, n_p // 2)
        assert (Bp[n_p // 2:] == 7.0).all()
        pack_panels(src, transpose, H, Hp, Bp, n_p // 2, n_p)
        np.testing.assert_array_equal(Bp, want)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("Hg", [5, 32])
def test_gate_major_packing_and_product(Hg, dt):
    """Gate blocks of H columns padded to Hp land in S3[k, r, :H]; the padding stays zero."""
    from lstm.kernels._microkernel import BIAS, matmul_packed_blocks, pack_panels, panel_width
    rng = np.random.default_rng(Hg)
    rows, K = 6, 9
    nr = panel_width(dt)
    Hp = (Hg + nr - 1) // nr * nr
    A, W = rnd(rng, dt, rows, K), rnd(rng, dt, 4 * Hg, K)
    Bp = np.empty((4 * Hp // nr, K, nr), dt)
    pack_panels(W, True, Hg, Hp, Bp)
    bias = np.zeros((4, Hp), dt)
    bias[:, :Hg] = rnd(rng, dt, 4, Hg)
    S3 = np.full((4, rows, Hp), 7.0, dt)
    matmul_packed_blocks(A, 0, rows, Bp, S3, BIAS, bias.reshape(-1))
    want = (A.astype(np.float64) @ W.T.astype(np.float64)).astype(dt)       # (rows, 4H)
    for k in range(4):
        close(S3[k, :, :Hg], want[:, k * Hg:(k + 1) * Hg] + bias[k, :Hg], dt, f"gate {k}")
        assert (S3[k, :, Hg:] == 0).all()


def test_float32_gate_functions_error_bound():
    """The exp-free float32 σ and tanh of the gate loop: ≤ 5e-7 absolute error over the whole range; float64
    uses the ~1-ulp functions tested above."""
    from numba import njit
    from lstm.kernels._gates import gate_sigmoid, gate_tanh

    @njit(error_model="numpy")
    def apply(x, out):
        for k in range(x.shape[0]):
            out[0, k] = gate_sigmoid(x[k])
            out[1, k] = gate_tanh(x[k])

    x = np.concatenate([np.linspace(-60, 60, 200_001), np.geomspace(1e-9, 1, 2001), -np.geomspace(1e-9, 1, 2001),
                        [0.0]]).astype(np.float32)
    out = np.empty((2, x.size), np.float32)
    apply(x, out)
    xl = x.astype(np.float64)
    assert np.abs(out[0] - 1.0 / (1.0 + np.exp(-xl))).max() < 5e-7
    assert np.abs(out[1] - np.tanh(xl)).max() < 5e-7
    assert out[1][x == 0][0] == 0 and (np.sign(out[1]) == np.sign(x)).all()   # odd, exact zero



@pytest.mark.parametrize("make", [lambda **k: LSTM(2, 3, **k), lambda **k: GRU(2, 3, **k),
                                  lambda **k: RNN(2, 3, **k), lambda **k: RNN(2, 3, nonlinearity="relu", **k)],
                         ids=["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_a_nan_input_propagates_in_every_backend(make, dt):
    """A diverged run must look diverged: relu(NaN) is NaN (np.maximum), not 0, on the compiled path too."""
    x = np.zeros((4, 2, 2), dt)
    x[1, 0, 0] = np.nan
    for backend in ("reference", "numba"):
        y, _ = make(seed=0, dtype=dt, backend=backend)(x)
        assert np.isfinite(y[0]).all() and np.isfinite(y[:, 1]).all(), backend      # the other sequence
        assert np.isnan(y[1:, 0]).all(), backend


@pytest.mark.parametrize("kind", ["lstm", "lstm_ids", "gru", "rnn"])
@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_changing_the_input_after_forward_does_not_change_the_gradients(kind, backend):
    """The backward reads the input the forward saw, as if it had been copied (torch refuses such an in-place
    change; NumPy arrays have no version counter to tell)."""
    cls = {"lstm": LSTM, "lstm_ids": LSTM, "gru": GRU, "rnn": RNN}[kind]
    layer = cls(3, 4, seed=0, backend=backend)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3) if kind == "lstm_ids" else (5, 2, 3)).astype(np.float32)
    kw = {"ids": rng.integers(0, 6, (5, 2))} if kind == "lstm_ids" else {}
    grads = []
    for change in (False, True):
        y, _ = layer(x, **kw)
        if change:
            x += 1.0
        layer.backward(np.ones_like(y))
        grads.append({k: v.copy() for k, v in layer.grads.items()})
    for k in grads[0]:
        assert np.array_equal(grads[0][k], grads[1][k]), k


def test_loss_kernels_refuse_a_class_id_beyond_the_row():
    """The rows are indexed by class id: one ≥ C would be written outside its row, so the wrappers refuse it."""
    z, W = np.random.default_rng(0).random((4, 6)), np.ones((6, 3))
    for call in (lambda t: C.softmax_cross_entropy(z, t, 1.0),
                 lambda t: C.linear_cross_entropy(z[:, :3], W, None, t, 1.0)):
        with pytest.raises(ValueError, match="class id 6 is out of range for 6 classes"):
            call(np.array([6, 1, -1, 3]))
        assert np.isfinite(call(np.array([5, 1, -1, 3]))[0])
