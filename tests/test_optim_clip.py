"""Gradient clipping (clip_grad_norm, clip_grad_value) against torch.nn.utils, NaN and inf included."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lstm.optim as O  # noqa: E402
from test_optim import SHAPES, TOL, _note, _report_max_diffs  # noqa: E402, F401

def _clip_case(seed: int, scale: float):
    rng = np.random.default_rng(seed)
    grads = {k: rng.standard_normal(s) * scale for k, s in SHAPES.items()}
    tparams = {k: torch.zeros(s, dtype=torch.float64, requires_grad=True) for k, s in SHAPES.items()}
    for k, t in tparams.items():
        t.grad = torch.from_numpy(grads[k].copy())
    return grads, tparams


@pytest.mark.parametrize("norm_type", [2.0, math.inf, 1.0, 3.0])
@pytest.mark.parametrize("scale", [0.01, 10.0])
def test_clip_grad_norm_matches_torch(norm_type, scale):
    grads, tparams = _clip_case(5, scale)
    before = {k: v.copy() for k, v in grads.items()}
    max_norm = 1.0
    total = O.clip_grad_norm(grads, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(list(tparams.values()), max_norm, norm_type=norm_type, foreach=False)
    assert isinstance(total, float)
    assert abs(total - float(ttotal)) <= TOL * max(1.0, float(ttotal))
    _note("clip_grad_norm (returned norm, relative)", abs(total - float(ttotal)) / max(1.0, float(ttotal)))
    d = max(float(np.max(np.abs(grads[k] - tparams[k].grad.numpy()))) for k in grads)
    assert d <= TOL
    _note("clip_grad_norm (grads)", d)
    clipped = total > max_norm
    assert clipped == (scale == 10.0)
    if clipped:  # the joint norm is now max_norm (up to the 1e-6 guard)
        flat = np.concatenate([g.ravel() for g in grads.values()])
        assert abs(np.linalg.norm(flat, ord=norm_type) - max_norm) < 1e-5
    else:  # below the threshold: multiplied by exactly 1.0
        assert all(np.array_equal(grads[k], before[k]) for k in grads)


def test_clip_grad_norm_of_float32_gradients_is_accumulated_in_float64():
    rng = np.random.default_rng(9)
    grads = {k: (rng.standard_normal(s) * 3).astype(np.float32) for k, s in SHAPES.items()}
    grads["big"] = (rng.standard_normal(300_001) * 1e-3).astype(np.float32)   # past any vector-lane remainder
    flat = np.concatenate([g.ravel().astype(np.float64) for g in grads.values()])
    before = {k: v.copy() for k, v in grads.items()}
    total = O.clip_grad_norm(grads, 1e9)
    assert abs(total - np.sqrt(flat @ flat)) <= 6e-8 * total                 # the float64 norm, rounded to float32
    assert all(np.array_equal(grads[k], before[k]) for k in grads)       # under max_norm: untouched
    total = O.clip_grad_norm(grads, 1.0)
    assert abs(np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads.values())) - 1.0) < 1e-5


def test_clip_grad_norm_nonfinite():
    grads, tparams = _clip_case(6, 1.0)
    grads["bias"][2] = np.inf
    tparams["bias"].grad[2] = np.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        O.clip_grad_norm({k: v.copy() for k, v in grads.items()}, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(list(tparams.values()), 1.0, error_if_nonfinite=True)
    total = O.clip_grad_norm(grads, 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(list(tparams.values()), 1.0)
    assert total == float(ttotal) == math.inf
    for k in grads:
        np.testing.assert_array_equal(grads[k], tparams[k].grad.numpy())  # NaN where inf*0, zeros elsewhere


def test_clip_grad_value_matches_torch():
    grads, tparams = _clip_case(7, 2.0)
    grads["bias"][0] = np.nan
    tparams["bias"].grad[0] = np.nan
    O.clip_grad_value(grads, 0.7)
    torch.nn.utils.clip_grad_value_(list(tparams.values()), 0.7)
    for k in grads:
        np.testing.assert_array_equal(grads[k], tparams[k].grad.numpy())
    assert np.nanmax(np.abs(grads["weight_ih_l0"])) == 0.7
