"""lstm.optim against torch.optim: optimizers, clipping, schedules, state dicts, errors."""

from __future__ import annotations

import copy
import json
import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import lstm.optim as O  # noqa: E402

SHAPES = {"weight_ih_l0": (8, 5), "bias": (5,), "cell.weight": (3, 4, 2)}
STEPS = 60
TOL = 1e-12

# Worst differences against torch seen in this module; printed once the module's tests are done.
MAX_DIFF: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_max_diffs(request):
    yield
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if reporter is None or capture is None or not MAX_DIFF:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        for k, v in sorted(MAX_DIFF.items()):
            reporter.write_line(f"lstm.optim vs torch, max |diff| {k}: {v:.3g}")


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


# --------------------------------------------------------------------------------------------------------------
# clipping


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


# --------------------------------------------------------------------------------------------------------------
# schedules


def _one_param_opts(lr: float):
    ours = O.SGD({"w": np.zeros(1)}, lr=lr)
    tp = torch.zeros(1, requires_grad=True)
    theirs = torch.optim.SGD([tp], lr=lr)
    return ours, theirs


def _lr_sequences(make_ours, make_theirs, lr=0.3, steps=STEPS):
    ours_opt, torch_opt = _one_param_opts(lr)
    ours, theirs = make_ours(ours_opt), make_theirs(torch_opt)
    a = [ours_opt.lr]
    b = [torch_opt.param_groups[0]["lr"]]
    assert ours.get_last_lr() == [ours_opt.lr]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(steps):
            torch_opt.step()
            ours.step()
            theirs.step()
            a.append(ours_opt.lr)
            b.append(torch_opt.param_groups[0]["lr"])
            assert ours.get_last_lr()[0] == ours.last_lr == ours_opt.lr
            assert abs(theirs.get_last_lr()[0] - ours.last_lr) <= TOL
    return np.array(a), np.array(b)


TLS = torch.optim.lr_scheduler
SCHEDULE_CASES = {
    "StepLR": (lambda o: O.StepLR(o, 7, gamma=0.5), lambda o: TLS.StepLR(o, 7, gamma=0.5)),
    "ExponentialLR": (lambda o: O.ExponentialLR(o, 0.93), lambda o: TLS.ExponentialLR(o, 0.93)),
    "CosineAnnealingLR": (lambda o: O.CosineAnnealingLR(o, 20, eta_min=1e-3),
                          lambda o: TLS.CosineAnnealingLR(o, 20, eta_min=1e-3)),
    "CosineAnnealingLR-odd": (lambda o: O.CosineAnnealingLR(o, 13), lambda o: TLS.CosineAnnealingLR(o, 13)),
    "LinearWarmup": (lambda o: O.LinearWarmup(o, 0.1, 1.0, 10), lambda o: TLS.LinearLR(o, 0.1, 1.0, 10)),
    "LinearWarmup-default": (lambda o: O.LinearWarmup(o), lambda o: TLS.LinearLR(o)),
    "LinearWarmup-decay": (lambda o: O.LinearLR(o, 0.5, 0.1, 8), lambda o: TLS.LinearLR(o, 0.5, 0.1, 8)),
    "Warmup+Cosine": (
        lambda o: O.SequentialLR(o, [O.LinearWarmup(o, 0.01, total_iters=10), O.CosineAnnealingLR(o, 40, 1e-4)], [10]),
        lambda o: TLS.SequentialLR(o, [TLS.LinearLR(o, 0.01, total_iters=10), TLS.CosineAnnealingLR(o, 40, 1e-4)],
                                   [10]),
    ),
    "Warmup+Step+Exp": (
        lambda o: O.SequentialLR(o, [O.LinearWarmup(o, 0.2, total_iters=5), O.StepLR(o, 4, 0.7),
                                     O.ExponentialLR(o, 0.9)], [5, 25]),
        lambda o: TLS.SequentialLR(o, [TLS.LinearLR(o, 0.2, total_iters=5), TLS.StepLR(o, 4, 0.7),
                                       TLS.ExponentialLR(o, 0.9)], [5, 25]),
    ),
}


