"""PyTorch weight exchange: lstm → torch → lstm bit for bit, outputs equal to 1e-10 in float64, clear refusals."""

import sys

import numpy as np
import pytest

from lstm.data.text import Vocabulary
from lstm.io import MissingDependencyError, from_torch, to_torch, to_torch_state_dict
from lstm.models import LanguageModel, LanguageModelNet
from lstm.nn import GRU, LSTM, RNN

torch = pytest.importorskip("torch")

# (class, num_layers, options): layers 1–3, bidirectional, projection, no bias, batch_first, both RNN nonlinearities
CONFIGS = [
    (LSTM, 1, {}),
    (LSTM, 2, {"bidirectional": True}),
    (LSTM, 3, {"proj_size": 3}),
    (LSTM, 2, {"proj_size": 2, "bidirectional": True, "batch_first": True}),
    (LSTM, 1, {"bias": False}),
    (GRU, 1, {}),
    (GRU, 3, {"bidirectional": True}),
    (GRU, 2, {"batch_first": True, "bias": False}),
    (RNN, 1, {"nonlinearity": "tanh"}),
    (RNN, 2, {"nonlinearity": "relu", "bidirectional": True}),
    (RNN, 3, {"nonlinearity": "relu", "batch_first": True}),
]


def _ids(config):
    cls, layers, opts = config
    return f"{cls.__name__}-{layers}-" + "-".join(f"{k}={v}" for k, v in opts.items())


def _layer(cls, layers, opts, seed=0):
    layer = cls(4, 5, layers, dtype=np.float64, seed=seed, **opts).eval()
    rng = np.random.default_rng(seed + 100)
    for value in layer.parameters().values():               # non-zero, non-PyTorch-init values: catch any mix-up
        value[...] = rng.uniform(-0.6, 0.6, value.shape)
    return layer


def _inputs(layer, T=6, B=3, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, layer.input_size) if layer.batch_first else (T, B, layer.input_size))
    rows = layer.num_layers * layer.num_directions
    h0 = rng.normal(size=(rows, B, layer.output_size))
    c0 = rng.normal(size=(rows, B, layer.hidden_size)) if isinstance(layer, LSTM) else None
    return x, h0, c0


def _torch_run(mod, x, h0, c0, lengths=None):
    tx, th = torch.from_numpy(x), torch.from_numpy(h0)
    state = (th, torch.from_numpy(c0)) if c0 is not None else th
    with torch.no_grad():
        if lengths is None:
            y, st = mod(tx, state)
        else:
            packed = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.from_numpy(lengths), mod.batch_first,
                                                             enforce_sorted=False)
            y, st = mod(packed, state)
            T = x.shape[1] if mod.batch_first else x.shape[0]
            y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, mod.batch_first, total_length=T)
    st = st if isinstance(st, tuple) else (st,)
    return y.numpy(), [s.numpy() for s in st]


@pytest.mark.parametrize("config", CONFIGS, ids=_ids)
def test_round_trip_is_bit_identical_and_outputs_match_torch(config):
    layer = _layer(*config)
    mod = to_torch(layer)
    assert isinstance(mod, {LSTM: torch.nn.LSTM, GRU: torch.nn.GRU, RNN: torch.nn.RNN}[config[0]])
    assert all(p.dtype == torch.float64 for p in mod.parameters())
    assert not mod.training
    back = from_torch(mod)
    assert type(back) is type(layer) and back.dtype == np.float64
    assert repr(back) == repr(layer)
    ours, theirs = layer.state_dict(), back.state_dict()
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert np.array_equal(ours[name], theirs[name]), name      # bit-identical

    x, h0, c0 = _inputs(layer)
    lengths = np.array([6, 2, 4])
    for lens in (None, lengths):
        y, st = layer(x, (h0, c0) if c0 is not None else h0, lengths=lens)
        ty, tst = _torch_run(mod, x, h0, c0, lens)
        np.testing.assert_allclose(y, ty, rtol=0, atol=1e-10)
        for a, b in zip(st if isinstance(st, tuple) else (st,), tst):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("config", CONFIGS[::2], ids=_ids)
