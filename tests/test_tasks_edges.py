"""Hostile input to the long-time-lag tasks, the gradient-vs-lag measurement and the finite-difference check: each
bad value is refused up front with a message naming the argument, never a cryptic NumPy error or a silent result."""

import math

import numpy as np
import pytest

from lstm import gradcheck
from lstm.inspect.gradients import gradient_study, lag_profile
from lstm.nn import LSTM
from lstm.tasks import AddingProblem, TaskNet, run_task
from cli_run import one_line, run_cli

TINY = dict(length=4, steps=1, hidden=2, progress=False, val_size=4, test_size=4)


# -- run_task --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,value", [("batch", 0), ("batch", -3), ("batch", 2.0), ("val_size", 0),
                                        ("test_size", 0), ("test_size", -1), ("seed", -1), ("seed", 1.5)])
def test_run_task_refuses_sizes_and_seeds_that_are_not_whole_numbers(name, value):
    kw = dict(TINY, batch=2)
    kw[name] = value
    with pytest.raises(ValueError, match=rf"^{name} must be an integer >= {0 if name == 'seed' else 1}, "
                                         rf"got {value!r}"):
        run_task("adding", "lstm", **kw)


@pytest.mark.parametrize("value", [math.nan, math.inf, 1e308])
def test_run_task_refuses_a_forget_bias_the_float32_layer_cannot_hold(value, recwarn):
    with pytest.raises(ValueError, match="forget_bias must be a finite number"):
        run_task("adding", "lstm", forget_bias=value, **TINY)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]     # refused before any overflow


def test_cli_tasks_run_refuses_a_huge_forget_bias_in_one_line(capsys):
    assert run_cli(["tasks", "run", "adding", "--length", "4", "--steps", "1", "--hidden", "2", "--quiet",
                    "--forget-bias", "1e308"]) == 2
    err = one_line(capsys)
    assert err.startswith("lstm tasks run: error: --forget-bias must be a finite number") and "1e+308" in err


# -- gradients ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def probe():
    task = AddingProblem(12)
    return TaskNet("rnn", 2, 3, 1, "last", seed=0), task, task.sample(3, np.random.default_rng(0))


@pytest.mark.parametrize("lags,message", [([2.7], "whole numbers"), ([float("nan")], "whole numbers"),
                                          ([], "at least one lag"), ([True], "whole numbers")])
def test_lag_profile_refuses_lags_it_would_otherwise_truncate_or_choke_on(probe, lags, message):
    net, task, batch = probe
    with pytest.raises(ValueError, match=message):
        lag_profile(net, task, batch, lags=lags)


def test_lag_profile_still_takes_integral_floats_and_numpy_integers(probe):
    net, task, batch = probe
    a = lag_profile(net, task, batch, lags=[0.0, 5.0])
    b = lag_profile(net, task, batch, lags=np.array([5, 0]))
    assert a.lags.tolist() == b.lags.tolist() == [0, 5] and np.array_equal(a.norms, b.norms)


def test_gradient_study_takes_one_model_name_as_a_string():
    study = gradient_study("lstm", length=6, steps=0, batch=2)
    assert [(p.model, p.label) for p in study.profiles] == [("lstm", "initialisation")]


def test_gradient_study_refuses_an_empty_probe_batch():
    with pytest.raises(ValueError, match="batch must be an integer >= 1, got 0"):
        gradient_study(("rnn",), length=6, steps=0, batch=0)


# -- gradcheck ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw,message", [
    (dict(eps=0.0), "eps must be a finite non-zero step, got 0.0"),
    (dict(eps=float("nan")), "eps must be a finite non-zero step, got nan"),
    (dict(max_entries=0), "max_entries must be an integer >= 1 or None, got 0"),
    (dict(max_entries=2.5), "max_entries must be an integer >= 1 or None"),
    (dict(x=np.full((3, 2, 2), np.nan)), "x must hold finite numbers"),
])
def test_gradcheck_refuses_settings_that_would_check_nothing_or_divide_by_zero(kw, message):
    with pytest.raises(ValueError, match=message):
        gradcheck(LSTM(2, 3, seed=0), **kw)



def test_run_task_refuses_a_length_it_would_ignore_for_a_built_task():
    with pytest.raises(ValueError, match=r"length=9 is for a task given by name; this AddingProblem already has its "
                                         r"length"):
        run_task(AddingProblem(4), "lstm", length=9, **{k: v for k, v in TINY.items() if k != "length"})