@pytest.mark.parametrize("name", list(SCHEDULE_CASES))
def test_schedule_matches_torch(name):
    make_ours, make_theirs = SCHEDULE_CASES[name]
    a, b = _lr_sequences(make_ours, make_theirs, steps=70)
    d = float(np.max(np.abs(a - b)))
    assert d <= TOL, f"{name}: max lr diff {d}"
    assert np.array_equal(a, b)  # same float formulas as torch, in the same order: equal to the last bit
    _note("schedules (lr)", d)
    assert len(np.unique(a)) > 3  # the schedule really moved the lr


PLATEAU_METRICS = (
    [5.0, 4.0, 3.0, 2.5, 2.5, 2.5, 2.5, 2.5, 2.4999, 2.6, 2.7, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0]
    + [1.0] * 12 + [0.5, 0.6, 0.7, 0.8, 0.9] * 3 + [0.4] * 10
)


@pytest.mark.parametrize("kw", [
    dict(mode="min", factor=0.5, patience=2, cooldown=2, min_lr=0.01),
    dict(mode="min", factor=0.3, patience=1, threshold=0.1, threshold_mode="abs", cooldown=0),
    dict(mode="max", factor=0.5, patience=3, cooldown=1, threshold=1e-3),
    dict(mode="min", factor=0.1, patience=0, cooldown=3, min_lr=1e-5, eps=1e-3),
])
def test_reduce_lr_on_plateau_matches_torch(kw):
    metrics = PLATEAU_METRICS if kw["mode"] == "min" else [-m for m in PLATEAU_METRICS]
    assert len(metrics) >= 50
    ours_opt, torch_opt = _one_param_opts(0.4)
    ours, theirs = O.ReduceLROnPlateau(ours_opt, **kw), TLS.ReduceLROnPlateau(torch_opt, **kw)
    a, b, cooldowns = [], [], []
    for m in metrics:
        ours.step(m)
        theirs.step(m)
        a.append(ours_opt.lr)
        b.append(torch_opt.param_groups[0]["lr"])
        cooldowns.append(ours.cooldown_counter)
        assert (ours.num_bad_epochs, ours.cooldown_counter, ours.best) == (
            theirs.num_bad_epochs, theirs.cooldown_counter, theirs.best)
    d = float(np.max(np.abs(np.array(a) - np.array(b))))
    assert d <= TOL
    _note("ReduceLROnPlateau (lr)", d)
    assert len(np.unique(a)) >= 3  # at least two reductions happened
    if kw.get("cooldown", 0):
        assert max(cooldowns) == kw["cooldown"]  # cooldown was entered


def _trajectory_run(make_opt, make_sched, make_topt, make_tsched, steps=STEPS, metric=False):
    params = _init_params(8)
    tparams = _torch_params(params)
    opt, topt = make_opt(params), make_topt(list(tparams.values()))
    sched, tsched = make_sched(opt), make_tsched(topt)
    worst = 0.0
    for i, grads in enumerate(_grad_sequence(9, steps)):
        _set_torch_grads(tparams, grads)
        opt.step(grads)
        topt.step()
        if metric:
            m = float(np.sum(params["weight_ih_l0"] ** 2)) if i < 25 else 1.0  # plateaus after 25 steps
            sched.step(m)
            tsched.step(m)
        else:
            sched.step()
            tsched.step()
        worst = max(worst, _max_diff(params, tparams))
        assert abs(opt.lr - topt.param_groups[0]["lr"]) <= TOL
    return worst, opt