def test_torch_to_lstm_to_torch_keeps_every_tensor(config):
    cls, layers, opts = config
    torch.manual_seed(3)
    tcls = {LSTM: torch.nn.LSTM, GRU: torch.nn.GRU, RNN: torch.nn.RNN}[cls]
    mod = tcls(4, 5, layers, dtype=torch.float64, **opts)
    again = to_torch(from_torch(mod).eval())
    for (n1, p1), (n2, p2) in zip(mod.state_dict().items(), again.state_dict().items()):
        assert n1 == n2 and torch.equal(p1, p2)
    assert again.batch_first == mod.batch_first and getattr(again, "nonlinearity", None) == \
        getattr(mod, "nonlinearity", None)


def test_float32_modules_give_float32_layers_and_float64_can_be_asked_for():
    mod = torch.nn.GRU(3, 4, 2)
    layer = from_torch(mod)
    assert layer.dtype == np.float32
    wide = from_torch(mod, dtype=np.float64)
    assert wide.dtype == np.float64
    assert np.array_equal(wide.parameters()["weight_hh_l1"], mod.weight_hh_l1.detach().numpy().astype(np.float64))
    half = from_torch(torch.nn.LSTM(3, 4).to(torch.bfloat16))
    assert half.dtype == np.float32


def test_bare_state_dict_infers_the_configuration_and_takes_the_rest_as_keywords():
    torch.manual_seed(0)
    mod = torch.nn.LSTM(3, 6, 2, bidirectional=True, proj_size=2, batch_first=True, dtype=torch.float64)
    sd = {f"encoder.rnn.{k}": v for k, v in mod.state_dict().items()}
    sd["encoder.emb.weight"] = torch.zeros(10, 3)                 # other layers of a bigger model are ignored
    layer = from_torch(sd, batch_first=True)
    assert (layer.input_size, layer.hidden_size, layer.num_layers, layer.proj_size) == (3, 6, 2, 2)
    assert layer.bidirectional and layer.batch_first and layer.dtype == np.float64
    arrays = {k: v.numpy() for k, v in mod.state_dict().items()}  # plain NumPy arrays work as well
    relu = from_torch({k: v for k, v in torch.nn.RNN(3, 4, nonlinearity="relu").state_dict().items()},
                      nonlinearity="relu")
    assert isinstance(relu, RNN) and relu.nonlinearity == "relu"
    assert isinstance(from_torch(arrays), LSTM)
    assert isinstance(from_torch(torch.nn.GRU(3, 4).state_dict(), kind="GRU"), GRU)


def test_state_dict_problems_are_refused_with_reasons():
    lstm_sd = torch.nn.LSTM(3, 4, 2).state_dict()
    with pytest.raises(ValueError, match="several recurrent layers.*prefix="):
        from_torch({**{f"a.{k}": v for k, v in lstm_sd.items()}, **{f"b.{k}": v for k, v in lstm_sd.items()}})
    assert from_torch({**{f"a.{k}": v for k, v in lstm_sd.items()}, "b.weight_ih_l0": lstm_sd["weight_ih_l0"]},
                      prefix="a.").num_layers == 2
    with pytest.raises(ValueError, match="no recurrent weights.*weight_ih_l0"):
        from_torch({"fc.weight": torch.zeros(2, 2)})
    with pytest.raises(ValueError, match=r"kind='GRU'.*a LSTM"):
        from_torch(lstm_sd, kind="GRU")
    with pytest.raises(ValueError, match="skip a layer"):
        from_torch({k.replace("_l1", "_l2"): v for k, v in lstm_sd.items()})
    bad = dict(lstm_sd)
    bad["weight_hh_l1"] = torch.zeros(16, 5)
    with pytest.raises(ValueError, match="shape mismatch for 'weight_hh_l1'"):
        from_torch(bad)
    with pytest.raises(TypeError, match="floating-point"):
        from_torch({k: v.to(torch.int32) for k, v in lstm_sd.items()})
    with pytest.raises(TypeError, match="state dict"):
        from_torch(42)
    with pytest.raises(TypeError, match="to_torch"):
        from_torch(LSTM(3, 4))


