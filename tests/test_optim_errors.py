"""Bad hyperparameters, parameters, gradients and state dicts: one-line errors, nothing changed."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lstm.optim as O  # noqa: E402
from test_optim import SHAPES, _init_params  # noqa: E402
from test_schedules import _one_param_opts  # noqa: E402

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
