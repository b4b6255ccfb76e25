"""Losses: torch parity (value and gradient, float64, 1e-12), finite differences, edge cases, errors."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from lstm.nn.losses import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    PinballLoss,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    linear_cross_entropy,
    mse_loss,
    pinball_loss,
)

try:
    from fd import max_rel_error, numeric_grad
except ImportError:  # tests/ imported as a package
    from tests.fd import max_rel_error, numeric_grad

TOL = 1e-12
FD_TOL = 1e-7


def _torch_value_and_grad(torch, fn, x: np.ndarray, *args, **kwargs):
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    out = fn(xt, *args, **kwargs)
    out.backward()
    return out.item(), xt.grad.numpy()


def _assert_close(ours, theirs):
    loss, grad = ours
    ref_loss, ref_grad = theirs
    assert isinstance(loss, float)
    assert grad.shape == ref_grad.shape
    assert abs(loss - ref_loss) <= TOL * max(1.0, abs(ref_loss))
    np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=TOL)


def _fd(fn, x):
    """Analytic gradient of the scalar loss fn(x) vs central differences."""
    _, grad = fn(x)
    num = numeric_grad(lambda: fn(x)[0], x)
    assert np.abs(num).max() > 1e-4
    return max_rel_error(grad, num)


# ---------------------------------------------------------------------------------------------------------------
# cross_entropy
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(7,), (2, 4)])
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_matches_torch(shape, ignore, weighted, smoothing, reduction):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    C = 5
    rng = np.random.default_rng(zlib.crc32(repr((shape, ignore, weighted, smoothing, reduction)).encode()))
    logits = 3 * rng.standard_normal(shape + (C,))
    target = rng.integers(0, C, size=shape)
    if ignore:
        target.flat[[1, 3]] = -100
    weight = rng.uniform(0.2, 2.0, C) if weighted else None
    ours = cross_entropy(logits, target, weight=weight, label_smoothing=smoothing, reduction=reduction)
    ref = _torch_value_and_grad(
        torch,
        lambda x: F.cross_entropy(x.reshape(-1, C), torch.from_numpy(target.reshape(-1)),
                                  weight=None if weight is None else torch.from_numpy(weight),
                                  label_smoothing=smoothing, reduction=reduction),
        logits,
    )
    _assert_close(ours, ref)
    if ignore:
        assert np.all(ours[1].reshape(-1, C)[[1, 3]] == 0)


def _torch_unreduced(torch, fn, x: np.ndarray):
    """torch's reduction="none" losses, and the gradient of their sum."""
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    out = fn(xt)
    out.sum().backward()
    return out.detach().numpy(), xt.grad.numpy()


