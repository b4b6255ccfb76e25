"""lstm.optim optimizers against torch.optim, step by step in float64.

Also the helpers shared with test_optim_clip.py, test_schedules.py, test_optim_state.py and
test_optim_errors.py (gradient sequences, torch twins, the max-difference report)."""

from __future__ import annotations


import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import lstm.optim as O  # noqa: E402

SHAPES = {"weight_ih_l0": (8, 5), "bias": (5,), "cell.weight": (3, 4, 2)}
STEPS = 60
TOL = 1e-12

# Worst differences against torch seen in this module; printed once the module's tests are done.  The modules that
# import this fixture (autouse) report theirs the same way: the dict is emptied after each report.
MAX_DIFF: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_max_diffs(request):
    MAX_DIFF.clear()
    yield
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if reporter is None or capture is None or not MAX_DIFF:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        for k, v in sorted(MAX_DIFF.items()):
            reporter.write_line(f"lstm.optim vs torch, max |diff| {k}: {v:.3g}")
    MAX_DIFF.clear()


def _note(kind: str, diff: float) -> None:
    MAX_DIFF[kind] = max(MAX_DIFF.get(kind, 0.0), float(diff))


def _grad_sequence(seed: int, steps: int, skip: bool = True) -> list[dict[str, np.ndarray]]:
    """Random float64 gradients; with ``skip``, 'bias' has no gradient every 7th step (torch: .grad is None)."""
    rng = np.random.default_rng(seed)
    seq = []
    for i in range(steps):
        g = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
        if skip and i % 7 == 3:
            del g["bias"]
        seq.append(g)
    return seq


def _init_params(seed: int, dtype=np.float64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


def _torch_params(params: dict[str, np.ndarray]) -> dict[str, "torch.Tensor"]:
    return {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}


def _set_torch_grads(tparams, grads) -> None:
    for k, t in tparams.items():
        t.grad = torch.from_numpy(grads[k].copy()) if k in grads else None


def _max_diff(params, tparams) -> float:
    return max(float(np.max(np.abs(params[k] - tparams[k].detach().numpy()))) for k in params)


OPTIMIZER_CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("SGD", dict(lr=0.05, momentum=0.5, maximize=True, weight_decay=0.02)),
    ("Adam", dict()),
    ("Adam", dict(lr=1e-2, weight_decay=0.1)),
    ("Adam", dict(lr=1e-2, amsgrad=True, betas=(0.8, 0.99))),
    ("Adam", dict(lr=1e-2, maximize=True, amsgrad=True, weight_decay=0.05, eps=1e-6)),
    ("Adam", dict(lr=1e-2, betas=(0.3, 0.9))),  # 1 - beta1 >= 0.5: the other branch of torch's lerp
    ("AdamW", dict()),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=1e-2, maximize=True, betas=(0.5, 0.95))),
    ("RMSprop", dict()),
    ("RMSprop", dict(centered=True)),
    ("RMSprop", dict(momentum=0.9)),
    ("RMSprop", dict(centered=True, momentum=0.9, weight_decay=0.01, maximize=True)),
    ("RMSprop", dict(alpha=0.4, centered=True, lr=1e-3)),  # 1 - alpha >= 0.5: other lerp branch
    ("Adagrad", dict()),
    ("Adagrad", dict(lr_decay=0.1)),
    ("Adagrad", dict(weight_decay=0.1, initial_accumulator_value=0.5, maximize=True)),
    ("Adagrad", dict(eps=1e-6, lr=0.1, lr_decay=0.01)),
]


def _case_id(case) -> str:
    name, kw = case
    return name + "(" + ",".join(f"{k}={v}" for k, v in kw.items()) + ")"


def _torch_opt(name: str, tparams, kw):
    return getattr(torch.optim, name)(list(tparams.values()), foreach=False, **kw)


@pytest.mark.parametrize("case", OPTIMIZER_CASES, ids=[_case_id(c) for c in OPTIMIZER_CASES])
def test_optimizer_matches_torch_every_step(case):
    name, kw = case
    params = _init_params(1)
    tparams = _torch_params(params)
    arrays_before = {k: id(v) for k, v in params.items()}
    opt = getattr(O, name)(params, **kw)
    topt = _torch_opt(name, tparams, kw)
    worst = 0.0
    for grads in _grad_sequence(2, STEPS):
        grads_copy = {k: v.copy() for k, v in grads.items()}
        _set_torch_grads(tparams, grads)
        opt.step(grads)
        topt.step()
        d = _max_diff(params, tparams)
        assert d <= TOL, f"{_case_id(case)}: diff {d} at step {opt.step_count}"
        worst = max(worst, d)
        for k in grads:  # the caller's gradients are never modified
            assert np.array_equal(grads[k], grads_copy[k])
    _note(f"optimizer {name}", worst)
    # updated in place: the very arrays handed in, and they really moved
    assert {k: id(v) for k, v in params.items()} == arrays_before
    assert not np.allclose(params["weight_ih_l0"], _init_params(1)["weight_ih_l0"])
    assert opt.step_count == STEPS
    # 'bias' was skipped on some steps: its own step counter lags, like torch's state["step"]
    if "step" in opt.state["bias"]:
        assert opt.state["bias"]["step"] == STEPS - len(range(3, STEPS, 7))
        assert opt.state["bias"]["step"] == int(topt.state[tparams["bias"]]["step"])
        assert opt.state["weight_ih_l0"]["step"] == STEPS
    # buffer-by-buffer agreement with torch's state
    for k, t in tparams.items():
        for buf, arr in opt.state[k].items():
            if buf != "step":
                tb = topt.state[t][buf].numpy()
                assert np.max(np.abs(arr - tb)) <= TOL, (k, buf)


