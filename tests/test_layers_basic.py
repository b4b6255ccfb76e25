"""Linear, Embedding, Dropout, Sequential: torch parity, finite differences, conventions, errors."""

from __future__ import annotations

import numpy as np
import pytest

from lstm.nn.dropout import Dropout
from lstm.nn.embedding import Embedding
from lstm.nn.linear import Linear
from lstm.nn.module import Module
from lstm.nn.sequential import Sequential

try:
    from fd import max_rel_error, numeric_grad
except ImportError:  # tests/ imported as a package
    from tests.fd import max_rel_error, numeric_grad

FD_TOL = 1e-7
TORCH_TOL = 1e-12


def _fd_check(layer, x, dy, *, check_input=True):
    """Analytic grads of f = sum(layer(x) * dy) vs central differences, on the input and every parameter."""
    layer(x)
    dx = layer.backward(dy)
    analytic = {k: v.copy() for k, v in layer.grads.items()}
    f = lambda: float(np.sum(layer(x) * dy))  # noqa: E731
    if check_input:
        num = numeric_grad(f, x)
        assert np.abs(num).max() > 1e-3  # the check is not vacuous
        assert max_rel_error(dx, num) < FD_TOL
    for name, p in layer.parameters().items():
        num = numeric_grad(f, p)
        assert np.abs(num).max() > 1e-3, name
        assert max_rel_error(analytic[name], num) < FD_TOL, name


# ---------------------------------------------------------------------------------------------------------------
# fd helper itself
# ---------------------------------------------------------------------------------------------------------------
def test_numeric_grad_matches_known_gradient_and_restores_array():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4))
    before = a.copy()
    num = numeric_grad(lambda: float(np.sum(np.sin(a)) + np.sum(a**3)), a)
    np.testing.assert_allclose(num, np.cos(before) + 3 * before**2, rtol=1e-8, atol=1e-9)
    assert np.array_equal(a, before)  # restored bit-for-bit
    view = np.ones((4, 6))[:, ::2]  # non-contiguous view: perturbation must reach f
    num = numeric_grad(lambda: float(np.sum(view**2)), view)
    np.testing.assert_allclose(num, 2 * view, rtol=1e-8)
    with pytest.raises(TypeError, match="float64"):
        numeric_grad(lambda: 0.0, np.zeros(3, np.float32))


# ---------------------------------------------------------------------------------------------------------------
# Linear
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5,), (7, 5), (2, 3, 5)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("products", ["numpy", "kernel threads"])
def test_linear_matches_torch(shape, bias, products, monkeypatch):
    """Small products are NumPy's; large ones run on the compiled backend's threads (forced here for every
    product, split over two threads wherever there are rows enough)."""
    torch = pytest.importorskip("torch")
    if products == "kernel threads":
        pytest.importorskip("numba")
        from lstm.kernels import compiled
        from lstm.nn import linear
        monkeypatch.setattr(linear, "BACKEND_MACS", 0)
        monkeypatch.setattr(compiled, "PARALLEL_MACS", 0)
        monkeypatch.setattr(compiled, "THREADS", 2)
        calls, matmul = [], compiled.matmul
        monkeypatch.setattr(compiled, "matmul", lambda *a: calls.append(1) or matmul(*a))
    rng = np.random.default_rng(1)
    lin = Linear(5, 4, bias=bias, dtype=np.float64, seed=3)
    ref = torch.nn.Linear(5, 4, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.copy_(torch.from_numpy(lin.parameters()[name]))
    assert sorted(ref.state_dict()) == sorted(lin.state_dict())
    x = rng.standard_normal(shape)
    dy = rng.standard_normal(shape[:-1] + (4,))
    y = lin(x)
    dx = lin.backward(dy)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = ref(xt)
    yt.backward(torch.from_numpy(dy))
    assert y.shape == tuple(yt.shape) and dx.shape == x.shape
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=TORCH_TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=TORCH_TOL)
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(lin.grads[name], p.grad.numpy(), rtol=0, atol=TORCH_TOL)
    if products == "kernel threads":
        assert len(calls) == 3                                  # y, δW and δx


def test_linear_finite_differences():
    rng = np.random.default_rng(2)
    lin = Linear(4, 3, dtype=np.float64, seed=0)
    _fd_check(lin, rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 3)))