def _assert_unreduced_close(ours, theirs, shape):
    (loss, grad), (ref_loss, ref_grad) = ours, theirs
    assert isinstance(loss, np.ndarray) and loss.shape == shape and loss.dtype == grad.dtype
    np.testing.assert_allclose(loss.reshape(-1), ref_loss.reshape(-1), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=TOL)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_unreduced_cross_entropy_matches_torch_and_weights_per_position(weighted, smoothing):
    """reduction="none": one loss per position (0 where ignored or masked) and the gradient of their sum, whose
    row i is d loss_i / d logits — so per-position weights applied to it give the weighted sum's gradient."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    C = 5
    rng = np.random.default_rng(int(weighted) + 2 * int(smoothing > 0))
    logits, target = 3 * rng.standard_normal((3, 4, C)), rng.integers(0, C, size=(3, 4))
    target[0, 1] = -100
    weight = rng.uniform(0.2, 2.0, C) if weighted else None
    ours = cross_entropy(logits, target, weight=weight, label_smoothing=smoothing, reduction="none")
    ref = _torch_unreduced(torch, lambda x: F.cross_entropy(
        x.reshape(-1, C), torch.from_numpy(target.reshape(-1)), weight=None if weight is None else
        torch.from_numpy(weight), label_smoothing=smoothing, reduction="none"), logits)
    _assert_unreduced_close(ours, ref, target.shape)
    assert ours[0][0, 1] == 0 and not ours[1][0, 1].any()
    assert abs(ours[0].sum() - cross_entropy(logits, target, weight=weight, label_smoothing=smoothing,
                                             reduction="sum")[0]) < 1e-12
    per = rng.uniform(0, 1, target.shape)                             # a weight per position
    num = numeric_grad(lambda: float((cross_entropy(logits, target, weight=weight, label_smoothing=smoothing,
                                                    reduction="none")[0] * per).sum()), logits)
    assert max_rel_error(ours[1] * per[..., None], num) < FD_TOL
    masked = cross_entropy(logits, target, mask=np.arange(4) < 2 + np.zeros((3, 1)), reduction="none")[0]
    assert not masked[:, 2:].any() and masked[1:, :2].all()
    empty = cross_entropy(logits, np.full(target.shape, -100), reduction="none")
    assert empty[0].shape == target.shape and not empty[0].any() and not empty[1].any()
    f32 = cross_entropy(logits.astype(np.float32), target, reduction="none")
    assert f32[0].dtype == np.float32 and f32[1].dtype == np.float32


def test_cross_entropy_custom_ignore_index_and_mask_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 6, 4))
    target = rng.integers(0, 4, size=(3, 6))
    target[0, :2] = 2
    ours = cross_entropy(logits, target, ignore_index=2, label_smoothing=0.1)
    ref = _torch_value_and_grad(
        torch, lambda x: F.cross_entropy(x.reshape(-1, 4), torch.from_numpy(target.reshape(-1)), ignore_index=2,
                                         label_smoothing=0.1), logits)
    _assert_close(ours, ref)
    # mask: masked positions behave as ignored, and may hold any target value (here out of range).
    mask = rng.random((3, 6)) < 0.6
    masked_target = np.where(mask, target, 99)
    w = rng.uniform(0.5, 1.5, 4)
    ours = cross_entropy(logits, masked_target, mask=mask.astype(np.int64), weight=w)
    t_ref = torch.from_numpy(np.where(mask, target, -100).reshape(-1))
    ref = _torch_value_and_grad(torch, lambda x: F.cross_entropy(x.reshape(-1, 4), t_ref, weight=torch.from_numpy(w)),
                                logits)
    _assert_close(ours, ref)
    assert np.array_equal(cross_entropy(logits, masked_target, mask=mask, weight=w)[1], ours[1])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int8])
def test_unsigned_or_narrow_targets_with_ignored_or_masked_positions_equal_int64(dtype):
    """Ignored and masked positions are marked -1 for the compiled kernels: in a uint8 target that wrapped to 255,
    a class past the end that the kernels then read and wrote (garbage losses, a corrupted heap)."""
    rng = np.random.default_rng(12)
    logits, x, W = rng.standard_normal((5, 6, 4)), rng.standard_normal((5, 6, 3)), rng.standard_normal((4, 3))
    target = rng.integers(0, 4, size=(5, 6))
    target[0, :3] = 127
    mask = rng.random((5, 6)) < 0.7
    for kw in ({"ignore_index": 127}, {"ignore_index": 127, "mask": mask}):
        loss, grad = cross_entropy(logits, target.astype(dtype), **kw)
        ref_loss, ref_grad = cross_entropy(logits, target, **kw)
        assert loss == ref_loss and np.array_equal(grad, ref_grad)
    ref = linear_cross_entropy(x, W, None, target, ignore_index=127)
    ours = linear_cross_entropy(x, W, None, target.astype(dtype), ignore_index=127)
    assert ours[0] == ref[0] and all(np.array_equal(a, b) for a, b in zip(ours[1:3], ref[1:3]))


def test_cross_entropy_is_stable_for_huge_logits():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(1)
    logits = 1e4 * rng.standard_normal((5, 6))  # exp would overflow without the max shift
    target = rng.integers(0, 6, size=5)
    loss, grad = cross_entropy(logits, target, label_smoothing=0.1)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    ref = _torch_value_and_grad(torch, lambda x: F.cross_entropy(x, torch.from_numpy(target), label_smoothing=0.1),
                                logits)
    assert abs(loss - ref[0]) <= 1e-12 * abs(ref[0])
    np.testing.assert_allclose(grad, ref[1], rtol=0, atol=TOL)
    # shift invariance of softmax
    loss2, grad2 = cross_entropy(logits + 1e5, target, label_smoothing=0.1)
    assert abs(loss2 - loss) <= 1e-9 * abs(loss)
    np.testing.assert_allclose(grad2, grad, rtol=0, atol=1e-12)


def test_cross_entropy_no_real_token_gives_zero():
    logits = np.random.default_rng(2).standard_normal((2, 3, 4))
    target = np.full((2, 3), -100)
    loss, grad = cross_entropy(logits, target)
    assert loss == 0.0 and grad.shape == logits.shape and not grad.any()
    loss, grad = cross_entropy(logits, np.zeros((2, 3), np.int64), mask=np.zeros((2, 3), bool))
    assert loss == 0.0 and not grad.any()


def test_cross_entropy_finite_differences():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((3, 4, 5))
    target = rng.integers(0, 5, size=(3, 4))
    target[1, 2] = -100
    mask = rng.random((3, 4)) < 0.8
    mask[0, 0] = True
    w = rng.uniform(0.3, 2.0, 5)
    for reduction in ("mean", "sum"):
        err = _fd(lambda x: cross_entropy(x, target, mask=mask, weight=w, label_smoothing=0.15, reduction=reduction),
                  logits)
        assert err < FD_TOL


def test_cross_entropy_float32_and_wrapper():
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((8, 10))
    target = rng.integers(0, 10, size=8)
    l64, g64 = cross_entropy(logits, target, label_smoothing=0.1)
    l32, g32 = cross_entropy(logits.astype(np.float32), target, label_smoothing=0.1)
    assert g32.dtype == np.float32 and g64.dtype == np.float64
    assert abs(l32 - l64) < 1e-5 and np.abs(g32 - g64).max() < 1e-6
    crit = CrossEntropyLoss(label_smoothing=0.1, reduction="sum")
    assert crit(logits, target) == cross_entropy(logits, target, label_smoothing=0.1, reduction="sum")[0]
    np.testing.assert_array_equal(crit.backward(), cross_entropy(logits, target, label_smoothing=0.1,
                                                                 reduction="sum")[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_compiled_plain_case_matches_the_numpy_formulas(dtype, reduction):
    """Without class weights or smoothing the loss runs as one compiled pass; all-ones class weights take the NumPy
    formulas, which reduce to the same function."""
    from lstm.kernels import compiled_function
    if compiled_function("softmax_cross_entropy") is None:
        pytest.skip("the compiled backend is not available")
    rng = np.random.default_rng(8)
    C = 37
    logits = (4 * rng.standard_normal((5, 9, C))).astype(dtype)
    logits[0, 0] += 3e4                                            # huge logits: the row maximum is subtracted
    target = rng.integers(0, C, size=(5, 9))
    target[1, :3] = -100                                           # ignored rows get zero gradient
    mask = rng.random((5, 9)) < 0.9
    for kw in ({}, {"mask": mask}):
        loss, grad = cross_entropy(logits, target, reduction=reduction, **kw)
        ref_loss, ref_grad = cross_entropy(logits, target, weight=np.ones(C), reduction=reduction, **kw)
        tol = 1e-13 if dtype == np.float64 else 2e-6
        assert grad.dtype == dtype and grad.shape == logits.shape and np.all(np.isfinite(grad))
        assert abs(loss - ref_loss) <= tol * abs(ref_loss)
        np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=tol * np.abs(ref_grad).max())
        assert not grad[1, :3].any()


def test_cross_entropy_errors():
    logits = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"target 3 is outside the class range \[0, 2\]"):
        cross_entropy(logits, np.array([0, 1, 3, 2]))
    with pytest.raises(ValueError, match=r"target -5 is outside the class range"):
        cross_entropy(logits, np.array([0, -5, 1, 2]))
    with pytest.raises(TypeError, match="integer class ids"):
        cross_entropy(logits, np.array([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match=r"target must have shape logits.shape\[:-1\] = \(4,\), got \(4, 3\)"):
        cross_entropy(logits, np.zeros((4, 3), np.int64))
    with pytest.raises(ValueError, match=r"weight must have shape \(C,\) = \(3,\)"):
        cross_entropy(logits, np.zeros(4, np.int64), weight=np.ones(4))
    with pytest.raises(ValueError, match="mask must contain only 0 and 1"):
        cross_entropy(logits, np.zeros(4, np.int64), mask=np.array([0, 1, 2, 1]))
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        cross_entropy(logits, np.zeros(4, np.int64), reduction="avg")
    with pytest.raises(TypeError, match="float32 or float64"):
        cross_entropy(np.zeros((4, 3), np.int64), np.zeros(4, np.int64))
    with pytest.raises(RuntimeError, match="before the loss was computed"):
        CrossEntropyLoss().backward()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("path", ["compiled-1", "compiled-2", "numpy"])
def test_linear_cross_entropy_is_a_linear_layer_then_cross_entropy(path, bias, dtype, monkeypatch):
    """(loss, dx, dW, db) equal a Linear layer's forward, cross_entropy and the layer's backward: on the compiled
    backend's fused pass (one block, and blocks over two threads), and on the NumPy path it falls back to.
    Ignored positions count nowhere; a chunk where every position is ignored gives 0 and zero gradients."""
    from lstm import nn
    from lstm.kernels import compiled_function
    if path == "numpy":
        monkeypatch.setattr(nn.losses, "compiled_function", lambda name: None)
    else:
        if compiled_function("linear_cross_entropy") is None:
            pytest.skip("the compiled backend is not available")
        from lstm.kernels import compiled
        monkeypatch.setattr(compiled, "THREADS", int(path[-1]))
        monkeypatch.setattr(compiled, "PARALLEL_MACS", 0)
    rng = np.random.default_rng(11)
    layer = nn.Linear(6, 13, bias=bias, dtype=dtype, seed=3)
    x = rng.standard_normal((4, 9, 6)).astype(dtype)
    target = rng.integers(0, 13, size=(4, 9))
    target[0, :4] = -100
    loss, dx, dW, db = linear_cross_entropy(x, layer.weight, layer.bias, target)
    ref_loss, g = cross_entropy(layer(x), target)
    ref_dx = layer.backward(g)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert dx.dtype == dtype and dx.shape == x.shape and dW.shape == layer.weight.shape
    assert abs(loss - ref_loss) <= tol * abs(ref_loss)
    for name, a, b in (("dx", dx, ref_dx), ("dW", dW, layer.grads["weight"])) + (
            (("db", db, layer.grads["bias"]),) if bias else ()):
        np.testing.assert_allclose(a, b, rtol=0, atol=tol * np.abs(b).max(), err_msg=name)
    assert db is None or bias
    assert not dx[0, :4].any()
    loss, dx, dW, db = linear_cross_entropy(x, layer.weight, layer.bias, np.full((4, 9), -100))
    assert loss == 0.0 and not dx.any() and not dW.any() and (db is None or not db.any())


def test_linear_cross_entropy_errors():
    x, W = np.zeros((4, 3)), np.zeros((5, 3))
    with pytest.raises(ValueError, match=r"weight must have shape \(C, H\) for x of shape \(..., H\), got weight "
                                         r"\(5, 2\)"):
        linear_cross_entropy(x, np.zeros((5, 2)), None, np.zeros(4, np.int64))
    with pytest.raises(ValueError, match=r"bias must have shape \(C,\) = \(5,\)"):
        linear_cross_entropy(x, W, np.zeros(4), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match=r"target must have shape x.shape\[:-1\] = \(4,\), got \(3,\)"):
        linear_cross_entropy(x, W, None, np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"target 5 is outside the class range \[0, 4\]"):
        linear_cross_entropy(x, W, None, np.array([0, 1, 5, 2]))
    with pytest.raises(TypeError, match="integer class ids"):
        linear_cross_entropy(x, W, None, np.zeros(4))


# ---------------------------------------------------------------------------------------------------------------
# binary_cross_entropy_with_logits
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("use_pos_weight", [False, True])
@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce_with_logits_matches_torch(use_pos_weight, use_weight, reduction):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    x = 4 * rng.standard_normal((6, 3))
    x[0] = [40.0, -40.0, 700.0]  # saturated logits
    y = rng.random((6, 3))
    y[1] = [0.0, 1.0, 1.0]
    pw = rng.uniform(0.5, 3.0, 3) if use_pos_weight else None
    w = rng.uniform(0.5, 2.0, 3) if use_weight else None
    ours = binary_cross_entropy_with_logits(x, y, pos_weight=pw, weight=w, reduction=reduction)
    ref = _torch_value_and_grad(
        torch,
        lambda t: F.binary_cross_entropy_with_logits(
            t, torch.from_numpy(y), weight=None if w is None else torch.from_numpy(w),
            pos_weight=None if pw is None else torch.from_numpy(pw), reduction=reduction),
        x,
    )
    _assert_close(ours, ref)


def test_bce_with_logits_finite_differences_and_targets():
    rng = np.random.default_rng(6)
    x = 2 * rng.standard_normal((4, 5))
    y = (rng.random((4, 5)) < 0.5)
    pw = rng.uniform(0.5, 3.0, 5)
    assert _fd(lambda t: binary_cross_entropy_with_logits(t, y.astype(np.float64), pos_weight=pw), x) < FD_TOL
    # bool and integer 0/1 targets are accepted and cast
    a = binary_cross_entropy_with_logits(x, y)
    b = binary_cross_entropy_with_logits(x, y.astype(np.int64))
    c = binary_cross_entropy_with_logits(x, y.astype(np.float64))
    assert a[0] == b[0] == c[0] and np.array_equal(a[1], c[1])
    crit = BCEWithLogitsLoss(pos_weight=pw)
    assert crit(x, y) == binary_cross_entropy_with_logits(x, y, pos_weight=pw)[0]
    with pytest.raises(ValueError, match="pos_weight of shape"):
        binary_cross_entropy_with_logits(x, y, pos_weight=np.ones(4))
    with pytest.raises(ValueError, match=r"target must have the input's shape \(4, 5\)"):
        binary_cross_entropy_with_logits(x, y[:, :4])


# ---------------------------------------------------------------------------------------------------------------
# regression losses
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name", ["mse", "l1", "huber0.5", "huber1", "huber2"])
def test_regression_losses_match_torch(name, reduction):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(7)
    pred = 2 * rng.standard_normal((3, 4, 5))
    target = 2 * rng.standard_normal((3, 4, 5))
    pred[0, 0, :3] = target[0, 0, :3]  # exact ties: l1 and huber slope 0 there
    target[1, 1, 0], pred[1, 1, 0] = 1.0, 1.5  # |d| == 0.5 exactly: the huber knot for delta=0.5
    target[1, 1, 1], pred[1, 1, 1] = 1.0, -1.0  # |d| == 2 exactly
    tt = torch.from_numpy(target)
    if name == "mse":
        ours, ref_fn = mse_loss(pred, target, reduction=reduction), lambda x: F.mse_loss(x, tt, reduction=reduction)
    elif name == "l1":
        ours, ref_fn = l1_loss(pred, target, reduction=reduction), lambda x: F.l1_loss(x, tt, reduction=reduction)
    else:
        delta = float(name[5:])
        ours = huber_loss(pred, target, delta, reduction=reduction)
        ref_fn = lambda x: F.huber_loss(x, tt, reduction=reduction, delta=delta)  # noqa: E731
    ref = _torch_value_and_grad(torch, ref_fn, pred)
    _assert_close(ours, ref)
    if name == "l1":
        assert np.all(ours[1][0, 0, :3] == 0)  # sign(0) = 0


def test_unreduced_regression_and_binary_losses_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(11)
    pred, target = 2 * rng.standard_normal((3, 4)), 2 * rng.standard_normal((3, 4))
    tt = torch.from_numpy(target)
    for ours, ref_fn in ((mse_loss, lambda x: F.mse_loss(x, tt, reduction="none")),
                         (l1_loss, lambda x: F.l1_loss(x, tt, reduction="none")),
                         (lambda p, t, **kw: huber_loss(p, t, 0.7, **kw),
                          lambda x: F.huber_loss(x, tt, reduction="none", delta=0.7))):
        _assert_unreduced_close(ours(pred, target, reduction="none"), _torch_unreduced(torch, ref_fn, pred),
                                pred.shape)
    y = rng.uniform(0, 1, (3, 4))
    pw = rng.uniform(0.5, 2, 4)
    _assert_unreduced_close(
        binary_cross_entropy_with_logits(pred, y, pos_weight=pw, reduction="none"),
        _torch_unreduced(torch, lambda x: F.binary_cross_entropy_with_logits(
            x, torch.from_numpy(y), pos_weight=torch.from_numpy(pw), reduction="none"), pred), pred.shape)
    taus = np.array([0.1, 0.5, 0.9])
    q = rng.standard_normal((3, 4, 3))
    loss, grad = pinball_loss(q, target, taus, reduction="none")
    assert loss.shape == q.shape and abs(loss.sum() - pinball_loss(q, target, taus, reduction="sum")[0]) < 1e-12
    np.testing.assert_array_equal(grad, pinball_loss(q, target, taus, reduction="sum")[1])
    crit = MSELoss(reduction="none")
    np.testing.assert_array_equal(crit(pred, target), (pred - target) ** 2)
    np.testing.assert_array_equal(crit.backward(), 2 * (pred - target))


@pytest.mark.parametrize("fn", [mse_loss, l1_loss, huber_loss, lambda p, t, **kw: huber_loss(p, t, 0.7, **kw)])
def test_regression_losses_finite_differences(fn):
    rng = np.random.default_rng(8)
    pred, target = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    for reduction in ("mean", "sum"):
        assert _fd(lambda p: fn(p, target, reduction=reduction), pred) < FD_TOL


def test_regression_wrappers_dtypes_and_errors():
    rng = np.random.default_rng(9)
    pred, target = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    for crit, fn in ((MSELoss(), mse_loss), (L1Loss(reduction="sum"), lambda p, t: l1_loss(p, t, reduction="sum")),
                     (HuberLoss(0.3), lambda p, t: huber_loss(p, t, 0.3))):
        loss = crit(pred, target)
        assert loss == fn(pred, target)[0]
        np.testing.assert_array_equal(crit.backward(), fn(pred, target)[1])
    loss32, grad32 = mse_loss(pred.astype(np.float32), target)
    assert grad32.dtype == np.float32 and abs(loss32 - mse_loss(pred, target)[0]) < 1e-5
    assert mse_loss(pred, np.round(target).astype(np.int64))[0] == mse_loss(pred, np.round(target))[0]
    with pytest.raises(ValueError, match=r"target must have the input's shape \(5, 2\), got \(5,\)"):
        mse_loss(pred, target[:, 0])
    with pytest.raises(TypeError, match="float16"):
        l1_loss(pred.astype(np.float16), target)
    with pytest.raises(ValueError, match="delta must be a positive number"):
        huber_loss(pred, target, delta=0.0)
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none'"):
        mse_loss(pred, target, reduction="avg")


# ---------------------------------------------------------------------------------------------------------------
# pinball
# ---------------------------------------------------------------------------------------------------------------
def _pinball_direct(pred, target, taus):
    """Loop over every entry: rho_tau(u) = u * (tau - [u < 0])."""
    total = 0.0
    for idx in np.ndindex(pred.shape):
        u = target[idx[:-1]] - pred[idx]
        tau = taus[idx[-1]]
        total += u * (tau - (u < 0))
    return total


def test_pinball_matches_direct_formula_and_finite_differences():
    rng = np.random.default_rng(10)
    taus = np.array([0.1, 0.5, 0.9])
    pred = rng.standard_normal((4, 5, 3))
    target = rng.standard_normal((4, 5))
    loss, grad = pinball_loss(pred, target, taus)
    assert abs(loss - _pinball_direct(pred, target, taus) / pred.size) < 1e-14
    loss_sum, grad_sum = pinball_loss(pred, target, taus, reduction="sum")
    assert abs(loss_sum - _pinball_direct(pred, target, taus)) < 1e-12
    np.testing.assert_allclose(grad_sum, grad * pred.size, rtol=1e-14)
    for reduction in ("mean", "sum"):
        assert _fd(lambda p: pinball_loss(p, target, taus, reduction=reduction), pred) < FD_TOL
    # below the target: slope -tau; above: 1 - tau
    below = pred < target[..., None]
    np.testing.assert_allclose(grad_sum, np.where(below, -taus, 1 - taus), rtol=0, atol=0)
    crit = PinballLoss(taus)
    assert crit(pred, target) == loss
    np.testing.assert_array_equal(crit.backward(), grad)


def test_pinball_ties_and_median_is_half_l1():
    rng = np.random.default_rng(11)
    target = rng.standard_normal(6)
    pred = rng.standard_normal((6, 1))
    pred[2, 0] = target[2]  # a tie: subgradient 0
    loss, grad = pinball_loss(pred, target, [0.5], reduction="sum")
    l1, g1 = l1_loss(pred[:, 0], target, reduction="sum")
    assert abs(loss - 0.5 * l1) < 1e-14
    np.testing.assert_allclose(grad[:, 0], 0.5 * g1, rtol=0, atol=0)
    assert grad[2, 0] == 0


def test_pinball_errors():
    pred = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"drop the quantile axis"):
        pinball_loss(pred, np.zeros((4, 3)), [0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match=r"quantiles must have shape \(Q,\) = \(3,\)"):
        pinball_loss(pred, np.zeros(4), [0.1, 0.9])
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        pinball_loss(pred, np.zeros(4), [0.0, 0.5, 1.0])


_LCE = """
import sys
import numpy as np
import lstm
rng = np.random.default_rng(0)
x = rng.normal(size=(50, 32)).astype(np.float32)
W = rng.normal(size=(20, 32)).astype(np.float32)
t = rng.integers(0, 20, 50)
if sys.argv[1:] == ["loss-first"]:
    from lstm.kernels import compiled
    compiled.softmax_cross_entropy(x @ W.T, t, 1.0)
loss, dx, dW, db = lstm.nn.linear_cross_entropy(x, W, np.zeros(20, np.float32), t)
print(float(loss).hex(), dx.tobytes().hex(), dW.tobytes().hex())
"""


def test_the_fused_loss_gives_the_same_bits_whatever_was_compiled_first(tmp_path):
    """The row sums of exp were left to the compiler's reassociation: compiled inside the output layer's worker
    (a cold cache) they came out in another order than loaded from the cache, ~1e-8 apart — so one seed trained
    differently in the first process after an install.  A fresh cache, a warm one, and a warm one with the loss
    compiled first must agree to the bit (before: cold and loss-first gave one value, plain warm another)."""
    import os
    import subprocess
    import sys

    script = tmp_path / "lce.py"
    script.write_text(_LCE)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    outs = [subprocess.run([sys.executable, str(script), *arg], capture_output=True, text=True, env=env,
                           timeout=900) for arg in ([], [], ["loss-first"])]
    for run in outs:
        assert run.returncode == 0, run.stderr[-2000:]
    assert outs[0].stdout == outs[1].stdout == outs[2].stdout
