"""‖∂L/∂h_t‖ against lag: measured with the layers' own backward, checked against PyTorch autograd, and the
vanishing gradient itself — a tanh RNN's falls by orders of magnitude over 100 steps, a trained LSTM's does not."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from lstm.cli import main
from lstm.inspect.gradients import gradient_study, lag_profile
from lstm.tasks import AddingProblem, TaskNet
from lstm.tasks.net import load_task_net, save_task_net

MODELS = Path(__file__).resolve().parents[1] / "benchmarks" / "models"


def torch_lag_norms(net: TaskNet, batch, lags):
    """The same quantity by PyTorch autograd: a cell loop in float64, h_t.retain_grad() at every step."""
    torch = pytest.importorskip("torch")
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in net.state_dict().items()}
    x = torch.tensor(batch.x, dtype=torch.float64)
    T, B, _ = x.shape
    H = net.rnn.hidden_size
    h = torch.zeros(B, H, dtype=torch.float64)
    c = torch.zeros(B, H, dtype=torch.float64)
    hs = []
    for t in range(T):
        z = x[t] @ p["rnn.weight_ih_l0"].T + p["rnn.bias_ih_l0"] + h @ p["rnn.weight_hh_l0"].T + p["rnn.bias_hh_l0"]
        if net.kind == "lstm":
            i, f, g, o = z.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        else:
            h = torch.tanh(z)
        h.retain_grad()
        hs.append(h)
    out = hs[-1] @ p["head.weight"].T + p["head.bias"]
    loss = torch.mean((out[:, 0] - torch.tensor(batch.target, dtype=torch.float64)) ** 2)
    loss.backward()
    return np.array([hs[T - 1 - lag].grad.norm(dim=1).mean().item() for lag in lags])


@pytest.mark.parametrize("kind", ["lstm", "rnn"])
def test_lag_profile_equals_pytorch_autograd(kind):
    task = AddingProblem(12)
    batch = task.sample(3, np.random.default_rng(0))
    net = TaskNet(kind, 2, 5, 1, "last", seed=3, forget_bias=1.0)
    lags = list(range(12))
    prof = lag_profile(net, task, batch, lags=lags)
    np.testing.assert_allclose(prof.norms, torch_lag_norms(net, batch, lags), rtol=1e-9)
    assert prof.lags.tolist() == lags and (prof.cell_norms is not None) == (kind == "lstm")


def test_lag_profile_refuses_what_it_cannot_measure():
    task = AddingProblem(10)
    net = TaskNet("lstm", 2, 4, 1, "all", seed=0)
    with pytest.raises(ValueError, match="read at the last step"):
        lag_profile(net, task, task.sample(2, np.random.default_rng(0)))
    net = TaskNet("lstm", 2, 4, 1, "last", seed=0)
    with pytest.raises(ValueError, match="lags must lie in"):
        lag_profile(net, task, task.sample(2, np.random.default_rng(0)), lags=[0, 10])


def test_rnn_gradient_vanishes_over_100_steps_at_initialisation():
    study = gradient_study(("rnn", "lstm"), length=120, steps=0, lags=[0, 10, 60, 110])
    rnn = study.get("rnn", "initialisation")
    assert rnn.ratio(110, start=10) < 1e-6           # six orders of magnitude and more
    assert np.all(np.diff(np.log(rnn.norms)) < 0)


def _trained(kind):
    path = MODELS / f"adding_{kind}_T200.safetensors"
    if not path.exists():
        pytest.skip(f"{path.name} not built (python benchmarks/bench_gradients.py)")
    return load_task_net(path)


def test_after_training_on_adding_the_lstm_gradient_survives_100_steps_and_the_rnn_gradient_does_not():
    lstm_net, meta = _trained("lstm")
    rnn_net, rnn_meta = _trained("rnn")
    assert meta["test_mse"] < 0.01 and rnn_meta["test_mse"] > 0.1     # what each learned (see bench_gradients.py)
    task = AddingProblem(200)
    probe = task.sample(32, np.random.default_rng([0, 4]))
    lstm_prof = lag_profile(lstm_net, task, probe, lags=[10, 110])
    rnn_ratio = lag_profile(rnn_net, task, probe, lags=[10, 110]).ratio(110, start=10)
    assert rnn_ratio < 1e-6, rnn_ratio                                  # orders of magnitude over 100 steps
    assert lstm_prof.ratio(110, start=10) > 1e-1, lstm_prof.norms       # not so for the LSTM
    assert lstm_prof.ratio(110, start=10, cell=True) > 0.5              # the cell's error carousel


def test_task_net_files_round_trip(tmp_path):
    net = TaskNet("gru", 3, 4, 2, "all", seed=1)
    path = save_task_net(net, tmp_path / "n.safetensors", meta={"note": "x"})
    back, meta = load_task_net(path)
    assert meta == {"note": "x"} and back.kind == "gru" and back.readout == "all"
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v)


def test_cli_gradients_writes_the_plot_and_json(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "g.png"
    assert main(["gradients", "--length", "120", "--steps", "0", "--out", str(out), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    data = json.loads(lines[-1])
    assert (data["start"], data["lag"]) == (10, 110) and data["ratios"]["rnn_initialisation"] < 1e-6
    assert {p["model"] for p in data["profiles"]} == {"rnn", "lstm"}
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["gradients", "--steps", "-1"]) == 2


def test_cli_gradients_measures_the_cell_from_lag_5_when_the_span_starts_at_lag_0(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # no division by the zero cell gradient at lag 0
        assert main(["gradients", "--length", "30", "--steps", "0", "--out", str(tmp_path / "g.png")]) == 0
    line = [v for v in capsys.readouterr().out.splitlines() if v.startswith("  LSTM")][0]
    ratio = float(line.split("relative to lag 5: ")[1].rstrip(")"))
    assert 0 < ratio < 1
    study = gradient_study(("lstm",), length=30, steps=0)
    with pytest.raises(ValueError, match="is 0 at lag 0"):
        study.profiles[0].ratio(25, 0, cell=True)


def test_cli_gradients_refuses_a_directory_as_out_before_measuring(tmp_path, capsys):
    assert main(["gradients", "--length", "30", "--steps", "0", "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and f"--out {tmp_path} is a directory" in captured.err


@pytest.mark.slow
def test_training_from_scratch_reproduces_the_gradient_gap():
    study = gradient_study(("rnn", "lstm"), length=200, steps=3000, lags=[10, 110])
    assert study.training["lstm"]["test_mse"] < 0.01
    assert study.get("rnn", "trained").ratio(110, 10) < 1e-6 < 1e-1 < study.get("lstm", "trained").ratio(110, 10)