def test_linear_init_law_and_seed():
    lin = Linear(64, 300, seed=0)
    w, b = lin.parameters()["weight"], lin.parameters()["bias"]
    bound = 1 / 8.0
    assert w.shape == (300, 64) and b.shape == (300,)
    assert w.dtype == np.float32 and b.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # U(-k, k) has std k/sqrt(3); 19200 draws pin it to ~1%.
    assert abs(w.std() / (bound / np.sqrt(3)) - 1) < 0.03
    assert abs(w.mean()) < 0.01 * bound * 3
    assert np.array_equal(w, Linear(64, 300, seed=0).parameters()["weight"])
    assert not np.array_equal(w, Linear(64, 300, seed=1).parameters()["weight"])
    g = np.random.default_rng(5)
    assert np.array_equal(Linear(3, 2, seed=g).weight, Linear(3, 2, seed=np.random.default_rng(5)).weight)


def test_linear_backward_overwrites_or_accumulates_in_place():
    rng = np.random.default_rng(3)
    lin = Linear(3, 2, dtype=np.float64, seed=0)
    gw = lin.grads["weight"]
    x, dy = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    lin(x)
    lin.backward(dy)
    once = {k: v.copy() for k, v in lin.grads.items()}
    lin.backward(dy)  # overwrite: unchanged
    for k in once:
        np.testing.assert_array_equal(lin.grads[k], once[k])
    lin.backward(dy, accumulate=True)
    for k in once:
        np.testing.assert_allclose(lin.grads[k], 2 * once[k], rtol=1e-15)
    assert lin.grads["weight"] is gw  # the same array, written in place


def test_linear_dtype_handling():
    rng = np.random.default_rng(4)
    lin32 = Linear(3, 2, seed=0)
    y = lin32(rng.standard_normal((5, 3)))  # float64 input cast to the layer's float32
    assert y.dtype == np.float32
    assert lin32.backward(np.ones((5, 2))).dtype == np.float32
    lin64 = Linear(3, 2, dtype=np.float64, seed=0)
    assert lin64(rng.standard_normal((5, 3)).astype(np.float32)).dtype == np.float64
    with pytest.raises(TypeError, match="float32 or float64"):
        lin32(np.ones((2, 3), dtype=np.int64))
    with pytest.raises(TypeError, match="float16"):
        lin32(np.ones((2, 3), dtype=np.float16))
    with pytest.raises(TypeError, match="dtype"):
        Linear(3, 2, dtype=np.int32)


def test_linear_shape_errors():
    lin = Linear(3, 2, seed=0)
    with pytest.raises(ValueError, match=r"expects input of shape \(\.\.\., 3\), got \(4, 5\)"):
        lin(np.zeros((4, 5), np.float32))
    lin(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"dy must have the shape of the forward output \(4, 2\)"):
        lin.backward(np.zeros((4, 3), np.float32))
    with pytest.raises(RuntimeError, match="before forward"):
        Linear(3, 2).backward(np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="in_features"):
        Linear(0, 2)


# ---------------------------------------------------------------------------------------------------------------
# Embedding
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_torch(padding_idx):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    emb = Embedding(7, 4, padding_idx=padding_idx, dtype=np.float64, seed=0)
    ref = torch.nn.Embedding(7, 4, padding_idx=padding_idx, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(emb.weight))
    ids = np.array([[0, 2, 6, 2], [6, 6, 1, 2], [3, 0, 0, 5]])  # repeats and the padding ids
    dy = rng.standard_normal(ids.shape + (4,))
    y = emb(ids)
    assert emb.backward(dy) is None
    yt = ref(torch.from_numpy(ids))
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=TORCH_TOL)
    np.testing.assert_allclose(emb.grads["weight"], ref.weight.grad.numpy(), rtol=0, atol=TORCH_TOL)
    if padding_idx is not None:
        row = padding_idx % 7
        assert np.all(emb.weight[row] == 0)  # zeroed at init
        assert np.all(emb.grads["weight"][row] == 0)  # and gets no gradient
        assert np.abs(emb.grads["weight"]).sum() > 0


def test_embedding_accumulates_repeated_ids_and_overwrites_between_calls():
    emb = Embedding(5, 3, dtype=np.float64, seed=0)
    ids = np.array([1, 1, 1, 4])
    dy = np.arange(12, dtype=np.float64).reshape(4, 3)
    emb(ids)
    emb.backward(dy)
    expected = np.zeros((5, 3))
    expected[1] = dy[:3].sum(0)
    expected[4] = dy[3]
    np.testing.assert_array_equal(emb.grads["weight"], expected)
    emb(np.array([0]))
    emb.backward(np.ones((1, 3)))  # overwrite: row 1 and 4 must be cleared
    assert np.array_equal(emb.grads["weight"][0], np.ones(3)) and np.all(emb.grads["weight"][1:] == 0)
    emb.backward(np.ones((1, 3)), accumulate=True)
    assert np.array_equal(emb.grads["weight"][0], 2 * np.ones(3))