@pytest.mark.parametrize("training", [False, True])
def test_a_module_comes_in_with_its_training_mode(training):
    """An eval-mode torch module with dropout between layers gives an eval-mode layer: the same outputs."""
    mod = torch.nn.LSTM(4, 5, num_layers=3, dropout=0.5, dtype=torch.float64).train(training)
    layer = from_torch(mod)
    assert layer.training is training and layer.dropout == 0.5
    if not training:
        x, h0, c0 = _inputs(layer)
        y, (h, c) = layer(x, (h0, c0))
        y_t, (h_t, c_t) = _torch_run(mod, x, h0, c0)
        np.testing.assert_allclose(y, y_t, rtol=0, atol=1e-10)
        np.testing.assert_allclose(c, c_t, rtol=0, atol=1e-10)
    ours = _layer(GRU, 2, {"dropout": 0.3}).train(training)
    assert from_torch(to_torch(ours)).training is training     # lstm -> torch -> lstm keeps the mode too


def test_what_torch_cannot_express_is_refused():
    with pytest.raises(ValueError, match="no peephole connections.*to_onnx"):
        to_torch(LSTM(3, 4, peephole=True))
    with pytest.raises(ValueError, match="coupled input and forget gates"):
        to_torch_state_dict(LSTM(3, 4, coupled=True))
    with pytest.raises(TypeError, match="to_torch_state_dict"):
        to_torch(object())


def _net(dtype, tie, seed=0):
    net = LanguageModelNet(11, 6 if tie else 5, 6, 2, tie_weights=tie, seed=seed, dtype=dtype).eval()
    return net


@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("batch,steps", [(3, 7), (4, 12)], ids=["embedded", "lookup"])
def test_language_model_net_matches_its_torch_twin_in_float64(tie, batch, steps):
    """At 4 × 12 tokens against 11 ids the first layer reads the embedding table through the ids instead."""
    net = _net(np.float64, tie)
    mod = to_torch(net)
    assert [n for n, _ in mod.named_children()] == ["emb", "rnn", "drop", "head"]
    ids = np.random.default_rng(0).integers(0, 11, size=(batch, steps))
    rng = np.random.default_rng(1)
    state = (rng.normal(size=(2, batch, 6)), rng.normal(size=(2, batch, 6)))
    logits, (h, c) = net.forward(ids, state)
    assert net.emb._folded == (batch * steps >= 44)
    with torch.no_grad():
        tl, (th, tc) = mod(torch.from_numpy(ids), tuple(torch.from_numpy(s) for s in state))
    np.testing.assert_allclose(logits, tl.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(h, th.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(c, tc.numpy(), rtol=0, atol=1e-10)
    if tie:
        assert mod.head.weight is mod.emb.weight


def test_language_model_estimator_state_dict_has_torch_names_and_loads_into_torch():
    model = LanguageModel(hidden_size=8, num_layers=2, embedding_dim=8, tie_weights=True, seed=0)
    with pytest.raises(ValueError, match="not fitted"):
        to_torch_state_dict(model)
    model._build(Vocabulary.build("the quick brown fox", "char"))
    sd = to_torch_state_dict(model)
    assert list(sd) == ["emb.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
                        "rnn.weight_ih_l1", "rnn.weight_hh_l1", "rnn.bias_ih_l1", "rnn.bias_hh_l1", "head.weight",
                        "head.bias"]
    assert np.array_equal(sd["head.weight"], sd["emb.weight"])
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    mod = to_torch(model)
    assert list(mod.state_dict()) == list(sd)
    for name, value in mod.state_dict().items():
        assert np.array_equal(value.numpy(), sd[name]), name
    rnn = from_torch(sd)                                          # and the recurrent part comes back out
    assert np.array_equal(rnn.parameters()["weight_hh_l1"], model.net_.rnn.parameters()["weight_hh_l1"])


def test_a_missing_torch_names_the_extra_and_state_dicts_need_no_torch(monkeypatch):
    layer = LSTM(3, 4, seed=0)
    monkeypatch.setitem(sys.modules, "torch", None)             # as if not installed
    with pytest.raises(MissingDependencyError, match=r"pip install lstm\[torch\]"):
        to_torch(layer)
    sd = to_torch_state_dict(layer)
    assert np.array_equal(from_torch(sd).parameters()["weight_ih_l0"], layer.parameters()["weight_ih_l0"])
