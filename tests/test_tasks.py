"""Long-time-lag tasks: generators against their published definitions, baselines, the network's gradient,
short training runs that must learn, and the `lstm tasks` commands.  The full-size experiments (minutes each)
are in benchmarks/bench_tasks.py."""

import json
import math
import re
from collections import defaultdict

import numpy as np
import pytest

from fd import max_rel_error, numeric_grad
from lstm.cli import main
from lstm.nn import cross_entropy
from lstm.tasks import (AddingProblem, CopyMemory, EmbeddedReber, TaskNet, TemporalOrder, embedded_reber_string,
                        legal_next, memoryless_baseline, run_task)
from lstm.tasks.reber import SYM, criterion_per_step
from lstm.tasks.temporal_order import B, E, X, Y
from cli_run import run_cli


def rng(seed=0):
    return np.random.default_rng(seed)


# -- adding problem --------------------------------------------------------------------------------------------

def test_adding_problem_has_one_marker_per_half_and_target_is_their_sum():
    task = AddingProblem(30)
    b = task.sample(500, rng())
    assert b.x.shape == (30, 500, 2) and b.x.dtype == np.float32 and b.lengths is None
    marks = b.x[:, :, 1]
    assert set(np.unique(marks)) == {0.0, 1.0}
    assert np.all(marks[:15].sum(0) == 1) and np.all(marks[15:].sum(0) == 1)
    np.testing.assert_allclose(b.target, (b.x[:, :, 0] * marks).sum(0), rtol=1e-6)
    assert b.x[:, :, 0].min() >= 0 and b.x[:, :, 0].max() <= 1


def test_adding_baseline_is_the_mse_of_always_predicting_one():
    task = AddingProblem(10)
    b = task.sample(200_000, rng(1))
    mse = task.evaluate(np.ones((b.size, 1), np.float32), b)["test_mse"]
    assert abs(mse - task.baseline().value) < 0.003 and abs(task.baseline().value - 1 / 6) < 1e-12


# -- copy memory -----------------------------------------------------------------------------------------------

def test_copy_memory_layout_follows_arjovsky_et_al():
    T = 25
    b = CopyMemory(T).sample(64, rng())
    ids = b.x.argmax(-1)                                             # (T+20, B)
    assert b.x.shape == (T + 20, 64, 10) and np.all(b.x.sum(-1) == 1)
    assert np.all((ids[:10] >= 1) & (ids[:10] <= 8))
    assert np.all(ids[10:T + 9] == 0) and np.all(ids[T + 9] == 9) and np.all(ids[T + 10:] == 0)
    assert np.all(b.target[:T + 10] == 0) and np.array_equal(b.target[T + 10:], ids[:10])


def test_copy_memoryless_baseline_is_the_loss_of_blanks_then_uniform_guesses():
    T = 40
    task = CopyMemory(T)
    b = task.sample(32, rng())
    logits = np.full((T + 20, 32, 9), -1e9)
    logits[:T + 10, :, 0] = 0.0                                      # certain blank
    logits[T + 10:, :, 1:] = 0.0                                     # uniform over the 8 symbols
    loss, _ = cross_entropy(logits, b.target)
    assert math.isclose(loss, memoryless_baseline(T), rel_tol=1e-9)
    assert math.isclose(memoryless_baseline(100), 10 * math.log(8) / 120)


# -- temporal order --------------------------------------------------------------------------------------------

def test_temporal_order_sequences_follow_experiment_6a():
    b = TemporalOrder().sample(400, rng())
    ids = b.extra["ids"]
    assert b.lengths.min() >= 100 and b.lengths.max() <= 110 and b.x.shape[0] == 110
    assert len(np.unique(b.lengths)) > 5
    for k in range(400):
        seq = ids[:b.lengths[k], k]
        assert seq[0] == E and seq[-1] == B
        xy = np.flatnonzero(seq >= X)
        assert len(xy) == 2 and 10 <= xy[0] <= 20 and 50 <= xy[1] <= 60
        others = np.delete(seq[1:-1], xy - 1)
        assert np.all(others <= 3)                                   # a, b, c, d
        cls = 2 * (seq[xy[0]] == Y) + (seq[xy[1]] == Y)
        assert b.target[k] == cls
    assert set(np.bincount(b.target, minlength=4)) and np.all(np.bincount(b.target) > 60)