def test_optimizer_with_schedule_matches_torch_trajectory():
    worst, opt = _trajectory_run(
        lambda p: O.Adam(p, lr=0.02, amsgrad=True),
        lambda o: O.SequentialLR(o, [O.LinearWarmup(o, 0.05, total_iters=8), O.CosineAnnealingLR(o, 50)], [8]),
        lambda p: torch.optim.Adam(p, lr=0.02, amsgrad=True, foreach=False),
        lambda o: TLS.SequentialLR(o, [TLS.LinearLR(o, 0.05, total_iters=8), TLS.CosineAnnealingLR(o, 50)], [8]),
    )
    assert worst <= TOL
    _note("optimizer+schedule trajectory", worst)
    worst, opt = _trajectory_run(
        lambda p: O.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
        lambda o: O.ReduceLROnPlateau(o, factor=0.5, patience=3, cooldown=2),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, foreach=False),
        lambda o: TLS.ReduceLROnPlateau(o, factor=0.5, patience=3, cooldown=2),
        metric=True,
    )
    assert worst <= TOL and opt.lr < 0.05 / 4  # several reductions happened along the way
    _note("optimizer+schedule trajectory", worst)


# --------------------------------------------------------------------------------------------------------------
# state dicts


try:
    from safetensors.numpy import load as _st_load, save as _st_save
except ImportError:  # safetensors is optional here: fall back to plain copies
    _st_load = _st_save = None


def _checkpoint_roundtrip(sd):
    """What a checkpoint does: arrays -> safetensors bytes (or copies), the rest -> strict JSON text -> back."""
    arrays, meta = O.flatten_state(sd)
    assert all(isinstance(v, np.ndarray) and v.flags.c_contiguous for v in arrays.values())
    stored = _st_load(_st_save(arrays)) if _st_save else {k: v.copy() for k, v in arrays.items()}
    return O.unflatten_state(stored, json.loads(json.dumps(meta, allow_nan=False))), arrays


ROUNDTRIP_CASES = [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("Adam", dict(lr=1e-2, amsgrad=True, weight_decay=0.01)),
    ("AdamW", dict(lr=1e-2, maximize=True)),
    ("RMSprop", dict(centered=True, momentum=0.9)),
    ("Adagrad", dict(lr_decay=0.1, initial_accumulator_value=0.1)),
]


@pytest.mark.parametrize("case", ROUNDTRIP_CASES, ids=[_case_id(c) for c in ROUNDTRIP_CASES])
def test_state_dict_roundtrip_is_bit_identical(case):
    name, kw = case
    cls = getattr(O, name)
    seq = _grad_sequence(10, 40)

    ref_params = _init_params(11)
    ref = cls(ref_params, **kw)
    ref_sched = O.StepLR(ref, 6, gamma=0.7)
    for g in seq:
        ref.step(g)
        ref_sched.step()

    params = _init_params(11)
    opt = cls(params, **kw)
    sched = O.StepLR(opt, 6, gamma=0.7)
    for g in seq[:20]:
        opt.step(g)
        sched.step()
    opt_sd, arrays = _checkpoint_roundtrip(opt.state_dict())
    sched_sd = json.loads(json.dumps(sched.state_dict(), allow_nan=False))
    if name != "SGD":
        assert "state/weight_ih_l0/step" in arrays and arrays["state/bias/step"].shape == ()
    else:
        assert arrays["state/weight_ih_l0/momentum_buffer"].shape == SHAPES["weight_ih_l0"]

    resumed_params = {k: v.copy() for k, v in params.items()}  # model weights saved alongside
    lr_at_save = opt.lr
    del opt, sched, params
    fresh = cls(resumed_params, lr=0.9)  # other lr: the state dict carries the hyperparameters
    fresh_sched = O.StepLR(fresh, 6, gamma=0.7)
    fresh.load_state_dict(opt_sd)
    fresh_sched.load_state_dict(sched_sd)
    assert fresh.lr == lr_at_save and fresh.step_count == 20
    for g in seq[20:]:
        fresh.step(g)
        fresh_sched.step()

    for k in ref_params:
        assert np.array_equal(ref_params[k], resumed_params[k]), k
    assert fresh.lr == ref.lr and fresh.step_count == ref.step_count == 40
    a, b = ref.state_dict(), fresh.state_dict()
    assert a["hyper"] == b["hyper"]
    for k in a["state"]:
        for buf in a["state"][k]:
            assert np.array_equal(a["state"][k][buf], b["state"][k][buf]), (k, buf)


