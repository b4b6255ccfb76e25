"""Optimizer and schedule state dicts: JSON/safetensors round trips, bit-identical continuation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lstm.optim as O  # noqa: E402
from test_optim import SHAPES, _case_id, _grad_sequence, _init_params  # noqa: E402
from test_schedules import PLATEAU_METRICS, _one_param_opts  # noqa: E402

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
