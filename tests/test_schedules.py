"""Learning-rate schedules against torch.optim.lr_scheduler, alone and driving an optimizer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lstm.optim as O  # noqa: E402
from test_optim import STEPS, TOL, _grad_sequence, _init_params, _max_diff, _note, _report_max_diffs  # noqa: E402, F401
from test_optim import _set_torch_grads, _torch_params  # noqa: E402

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