def test_embedding_gradient_of_many_repeated_ids_equals_add_at():
    """At a language model's scale (thousands of positions over a small vocabulary) the per-id sums equal
    np.add.at's, overwriting and accumulating, with a padding row left out."""
    rng = np.random.default_rng(9)
    emb = Embedding(50, 8, padding_idx=3, dtype=np.float64, seed=0)
    ids = rng.integers(0, 50, size=(16, 200))
    dy = rng.standard_normal(ids.shape + (8,))
    want = np.zeros((50, 8))
    keep = ids.reshape(-1) != 3
    np.add.at(want, ids.reshape(-1)[keep], dy.reshape(-1, 8)[keep])
    emb(ids)
    emb.backward(dy)
    np.testing.assert_allclose(emb.grads["weight"], want, rtol=1e-12, atol=1e-12)
    emb.backward(dy, accumulate=True)
    np.testing.assert_allclose(emb.grads["weight"], 2 * want, rtol=1e-12, atol=1e-12)
    assert np.all(emb.grads["weight"][3] == 0)


def test_embedding_finite_differences():
    rng = np.random.default_rng(6)
    emb = Embedding(6, 3, padding_idx=0, dtype=np.float64, seed=1)
    ids = rng.integers(0, 6, size=(3, 5))
    ids[0, 0] = 0
    ids[1, 1] = ids[2, 2] = 4
    dy = rng.standard_normal((3, 5, 3))
    _fd_check(Embedding(6, 3, dtype=np.float64, seed=1), ids, dy, check_input=False)
    # With padding_idx the padding row is read by forward but, by design (as in torch), gets no gradient:
    # the finite differences hold on every other row, and the padding row's gradient is exactly zero.
    emb(ids)
    emb.backward(dy)
    num = numeric_grad(lambda: float(np.sum(emb(ids) * dy)), emb.weight)
    assert max_rel_error(emb.grads["weight"][1:], num[1:]) < FD_TOL
    assert np.all(emb.grads["weight"][0] == 0) and np.abs(num[0]).max() > 0


def test_embedding_init_and_shapes():
    emb = Embedding(200, 50, seed=0)
    w = emb.weight
    assert w.dtype == np.float32 and w.shape == (200, 50)
    assert abs(w.mean()) < 0.03 and abs(w.std() - 1) < 0.03  # N(0, 1), 10000 draws
    assert emb(np.zeros((2, 3, 4), dtype=np.int32)).shape == (2, 3, 4, 50)
    assert emb(np.int64(3)).shape == (50,)
    assert np.array_equal(w, Embedding(200, 50, seed=0).weight)


def test_embedding_errors():
    emb = Embedding(10, 4, seed=0)
    with pytest.raises(ValueError, match=r"id 10, outside the valid range \[0, 9\]"):
        emb(np.array([1, 10, 3]))
    with pytest.raises(ValueError, match=r"id -1, outside the valid range \[0, 9\]"):
        emb(np.array([[-1, 2]]))
    with pytest.raises(TypeError, match="integer array of ids"):
        emb(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="integer array of ids"):
        emb(np.array([True, False]))
    with pytest.raises(ValueError, match="padding_idx"):
        Embedding(10, 4, padding_idx=10)
    emb(np.array([1, 2]))
    with pytest.raises(ValueError, match=r"dy must have the shape of the forward output \(2, 4\)"):
        emb.backward(np.ones((2, 5), np.float32))