def test_schedule_state_roundtrip_mid_warmup_and_plateau():
    def build(params):
        opt = O.AdamW(params, lr=0.01)
        seq = O.SequentialLR(opt, [O.LinearWarmup(opt, 0.1, total_iters=10), O.CosineAnnealingLR(opt, 30)], [10])
        return opt, seq

    grads = _grad_sequence(12, 40)
    ref_params = _init_params(13)
    ref, ref_sched = build(ref_params)
    lrs_ref = []
    for g in grads:
        ref.step(g)
        ref_sched.step()
        lrs_ref.append(ref.lr)

    params = _init_params(13)
    opt, sched = build(params)
    for g in grads[:7]:  # stop mid warm-up
        opt.step(g)
        sched.step()
    opt_sd, _ = _checkpoint_roundtrip(opt.state_dict())
    sched_sd = json.loads(json.dumps(sched.state_dict(), allow_nan=False))
    opt2, sched2 = build(params)  # building the schedule rescales lr; loading must undo that
    sched2.load_state_dict(sched_sd)
    opt2.load_state_dict(opt_sd)
    lrs = lrs_ref[:7]
    for g in grads[7:]:
        opt2.step(g)
        sched2.step()
        lrs.append(opt2.lr)
    assert lrs == lrs_ref
    for k in params:
        assert np.array_equal(params[k], ref_params[k])

    # ReduceLROnPlateau: best starts at +inf, which strict JSON cannot hold
    o1, _ = _one_param_opts(1.0)
    p1 = O.ReduceLROnPlateau(o1, patience=1, cooldown=1)
    sd0 = json.loads(json.dumps(p1.state_dict(), allow_nan=False))
    assert sd0["best"] == "inf"
    for m in PLATEAU_METRICS[:15]:
        p1.step(m)
    o2, _ = _one_param_opts(1.0)
    p2 = O.ReduceLROnPlateau(o2, patience=5)
    p2.load_state_dict(json.loads(json.dumps(p1.state_dict(), allow_nan=False)))
    assert o2.lr == o1.lr
    for m in PLATEAU_METRICS[15:]:
        p1.step(m)
        p2.step(m)
        assert o1.lr == o2.lr
    p3 = O.ReduceLROnPlateau(_one_param_opts(1.0)[0])
    p3.load_state_dict(sd0)
    assert p3.best == math.inf


def test_optimizer_from_state_dict_and_lazy_state():
    params = _init_params(14)
    opt = O.RMSprop(params, momentum=0.5)
    grads = {"weight_ih_l0": np.ones(SHAPES["weight_ih_l0"])}
    opt.step(grads)
    sd = opt.state_dict()
    assert list(sd["state"]) == ["weight_ih_l0"]  # parameters never stepped have no state yet (as in torch)
    assert sd["type"] == "RMSprop" and sd["step"] == 1 and sd["hyper"]["momentum"] == 0.5
    json.dumps({k: v for k, v in sd.items() if k != "state"}, allow_nan=False)
    clone_params = {k: v.copy() for k, v in params.items()}
    clone = O.optimizer_from_state_dict(clone_params, sd)
    assert isinstance(clone, O.RMSprop) and clone.momentum == 0.5
    opt.step(grads)
    clone.step(grads)
    for k in params:
        assert np.array_equal(params[k], clone_params[k])
    # the saved state dict is a copy: later steps did not change it
    assert sd["state"]["weight_ih_l0"]["step"] == 1


# --------------------------------------------------------------------------------------------------------------
# errors


