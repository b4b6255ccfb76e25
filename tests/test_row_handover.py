"""Rows handed over between the kernel threads in the middle of a time loop (lstm.kernels._steal): the thread that
finishes its chunks first takes half of the rows another is still running, from the step it has reached.  The
results must not change: forward and backward against the NumPy reference, with handovers that really happened."""

import numpy as np
import pytest

from lstm.kernels import compiled, reference as ref
from lstm.kernels import _steal
from lstm.kernels._steal import ACTIVE, GIVES, R0, R1, REQ, T0, new_steal

pytestmark = pytest.mark.skipif(compiled.THREADS < 2, reason="handovers need two kernel threads")


def test_a_range_is_given_from_whole_tiles_and_counted():
    steal = new_steal(2)
    assert _steal.give_rows(steal, 0, 16, 9, 4) == 16                   # nobody asking: kept
    steal[REQ] = _steal.ASKING                                         # as take_rows asks
    assert _steal.give_rows(steal, 0, 4, 7, 4) == 4                     # too few rows to share: kept
    assert _steal.give_rows(steal, 8, 22, 7, 4) == 16                   # 14 rows: 8 kept (whole tiles), 6 given
    assert (steal[REQ], steal[R0], steal[R1], steal[T0], steal[ACTIVE], steal[GIVES]) == (
        _steal.GIVEN, 16, 22, 7, 3, 1)
    assert _steal.give_rows(steal, 0, 16, 8, 4) == 16                   # given already: nobody is asking


def test_a_thief_stops_asking_once_every_range_is_done():
    steal = new_steal(1)
    _steal.done_rows(steal)
    assert _steal.take_rows(steal) == (-1, -1, -1) and steal[REQ] == _steal.IDLE


@pytest.fixture
def recorded(monkeypatch):
    """Every steal array of the kernel calls, kept for the test to read; loops cut into two chunks, which for
    B = 12 are 8 and 4 rows: the thread with 4 is done halfway and takes rows over."""
    made = []

    def record(chunks):
        made.append(new_steal(chunks))
        return made[-1]

    monkeypatch.setattr(compiled, "new_steal", record)
    monkeypatch.setattr(compiled, "_chunks", lambda B, macs, weight_bytes=0: 2)
    return made


@pytest.mark.parametrize("lookup", [False, True])
def test_forward_and_backward_with_rows_handed_over_match_the_reference(recorded, lookup):
    rng = np.random.default_rng(5)
    T, B, I, H, V = 160, 12, 24, 64, 11
    p = ref.LSTMParams(W_ih=rng.standard_normal((4 * H, I)) * 0.2, W_hh=rng.standard_normal((4 * H, H)) * 0.2,
                       b_ih=rng.standard_normal(4 * H) * 0.3, b_hh=rng.standard_normal(4 * H) * 0.3)
    h0, c0 = rng.standard_normal((B, H)) * 0.5, rng.standard_normal((B, H)) * 0.5
    ids = rng.integers(0, V, (T, B)) if lookup else None
    x = rng.standard_normal((V, I)) if lookup else rng.standard_normal((T, B, I))
    dy, dhT, dcT = rng.standard_normal((T, B, H)), rng.standard_normal((B, H)), rng.standard_normal((B, H))
    y_ref, hT_ref, cT_ref, cache_ref = ref.lstm_forward(x, h0, c0, p, ids=ids)
    dx_ref, dh0_ref, dc0_ref, g_ref = ref.lstm_backward(p, cache_ref, dy, dhT, dcT)
    gives, first = 0, None
    for call in range(40):                                 # the helper may sleep through calls: until it took rows
        recorded.clear()
        y, hT, cT, cache = compiled.lstm_forward(x, h0, c0, p, ids=ids)
        dx, dh0, dc0, g = compiled.lstm_backward(p, cache, dy, dhT, dcT)
        for got, want in ((y, y_ref), (hT, hT_ref), (cT, cT_ref), (dx, dx_ref), (dh0, dh0_ref), (dc0, dc0_ref)):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-11)
        for name in ("W_ih", "W_hh", "b_ih", "b_hh"):
            np.testing.assert_allclose(g[name], g_ref[name], rtol=1e-10, atol=1e-11, err_msg=name)
        assert len(recorded) == 2 and all(s[ACTIVE] == 0 and s[REQ] == _steal.IDLE for s in recorded)
        gives += sum(int(s[GIVES]) for s in recorded)
        # deterministic: the same bits whichever thread ran which rows, and from whichever step
        got = [y, dx, dh0, dc0] + [g[name] for name in ("W_ih", "W_hh", "b_ih", "b_hh")]
        first = first or [a.copy() for a in got]
        assert [k for k, (a, b) in enumerate(zip(got, first)) if not np.array_equal(a, b)] == []
        if gives >= 3 and call >= 3:
            break
    assert gives >= 3, "rows were hardly handed over: the test did not exercise what it is for"


@pytest.mark.parametrize("kind", ["gru", "rnn-tanh", "rnn-relu"])
def test_gru_and_rnn_with_rows_handed_over_match_the_reference(recorded, kind):
    """The same for the GRU and RNN loops, whose gradients have no sums inside the loop: every bit is a row's own."""
    rng = np.random.default_rng(6)
    T, B, I, H = 160, 12, 24, 64
    G = 3 * H if kind == "gru" else H
    weights = dict(W_ih=rng.standard_normal((G, I)) * 0.2, W_hh=rng.standard_normal((G, H)) * 0.1,
                   b_ih=rng.standard_normal(G) * 0.3, b_hh=rng.standard_normal(G) * 0.3)   # relu: no blow-up
    if kind == "gru":
        p, forward, backward = ref.GRUParams(**weights), "gru_forward", "gru_backward"
    else:
        p, forward, backward = ref.RNNParams(**weights, nonlinearity=kind[4:]), "rnn_forward", "rnn_backward"
    x, h0 = rng.standard_normal((T, B, I)), rng.standard_normal((B, H)) * 0.5
    dy, dhT = rng.standard_normal((T, B, H)), rng.standard_normal((B, H))
    y_ref, hT_ref, cache_ref = getattr(ref, forward)(x, h0, p)
    dx_ref, dh0_ref, g_ref = getattr(ref, backward)(p, cache_ref, dy, dhT)
    gives, first = 0, None
    for call in range(40):                                 # the helper may sleep through calls: until it took rows
        recorded.clear()
        y, hT, cache = getattr(compiled, forward)(x, h0, p)
        dx, dh0, g = getattr(compiled, backward)(p, cache, dy, dhT)
        for got, want in ((y, y_ref), (hT, hT_ref), (dx, dx_ref), (dh0, dh0_ref)):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-11)
        for name in ("W_ih", "W_hh", "b_ih", "b_hh"):
            np.testing.assert_allclose(g[name], g_ref[name], rtol=1e-10, atol=1e-11, err_msg=name)
        assert len(recorded) == 2 and all(s[ACTIVE] == 0 and s[REQ] == _steal.IDLE for s in recorded)
        gives += sum(int(s[GIVES]) for s in recorded)
        got = [y, dx, dh0] + [g[name] for name in ("W_ih", "W_hh", "b_ih", "b_hh")]
        first = first or [a.copy() for a in got]
        assert [k for k, (a, b) in enumerate(zip(got, first)) if not np.array_equal(a, b)] == []
        if gives >= 3 and call >= 3:
            break
    assert gives >= 3, "rows were hardly handed over: the test did not exercise what it is for"