@pytest.mark.parametrize("positions,folded", [((2, 3), False), ((4, 5), True)], ids=["embedded", "folded"])
@pytest.mark.parametrize("padding_idx", [None, 0])
def test_embedding_feed_is_the_layer_on_the_embedded_ids(positions, folded, padding_idx):
    """feed = rnn(emb(ids)) and feed_backward = emb.backward(rnn's δx), whether or not the lookup is folded into
    the layer (4·V ≤ positions); the padding row gets no gradient either way, even where the padding id is read."""
    from lstm.nn import LSTM

    rng = np.random.default_rng(1)
    emb = Embedding(5, 3, padding_idx=padding_idx, dtype=np.float64, seed=2)
    ref = Embedding(5, 3, padding_idx=padding_idx, dtype=np.float64, seed=2)
    rnn_a = LSTM(3, 4, batch_first=True, dtype=np.float64, seed=3)
    rnn_b = LSTM(3, 4, batch_first=True, dtype=np.float64, seed=3)
    ids = rng.integers(0, 5, size=positions)
    ids[0, 0] = 0                                                    # the padding id at a real position
    with pytest.raises(RuntimeError, match="before feed"):
        emb.feed_backward(np.zeros((5, 3)))
    y, (h, c) = emb.feed(rnn_a, ids)
    assert emb._folded == folded
    y_ref, (h_ref, c_ref) = rnn_b(ref(ids))
    np.testing.assert_allclose(y, y_ref, rtol=0, atol=1e-13)
    np.testing.assert_allclose(c, c_ref, rtol=0, atol=1e-13)
    dy = rng.normal(size=y.shape)
    emb.feed_backward(rnn_a.backward(dy)[0])
    ref.backward(rnn_b.backward(dy)[0])
    np.testing.assert_allclose(emb.grads["weight"], ref.grads["weight"], rtol=0, atol=1e-12)
    assert emb.grads["weight"].any()
    if padding_idx is not None:
        assert not emb.grads["weight"][padding_idx].any()


# ---------------------------------------------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------------------------------------------
def test_dropout_eval_is_identity():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 5))
    drop = Dropout(0.5, seed=0).eval()
    np.testing.assert_array_equal(drop(x), x)
    dy = rng.standard_normal((4, 5))
    np.testing.assert_array_equal(drop.backward(dy), dy)
    drop0 = Dropout(0.0, seed=0)  # p = 0 in training mode is identity too
    np.testing.assert_array_equal(drop0(x), x)


def test_dropout_train_mask_statistics_and_scale():
    p = 0.3
    x = np.random.default_rng(8).uniform(0.5, 1.5, size=(200, 500))  # no zeros, so y == 0 <=> dropped
    drop = Dropout(p, seed=0)
    y = drop(x)
    dropped = y == 0
    assert abs(dropped.mean() - p) < 0.01  # 100000 Bernoulli draws: std 0.0014
    np.testing.assert_allclose(y[~dropped], x[~dropped] / (1 - p), rtol=1e-15)
    np.testing.assert_array_equal(drop.mask == 0, dropped)
    dy = np.random.default_rng(9).standard_normal(x.shape)
    np.testing.assert_array_equal(drop.backward(dy), dy * drop.mask)
    assert np.all(drop.backward(dy)[dropped] == 0)
    y2 = drop(x)  # a fresh mask each forward
    assert not np.array_equal(y2 == 0, dropped)


def test_dropout_seed_determinism_and_dtype():
    x = np.ones((50, 40), dtype=np.float32)
    a, b, c = Dropout(0.5, seed=42), Dropout(0.5, seed=42), Dropout(0.5, seed=43)
    ya1, ya2 = a(x), a(x)
    yb1, yb2 = b(x), b(x)
    assert np.array_equal(ya1, yb1) and np.array_equal(ya2, yb2)  # same seed -> same sequence of masks
    assert not np.array_equal(ya1, c(x))
    assert ya1.dtype == np.float32
    assert Dropout(0.5, seed=0)(x.astype(np.float64)).dtype == np.float64
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\]"):
        Dropout(1.5)
    with pytest.raises(TypeError, match="float32 or float64"):
        a(np.ones(3, dtype=np.int64))
    assert np.all(Dropout(1.0, seed=0)(x) == 0)


def test_dropout_finite_differences_with_fixed_mask():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((6, 7))
    dy = rng.standard_normal((6, 7))
    drop = Dropout(0.4, seed=11)
    drop(x)
    dx = drop.backward(dy)
    # A fresh layer with the same seed redraws the same mask, so f is a fixed linear function of x.
    num = numeric_grad(lambda: float(np.sum(Dropout(0.4, seed=11)(x) * dy)), x)
    assert max_rel_error(dx, num) < FD_TOL
    assert np.any(dx == 0) and np.any(dx != 0)


# ---------------------------------------------------------------------------------------------------------------
# Sequential
# ---------------------------------------------------------------------------------------------------------------
def test_sequential_names_match_torch_state_dict():
    torch = pytest.importorskip("torch")
    ours = Sequential(Linear(4, 8, seed=0), Dropout(0.1), Linear(8, 3, bias=False, seed=1))
    ref = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.1), torch.nn.Linear(8, 3, bias=False))
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert list(ours.grads) == list(ours.parameters())
    for k, v in ref.state_dict().items():
        assert ours.state_dict()[k].shape == tuple(v.shape)
    assert len(ours) == 3 and isinstance(ours[0], Linear) and ours[-1] is ours[2]
    assert list(ours[1:]) == [ours[1], ours[2]]