def _one_line(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and msg
    return msg


@pytest.mark.parametrize("make, match", [
    (lambda p: O.SGD(p, lr=-0.1), r"lr must be .*\[0\.0, inf\].*got -0\.1"),
    (lambda p: O.SGD(p, lr=float("nan")), "lr"),
    (lambda p: O.SGD(p, lr="0.1"), "lr must be a real number.*got '0.1'"),
    (lambda p: O.SGD(p, lr=0.1, momentum=-0.9), "momentum"),
    (lambda p: O.SGD(p, lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
    (lambda p: O.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening"),
    (lambda p: O.SGD(p, lr=0.1, nesterov=1), "nesterov must be True or False, got 1"),
    (lambda p: O.Adam(p, betas=(1.0, 0.999)), r"betas\[0\] must be .*\[0\.0, 1\.0\).*got 1\.0"),
    (lambda p: O.Adam(p, betas=(0.9, -0.1)), r"betas\[1\]"),
    (lambda p: O.Adam(p, betas=(0.9,)), "betas must be a pair"),
    (lambda p: O.AdamW(p, eps=-1e-8), "eps"),
    (lambda p: O.AdamW(p, weight_decay=-0.01), "weight_decay"),
    (lambda p: O.RMSprop(p, alpha=1.5), "alpha"),
    (lambda p: O.RMSprop(p, centered="yes"), "centered"),
    (lambda p: O.Adagrad(p, lr_decay=-1), "lr_decay"),
    (lambda p: O.Adagrad(p, initial_accumulator_value=-1), "initial_accumulator_value"),
    (lambda p: O.SGD({}, lr=0.1), "at least one parameter"),
])
def test_bad_hyperparameters_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match) as e:
        make(_init_params(0))
    _one_line(e)


def test_bad_params_and_grads():
    with pytest.raises(TypeError, match="dict"):
        O.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(TypeError, match="float32 or float64"):
        O.SGD({"w": np.zeros(3, dtype=np.int64)}, lr=0.1)
    params = _init_params(0)
    before = {k: v.copy() for k, v in params.items()}
    opt = O.Adam(params)
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1.0
    assert opt.lr == 1e-3
    good = {k: np.ones(s) for k, s in SHAPES.items()}
    bad = dict(good, bias=np.ones(6))
    with pytest.raises(ValueError, match=r"gradient 'bias' must have the parameter's shape \(5,\), got \(6,\)") as e:
        opt.step(bad)
    _one_line(e)
    # all gradients are checked before any update: nothing moved, no state was created
    assert all(np.array_equal(params[k], before[k]) for k in params) and opt.state == {} and opt.step_count == 0
    with pytest.raises(TypeError, match="float32 or float64"):
        opt.step(dict(good, bias=np.ones(5, dtype=np.int32)))


def test_load_state_dict_errors_leave_the_optimizer_untouched():
    params = _init_params(0)
    opt = O.Adam(params, lr=0.01)
    opt.step({k: np.ones(s) for k, s in SHAPES.items()})
    good = opt.state_dict()

    def mutated(fn):
        sd = copy.deepcopy(good)
        fn(sd)
        return sd

    cases = [
        ([1, 2], "expects the dict made by Adam.state_dict"),
        (O.SGD(_init_params(0), lr=0.1, momentum=0.9).state_dict(),
         "is for type 'SGD', but this optimizer is an 'Adam'"),
        (mutated(lambda sd: sd.pop("step")), r"missing \['step'\]"),
        (mutated(lambda sd: sd["hyper"].pop("eps")), r"'hyper' of Adam must have keys .*missing \['eps'\]"),
        (mutated(lambda sd: sd["hyper"].update(lr=-3.0)), "lr must be"),
        (mutated(lambda sd: sd["hyper"].update(amsgrad=True)), r"must have buffers .*max_exp_avg_sq"),
        (mutated(lambda sd: sd["state"].update(decoder=sd["state"]["bias"])), "unknown parameter 'decoder'"),
        (mutated(lambda sd: sd["state"]["bias"].pop("exp_avg")), r"'bias' must have buffers \['step', 'exp_avg'"),
        (mutated(lambda sd: sd["state"]["bias"].update(exp_avg=np.zeros(4))),
         r"'bias'/'exp_avg' must have the parameter's shape \(5,\), got \(4,\)"),
        (mutated(lambda sd: sd["state"]["bias"].update(step=np.array([1]))), "0-d array"),
        (mutated(lambda sd: sd["state"]["bias"].update(exp_avg=[0.0] * 5)), "numeric np.ndarray, got list"),
        (mutated(lambda sd: sd.update(step=-1)), "'step' must be an integer >= 0"),
    ]
    for sd, match in cases:
        with pytest.raises(ValueError, match=match) as e:
            opt.load_state_dict(sd)
        _one_line(e)
    after = opt.state_dict()
    assert after["hyper"] == good["hyper"] and after["step"] == good["step"]
    assert all(np.array_equal(after["state"]["bias"][b], good["state"]["bias"][b]) for b in good["state"]["bias"])
    opt.load_state_dict(mutated(lambda sd: None))  # the unmodified copy loads fine

    with pytest.raises(ValueError, match="not among the"):
        O.unflatten_state({}, O.flatten_state(good)[1])
    with pytest.raises(ValueError, match="optimizer type 'Nadam'"):
        O.optimizer_from_state_dict(params, dict(good, type="Nadam"))


@pytest.mark.parametrize("make, exc, match", [
    (lambda o: O.StepLR(o, 0), ValueError, "step_size must be an integer >= 1, got 0"),
    (lambda o: O.ExponentialLR(o, -0.5), ValueError, "gamma"),
    (lambda o: O.CosineAnnealingLR(o, 10, eta_min=-1), ValueError, "eta_min"),
    (lambda o: O.LinearWarmup(o, start_factor=0.0), ValueError, r"start_factor must be .*\(0\.0, 1\.0\]"),
    (lambda o: O.LinearWarmup(o, end_factor=1.5), ValueError, "end_factor"),
    (lambda o: O.ReduceLROnPlateau(o, factor=1.0), ValueError, r"factor must be .*\[0\.0, 1\.0\).*got 1\.0"),
    (lambda o: O.ReduceLROnPlateau(o, mode="avg"), ValueError, "mode must be one of 'min', 'max'; got 'avg'"),
    (lambda o: O.ReduceLROnPlateau(o, patience=-1), ValueError, "patience"),
    (lambda o: O.SequentialLR(o, [O.StepLR(o, 2)], [3]), ValueError, "one milestone fewer"),
    (lambda o: O.StepLR(torch.optim.SGD([torch.zeros(1)], lr=0.1), 3), TypeError, "lstm.optim optimizer"),
])
def test_bad_schedule_arguments(make, exc, match):
    opt, _ = _one_param_opts(0.1)
    with pytest.raises(exc, match=match) as e:
        make(opt)
    _one_line(e)


def test_schedule_load_state_dict_and_clip_errors():
    opt, _ = _one_param_opts(0.1)
    sched = O.StepLR(opt, 3)
    with pytest.raises(ValueError, match="is for type 'ExponentialLR', but this schedule is a 'StepLR'"):
        sched.load_state_dict(O.ExponentialLR(_one_param_opts(0.1)[0], 0.5).state_dict())
    with pytest.raises(ValueError, match="expects the dict made by StepLR.state_dict"):
        sched.load_state_dict("nope")
    with pytest.raises(ValueError, match="metric"):
        O.ReduceLROnPlateau(opt).step("loss")
    grads = {"w": np.ones(3)}
    with pytest.raises(ValueError, match="norm_type"):
        O.clip_grad_norm(grads, 1.0, norm_type=0)
    with pytest.raises(ValueError, match="max_norm"):
        O.clip_grad_norm(grads, -1.0)
    with pytest.raises(ValueError, match="clip_value"):
        O.clip_grad_value(grads, -1.0)
    with pytest.raises(TypeError, match="dict"):
        O.clip_grad_norm([np.ones(3)], 1.0)
    assert np.array_equal(grads["w"], np.ones(3))
