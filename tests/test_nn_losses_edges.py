"""Loss edge cases a PyTorch user meets: 0-d (scalar) inputs, empty class axes, option values of the wrong type."""

from __future__ import annotations

import numpy as np
import pytest

import lstm.nn as nn


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss", "binary_cross_entropy_with_logits"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_elementwise_losses_take_0d_input_and_target_as_torch(name, reduction):
    """torch computes these on 0-d tensors (one prediction, one target); the loss and gradient keep the 0-d shape."""
    torch = pytest.importorskip("torch")
    pred, target = np.float64(0.7), np.float64(0.25)
    loss, grad = getattr(nn, name)(pred, target, reduction=reduction)
    p = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    ref = getattr(torch.nn.functional, name)(p, torch.tensor(target, dtype=torch.float64), reduction=reduction)
    ref.sum().backward()
    assert isinstance(grad, np.ndarray) and grad.shape == tuple(p.grad.shape) == ()
    assert np.shape(loss) == tuple(ref.shape)
    np.testing.assert_allclose(loss, ref.item(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(grad, p.grad.item(), rtol=0, atol=1e-12)


def test_cross_entropy_refuses_0d_logits():
    """A scalar is not (..., C) logits (torch refuses it too); it used to pass as one class and give loss 0."""
    with pytest.raises(ValueError, match="got a scalar"):
        nn.cross_entropy(np.float64(3.0), np.int64(0))


def test_pinball_refuses_0d_prediction():
    with pytest.raises(ValueError, match="got a scalar"):
        nn.pinball_loss(np.float64(3.0), np.float64(1.0), [0.5])


def test_cross_entropy_with_no_classes_says_so():
    with pytest.raises(ValueError, match=r"at least one class.*\(3, 0\)"):
        nn.cross_entropy(np.zeros((3, 0)), np.zeros(3, np.int64))


@pytest.mark.parametrize("value", [None, "0.1", [0.1]])
def test_cross_entropy_label_smoothing_must_be_a_number(value):
    """One-line error naming the option (a string used to be parsed, None raised float()'s own message)."""
    with pytest.raises((TypeError, ValueError), match="cross_entropy: label_smoothing"):
        nn.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), label_smoothing=value)


def test_cross_entropy_label_smoothing_accepts_numpy_scalars():
    z, y = np.random.default_rng(0).normal(size=(4, 3)), np.array([0, 1, 2, 1])
    assert nn.cross_entropy(z, y, label_smoothing=np.float32(0.25))[0] == pytest.approx(
        nn.cross_entropy(z, y, label_smoothing=0.25)[0], abs=1e-7)


@pytest.mark.parametrize("delta", ["1", None, [1.0]])
def test_huber_delta_must_be_a_number(delta):
    with pytest.raises(ValueError, match="huber_loss: delta must be a positive number"):
        nn.huber_loss(np.zeros(3), np.ones(3), delta)