def test_sequential_matches_torch_forward_backward():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    ref = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.Linear(6, 2)).double()
    ours = Sequential(Linear(5, 6, dtype=np.float64), Linear(6, 2, dtype=np.float64))
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    x, dy = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 4, 2))
    y = ours(x)
    dx = ours.backward(dy)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = ref(xt)
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=TORCH_TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=TORCH_TOL)
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(ours.grads[name], p.grad.numpy(), rtol=0, atol=TORCH_TOL)


def test_sequential_finite_differences_and_accumulate():
    rng = np.random.default_rng(13)
    seq = Sequential(Linear(3, 4, dtype=np.float64, seed=0), Linear(4, 2, dtype=np.float64, seed=1))
    x, dy = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    _fd_check(seq, x, dy)
    seq(x)
    seq.backward(dy)
    once = {k: v.copy() for k, v in seq.grads.items()}
    seq.backward(dy, accumulate=True)
    for k in once:
        np.testing.assert_allclose(seq.grads[k], 2 * once[k], rtol=1e-14)


def test_sequential_with_embedding_first_and_train_eval_propagation():
    rng = np.random.default_rng(14)
    seq = Sequential(Embedding(9, 4, dtype=np.float64, seed=0), Dropout(0.5, seed=0),
                     Linear(4, 3, dtype=np.float64, seed=1))
    ids = rng.integers(0, 9, size=(2, 5))
    seq.eval()
    assert not seq[1].training
    y = seq(ids)
    np.testing.assert_allclose(y, seq[0].weight[ids] @ seq[2].weight.T + seq[2].bias, rtol=1e-14)
    assert seq.backward(np.ones((2, 5, 3))) is None
    expected = np.zeros((9, 4))
    np.add.at(expected, ids.ravel(), np.tile(seq[2].weight.sum(0), (10, 1)))
    np.testing.assert_allclose(seq.grads["0.weight"], expected, rtol=1e-14)
    bad = Sequential(Linear(2, 9, seed=0), Embedding(9, 4, seed=0))
    bad[1](np.array([1, 2]))
    with pytest.raises(RuntimeError, match="returned no input gradient"):
        bad.backward(np.ones((2, 4), np.float32))


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="not a Module"):
        Sequential(Linear(2, 2), lambda x: x)
    assert isinstance(Sequential(), Module)


def test_the_package_exposes_optim_and_save_names_what_it_writes(tmp_path):
    import lstm
    from lstm.nn import RNN

    assert lstm.optim.Adam is not None and "optim" in lstm.__all__
    with pytest.raises(TypeError, match=r"lstm.save writes fitted models .* got a RNN; .*state_dict"):
        lstm.save(RNN(2, 3), tmp_path / "r.safetensors")
    assert not (tmp_path / "r.safetensors").exists()
    assert repr(RNN(2, 3, nonlinearity="relu", num_layers=2)) == "RNN(2, 3, num_layers=2, nonlinearity=relu)"
    assert repr(RNN(2, 3)) == "RNN(2, 3)"


def test_parameters_are_attributes_and_assignment_writes_in_place():
    from lstm.nn import LSTM, Stepper

    layer = LSTM(3, 4, num_layers=2, seed=0)
    assert layer.weight_hh_l1 is layer.parameters()["weight_hh_l1"]
    assert "bias_ih_l0" in dir(layer)
    stepper, x = Stepper(layer), np.ones(3, np.float32)
    before = stepper.step(x).copy()
    stepper.reset()
    held = layer.weight_ih_l0
    layer.weight_ih_l0 = np.zeros((16, 3))                   # float64 zeros into the float32 array
    assert layer.weight_ih_l0 is held and not held.any() and held.dtype == np.float32
    assert not np.allclose(stepper.step(x), before)          # the stepper saw the write
    with pytest.raises(ValueError, match=r"has shape \(16, 4\), got \(4, 4\)"):
        layer.weight_hh_l0 = np.zeros((4, 4))
    with pytest.raises(AttributeError, match="no attribute 'weight_hh_l2'"):
        layer.weight_hh_l2
    lin = Linear(3, 2, seed=0)
    lin.weight = np.ones((2, 3))
    assert (lin.parameters()["weight"] == 1).all() and lin.weight is lin.parameters()["weight"]