def test_temporal_order_refuses_a_length():
    with pytest.raises(ValueError, match="fixes lengths 100–110"):
        TemporalOrder(50)


def test_temporal_order_reports_no_single_length(capsys):
    assert main(["tasks", "run", "temporal_order", "--steps", "2", "--hidden", "4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("temporal_order, LSTM") and "T = " not in out     # its lengths vary from 100 to 110


# -- embedded Reber grammar --------------------------------------------------------------------------------------

_N4 = r"(XT*VP)*(S|XT*VV)"
_REBER = rf"B(TS*X{_N4}|PT*V(P{_N4}|V))E"
EMBEDDED = re.compile(rf"B(T{_REBER}T|P{_REBER}P)E")


def test_embedded_reber_strings_match_the_grammar_and_legal_sets_match_what_occurs():
    g = rng(3)
    strings = [embedded_reber_string(g) for _ in range(6000)]
    assert all(EMBEDDED.fullmatch(s) for s in strings)
    assert {s[1] for s in strings} == {"T", "P"}
    seen, count = defaultdict(set), defaultdict(int)
    for s in strings:
        for t, legal in enumerate(legal_next(s)):
            assert s[t + 1] in legal                                 # what follows is always legal
            seen[s[:t + 1]].add(s[t + 1])
            count[s[:t + 1]] += 1
    checked = 0
    for s in strings[:300]:
        for t, legal in enumerate(legal_next(s)):
            if count[s[:t + 1]] >= 30:                                # every legal symbol has then shown up
                assert seen[s[:t + 1]] == set(legal)
                checked += 1
    assert checked > 1000


def test_reber_criterion_is_top_k_equals_the_legal_set():
    legal = np.zeros((3, 1, 7), bool)
    legal[0, 0, [SYM["T"], SYM["P"]]] = True                         # two legal: top-2 must be T and P
    legal[1, 0, SYM["B"]] = True
    legal[2, 0, SYM["E"]] = True
    out = np.zeros((3, 1, 7))
    out[0, 0, [SYM["T"], SYM["P"]]] = [2.0, 1.0]
    out[1, 0, SYM["B"]] = 1.0
    out[2, 0, SYM["S"]] = 1.0                                        # wrong
    assert criterion_per_step(out, legal)[:, 0].tolist() == [True, True, False]
    out[0, 0, SYM["X"]] = 1.5                                        # an illegal symbol beats P
    assert not criterion_per_step(out, legal)[0, 0]


def test_reber_batch_masks_padding_and_targets_are_next_symbols():
    b = EmbeddedReber().sample(16, rng())
    for k, s in enumerate(b.extra["strings"]):
        n = len(s) - 1
        assert b.lengths[k] == n
        assert "".join("BTPSXVE"[i] for i in b.x[:n, k].argmax(-1)) == s[:-1]
        assert "".join("BTPSXVE"[i] for i in b.target[:n, k]) == s[1:]
        assert np.all(b.target[n:, k] == -100)


# -- the network -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,readout", [("lstm", "last"), ("gru", "all"), ("rnn", "last")])
def test_task_net_backward_matches_finite_differences(kind, readout):
    g = rng(5)
    net = TaskNet(kind, 3, 4, 2, readout, seed=1, dtype=np.float64)
    x = g.standard_normal((6, 3, 3))
    lengths = np.array([6, 4, 2])
    R = g.standard_normal((3, 2) if readout == "last" else (6, 3, 2))
    if readout == "all":
        R[4:, 1] = 0
        R[2:, 2] = 0                                                 # padded steps carry no loss

    def f():
        return float(np.sum(net(x, lengths) * R))

    f()
    net.backward(R)
    for name, p in net.parameters().items():
        analytic = net.grads[name].copy()
        assert max_rel_error(analytic, numeric_grad(f, p)) < 1e-7, name


# -- training --------------------------------------------------------------------------------------------------

def test_lstm_learns_a_short_adding_problem_and_reports_beside_the_baseline():
    r = run_task("adding", "lstm", length=10, steps=300, hidden=16, batch=32, lr=1e-2, eval_every=50,
                 val_size=256, test_size=512, progress=False, stop_when_solved=False, seed=0)
    losses = [h["loss"] for h in r.history]
    assert np.mean(losses[-30:]) < 0.25 * np.mean(losses[:30])
    assert r.metrics["test_mse"] < 0.05 and r.baseline.value == pytest.approx(1 / 6)
    s = r.summary()
    assert s["test_mse"] == r.metrics["test_mse"] and s["baseline"] == pytest.approx(1 / 6)
    assert s["steps"] == 300 and s["forget_bias"] == 1.0


def test_lstm_meets_the_1997_reber_criterion_and_runs_are_deterministic():
    a = run_task("reber", "lstm", steps=800, test_size=256, progress=False, seed=1)
    assert a.solved and a.metrics["test_accuracy"] == 1.0 and a.metrics["test_strings"] == 256
    assert a.steps < 800                                             # stopped once the validation set was solved
    b = run_task("reber", "lstm", steps=200, progress=False, seed=1, stop_when_solved=False)
    c = run_task("reber", "lstm", steps=200, progress=False, seed=1, stop_when_solved=False)
    assert [h["loss"] for h in b.history] == [h["loss"] for h in c.history]


def test_run_task_refuses_unknown_names():
    with pytest.raises(ValueError, match="task must be one of"):
        run_task("parity", "lstm")
    with pytest.raises(ValueError, match="model must be one of"):
        run_task("adding", "transformer")


# -- the commands ------------------------------------------------------------------------------------------------

def test_cli_tasks_run_prints_one_json_line_last(capsys):
    assert main(["tasks", "run", "adding", "--model", "rnn", "--length", "8", "--steps", "20", "--hidden", "8",
                 "--json", "--seed", "2"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    data = json.loads(out[-1])
    assert data["model"] == "rnn" and data["length"] == 8 and data["steps"] == 20
    assert data["baseline"] == pytest.approx(1 / 6) and "test_mse" in data
    assert "baseline" in out[0] or any("baseline" in line for line in out[:-1])


def test_cli_tasks_compare_writes_learning_curves(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "curves.png"
    assert main(["tasks", "compare", "copy", "--length", "5", "--steps", "20", "--hidden", "8", "--models",
                 "lstm,rnn", "--out", str(png), "--json", "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["model"] for r in data["results"]] == ["lstm", "rnn"]
    assert all(r["steps"] == 20 and "test_loss" in r for r in data["results"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv,message", [
    (["tasks", "run", "reber", "--length", "20"], "has its own sequence lengths"),
    (["tasks", "compare", "adding", "--models", "lstm,cnn"], "--models must be"),
    (["tasks", "run", "adding", "--steps", "0"], "expected a positive integer"),
    (["tasks", "run", "adding", "--length", "1"], "--length must be at least 2 for adding"),
    (["tasks", "compare", "adding", "--out", "c.jpg"], "--out must name a PNG file ending in .png, got c.jpg"),
])
def test_cli_tasks_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_learning_curves_mark_each_validation_and_name_the_metric_once(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from lstm.viz import figures

    r = run_task("adding", "lstm", length=8, steps=5, hidden=4, eval_every=100, val_size=16, test_size=16,
                 progress=False)
    assert len(r.curve) == 1                               # fewer steps than eval_every: one validation, at the end
    shown = {}
    monkeypatch.setattr(figures, "_save", lambda fig, path: shown.setdefault("fig", fig))
    figures.learning_curves([r], tmp_path / "c.png")
    ax = shown["fig"].axes[0]
    line = ax.get_lines()[0]
    assert line.get_marker() == "o" and list(line.get_xdata()) == [5]      # a lone point is drawn, not lost
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == f"LSTM (test mse {r.metrics['test_mse']:.4g})"