@settings(max_examples=20, deadline=None)
@given(
    lr=st.floats(1e-4, 0.1),
    beta1=st.floats(0.0, 0.99),
    beta2=st.floats(0.9, 0.9999),
    wd=st.sampled_from([0.0, 1e-3, 0.3]),
    amsgrad=st.booleans(),
    decoupled=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_adam_matches_torch_random_hyperparameters(lr, beta1, beta2, wd, amsgrad, decoupled, seed):
    # Realistic ranges: torch fuses multiply-adds (FMA) where NumPy rounds twice, so the two agree to a few ulps per
    # operation; extreme settings (beta2 ~ 0 divides by |g_t|) amplify those ulps along with the steps themselves,
    # hence the tolerance relative to the parameters' scale (which stays ~1 here).
    name = "AdamW" if decoupled else "Adam"
    kw = dict(lr=lr, betas=(beta1, beta2), weight_decay=wd, amsgrad=amsgrad)
    params = _init_params(seed)
    tparams = _torch_params(params)
    opt = getattr(O, name)(params, **kw)
    topt = _torch_opt(name, tparams, kw)
    for grads in _grad_sequence(seed + 1, 12):
        _set_torch_grads(tparams, grads)
        opt.step(grads)
        topt.step()
        scale = max(1.0, max(float(np.max(np.abs(p))) for p in params.values()))
        assert _max_diff(params, tparams) <= TOL * scale


def test_float32_parameters_follow_torch_closely():
    params = _init_params(3, np.float32)
    tparams = _torch_params(params)
    opt = O.Adam(params, lr=1e-2, amsgrad=True)
    topt = torch.optim.Adam(list(tparams.values()), lr=1e-2, amsgrad=True, foreach=False)
    for grads in _grad_sequence(4, 20):
        grads = {k: v.astype(np.float32) for k, v in grads.items()}
        _set_torch_grads(tparams, grads)
        opt.step(grads)
        topt.step()
    assert all(p.dtype == np.float32 for p in params.values())
    assert all(b.dtype == np.float32 for b in opt.state["bias"].values() if isinstance(b, np.ndarray))
    assert _max_diff(params, tparams) < 1e-5


ADAM_CASES = [c for c in OPTIMIZER_CASES if c[0] in ("Adam", "AdamW")]


@pytest.mark.parametrize("dt", [np.float64, np.float32])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", ADAM_CASES, ids=[_case_id(c) for c in ADAM_CASES])
def test_fused_adam_is_bit_identical_to_numpy(case, threads, dt, monkeypatch):
    """The compiled fused Adam pass equals the optimizer's NumPy operations bit for bit, parameters and state,
    over 12 steps: every option, odd sizes, a parameter split over the threads, a zero and a NaN gradient
    (amsgrad's maximum keeps NaN as np.maximum does), a non-contiguous gradient (NumPy path) and a parameter
    skipped in some steps."""
    pytest.importorskip("numba")
    from lstm.kernels import get_backend
    C = get_backend("numba")
    name, kw = case
    monkeypatch.setattr(C, "THREADS", threads)
    monkeypatch.setattr(C, "PARALLEL_ADAM", 1000)
    shapes = {"w": (37, 41), "b": (5,), "one": (), "big": (3001,)}
    rng = np.random.default_rng(7)
    start = {k: rng.standard_normal(s).astype(dt) for k, s in shapes.items()}
    fused = {k: v.copy() for k, v in start.items()}
    plain = {k: v.copy() for k, v in start.items()}
    opt_f = getattr(O, name)(fused, fused=True, **kw)
    opt_p = getattr(O, name)(plain, fused=False, **kw)
    assert opt_f.fused and not opt_p.fused
    for step in range(12):
        grads = {k: rng.standard_normal(s).astype(dt) for k, s in shapes.items()}
        grads["w"] = np.asfortranarray(grads["w"]) if step == 4 else grads["w"]
        grads["big"][:7] = 0
        if step == 9:
            grads["b"][2] = np.nan
        if step % 5 == 2:
            del grads["b"]
        opt_f.step(grads)
        opt_p.step(grads)
        for k in shapes:
            np.testing.assert_array_equal(fused[k], plain[k], err_msg=f"{name} {kw} step {step} param {k}")
            for buf, value in opt_p.state[k].items():
                np.testing.assert_array_equal(opt_f.state[k][buf], value, err_msg=f"step {step} {k}/{buf}")
    assert np.isnan(fused["b"][2]) and np.isfinite(fused["w"]).all()


def test_accepts_object_with_parameters_and_settable_lr():
    class Model:
        def __init__(self):
            self.w = np.ones((2, 3))

        def parameters(self):
            return {"w": self.w}

    m = Model()
    opt = O.SGD(m, lr=0.5)
    opt.step({"w": np.ones((2, 3)), "not_mine": np.ones(4)})  # unknown names are ignored
    assert np.all(m.w == 0.5)
    opt.lr = 0.25
    assert opt.lr == 0.25
    opt.step({"w": np.ones((2, 3))})
    assert np.all(m.w == 0.25)
    opt.step({})  # no gradients: nothing moves, the step is still counted
    assert np.all(m.w == 0.25) and opt.step_count == 3
