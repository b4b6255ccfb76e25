"""ONNX export: onnxruntime runs every exported graph and agrees with lstm to 1e-5 (float32)."""

import json
import sys

import numpy as np
import pytest

import lstm
from lstm.cli import main
from lstm.data.text import Vocabulary
from lstm.io import MissingDependencyError, check_onnx, register_onnx_exporter, run_onnx, to_onnx
from lstm.io.onnx_graph import emit_linear, emit_recurrent
from lstm.models import LanguageModel
from lstm.nn import GRU, LSTM, RNN, Linear

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

STANDARD_OPS = {"LSTM", "GRU", "RNN", "Transpose", "Reshape", "Squeeze", "Slice", "Concat", "Identity", "Cast",
                "Gather", "MatMul", "Add", "Softmax"}

CONFIGS = [
    (LSTM, 1, {}), (LSTM, 2, {}), (LSTM, 3, {"bidirectional": True}), (LSTM, 2, {"batch_first": True}),
    (LSTM, 2, {"peephole": True, "bidirectional": True}), (LSTM, 1, {"coupled": True}),
    (LSTM, 2, {"coupled": True, "peephole": True, "bias": False}),
    (GRU, 1, {}), (GRU, 2, {"bidirectional": True}), (GRU, 3, {"batch_first": True, "bias": False}),
    (RNN, 1, {"nonlinearity": "tanh"}), (RNN, 2, {"nonlinearity": "relu", "bidirectional": True}),
    (RNN, 3, {"nonlinearity": "tanh", "bidirectional": True, "batch_first": True}),
]


def _ids(config):
    cls, layers, opts = config
    return f"{cls.__name__}-{layers}-" + "-".join(f"{k}={v}" for k, v in opts.items())


def _layer(cls, layers, opts, seed=0):
    layer = cls(3, 5, layers, seed=seed, **opts).eval()
    rng = np.random.default_rng(seed + 11)
    for value in layer.parameters().values():                # every weight non-zero and distinct
        value[...] = rng.uniform(-0.8, 0.8, value.shape)
    return layer


def _states(layer, rows_batch):
    rng = np.random.default_rng(5)
    rows, B = rows_batch
    h0 = rng.normal(size=(rows, B, layer.hidden_size)).astype(np.float32)
    c0 = rng.normal(size=(rows, B, layer.hidden_size)).astype(np.float32)
    return (h0, c0) if isinstance(layer, LSTM) else (h0,)


@pytest.mark.parametrize("config", CONFIGS, ids=_ids)
def test_onnxruntime_matches_lstm(config):
    layer = _layer(*config)
    T, B = 7, 4
    rng = np.random.default_rng(1)
    x = rng.normal(size=(B, T, 3) if layer.batch_first else (T, B, 3)).astype(np.float32)
    lengths = np.array([7, 3, 1, 5])
    state = _states(layer, (layer.num_layers * layer.num_directions, B))

    model = to_onnx(layer, lengths=True, initial_state=True)
    assert {n.op_type for n in model.graph.node} <= STANDARD_OPS
    assert all(imp.domain == "" for imp in model.opset_import)
    feeds = {"x": x, "lengths": lengths.astype(np.int64), "h0": state[0]}
    if len(state) == 2:
        feeds["c0"] = state[1]
    got = run_onnx(model, threads=1, **feeds)
    y, st = layer(x, state if len(state) == 2 else state[0], lengths=lengths)
    np.testing.assert_allclose(got["y"], y, rtol=0, atol=1e-5)
    for name, want in zip(("h_n", "c_n"), st if isinstance(st, tuple) else (st,)):
        np.testing.assert_allclose(got[name], want, rtol=0, atol=1e-5)

    plain = to_onnx(layer)                                      # no lengths, zero initial state
    assert [i.name for i in plain.graph.input] == ["x"]
    got = run_onnx(plain, threads=1, x=x)
    np.testing.assert_allclose(got["y"], layer(x)[0], rtol=0, atol=1e-5)


def test_sequence_lens_semantics_padded_outputs_are_zero_and_reverse_state_is_at_the_first_step():
    layer = _layer(GRU, 1, {"bidirectional": True})
    T, B, H = 6, 3, 5
    x = np.random.default_rng(2).normal(size=(T, B, 3)).astype(np.float32)
    lengths = np.array([6, 2, 4])
    got = run_onnx(to_onnx(layer, lengths=True), threads=1, x=x, lengths=lengths)
    y, h = got["y"], got["h_n"]
    for b, n in enumerate(lengths):
        assert not y[n:, b].any()                                            # zeros past each length
        np.testing.assert_allclose(h[0, b], y[n - 1, b, :H], atol=1e-6)      # forward: state at the last real step
        np.testing.assert_allclose(h[1, b], y[0, b, H:], atol=1e-6)          # reverse: state after reaching t = 0
        alone = layer(x[:n, b:b + 1])[0]                                     # same as running the sequence alone
        np.testing.assert_allclose(y[:n, b], alone[:, 0], atol=1e-5)


def test_projection_is_refused_and_float64_graphs_are_valid():
    with pytest.raises(ValueError, match="no projection"):
        to_onnx(LSTM(3, 5, proj_size=2))
    with pytest.raises(TypeError, match="to_onnx exports"):
        to_onnx(Linear(3, 2))
    model = to_onnx(LSTM(3, 5, 2, dtype=np.float64), dtype=np.float64)      # onnxruntime runs float32 recurrences
    onnx.checker.check_model(model)
    assert model.graph.initializer[0].data_type == onnx.TensorProto.DOUBLE


def test_written_file_loads_and_runs(tmp_path):
    layer = _layer(LSTM, 2, {"bidirectional": True})
    path = to_onnx(layer, tmp_path / "sub" / "layer.onnx")
    assert path.exists() and not list(path.parent.glob(".*tmp*"))
    onnx.checker.check_model(onnx.load(str(path)))
    x = np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(path, x=x)["y"], layer(x)[0], atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# The character model: embedding, LSTM stack, softmax head
# ---------------------------------------------------------------------------------------------------------------

TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n"


def _char_model(tie=False, layers=2):
    model = LanguageModel(hidden_size=12, num_layers=layers, embedding_dim=12 if tie else 6, tie_weights=tie, seed=0)
    model._build(Vocabulary.build(TEXT, "char"))
    model.net_.eval()
    return model


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("tie,layers", [(False, 1), (False, 2), (True, 3)])
def test_char_model_probabilities_and_states_match(tie, layers):
    model = _char_model(tie, layers)
    net = model.net_
    ids = model.vocab_.encode("the lazy dog jumps")[None].repeat(2, 0)
    ids[1] = ids[1][::-1]
    rng = np.random.default_rng(3)
    state = tuple(rng.normal(size=(layers, 2, 12)).astype(np.float32) for _ in range(2))
    onnx_model = to_onnx(model, logits=True)
    assert [i.name for i in onnx_model.graph.input] == ["ids", "h0", "c0"]
    assert [o.name for o in onnx_model.graph.output] == ["probs", "logits", "h_n", "c_n"]
    got = run_onnx(onnx_model, threads=1, ids=ids, h0=state[0], c0=state[1])
    logits, (h, c) = net.forward(ids, state)
    np.testing.assert_allclose(got["logits"], logits, atol=1e-5)
    np.testing.assert_allclose(got["probs"], _softmax(logits.astype(np.float64)), atol=1e-5)
    np.testing.assert_allclose(got["probs"].sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got["h_n"], h, atol=1e-5)
    np.testing.assert_allclose(got["c_n"], c, atol=1e-5)
    meta = {p.key: p.value for p in onnx_model.metadata_props}
    assert json.loads(meta["lstm.vocab"]) == model.vocab_.tokens and meta["lstm.level"] == "char"
    assert check_onnx(model, onnx_model) < 1e-5
    dims = [tuple(init.dims) for init in onnx_model.graph.initializer]
    V = len(model.vocab_)
    if tie:                                                        # one table serves input and output
        assert dims.count((V, 12)) == 1 and (12, V) not in dims
    else:
        assert (V, 6) in dims and (12, V) in dims


def test_char_model_streams_one_character_at_a_time_in_onnxruntime():
    model = _char_model()
    onnx_model = to_onnx(model)
    ids = model.vocab_.encode("pack my box")[None]
    whole = run_onnx(onnx_model, ids=ids, h0=np.zeros((2, 1, 12), np.float32), c0=np.zeros((2, 1, 12), np.float32))
    h = c = np.zeros((2, 1, 12), np.float32)
    from lstm.io.onnx_export import onnx_session
    sess = onnx_session(onnx_model, threads=1)
    for t in range(ids.shape[1]):
        probs, h, c = sess.run(["probs", "h_n", "c_n"], {"ids": ids[:, t:t + 1], "h0": h, "c0": c})
        np.testing.assert_allclose(probs[0, 0], whole["probs"][0, t], atol=1e-5)
    np.testing.assert_allclose(h, whole["h_n"], atol=1e-5)


def test_char_model_without_state_inputs_starts_from_zeros():
    model = _char_model()
    onnx_model = to_onnx(model, initial_state=False)
    assert [i.name for i in onnx_model.graph.input] == ["ids"]
    ids = model.vocab_.encode("five dozen")[None]
    np.testing.assert_allclose(run_onnx(onnx_model, ids=ids)["probs"],
                               _softmax(model.net_.forward(ids)[0].astype(np.float64)), atol=1e-5)
    with pytest.raises(ValueError, match="not fitted"):
        to_onnx(LanguageModel())


# ---------------------------------------------------------------------------------------------------------------
# Estimators add their own heads
# ---------------------------------------------------------------------------------------------------------------

class LastStepRegressor:
    """A stand-in for a forecaster: LSTM over (B, T, F), a Linear head on the last step."""

    def __init__(self):
        self.rnn = LSTM(3, 6, 2, batch_first=True, seed=0).eval()
        self.head = Linear(6, 2, seed=1)

    def predict(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def _check_last_step(model, sess, rng, batch, steps):
    x = rng.normal(size=(batch, steps, 3)).astype(np.float32)
    return float(np.abs(sess.run(["forecast"], {"x": x})[0] - model.predict(x)).max())


@register_onnx_exporter("LastStepRegressor", check=_check_last_step)
def _export_last_step(model, g, **options):
    x = g.input("x", "float", ["batch", "time", 3])
    xt = g.node("Transpose", [x], perm=[1, 0, 2])                            # (T, B, F)
    y, _ = emit_recurrent(g, model.rnn, xt)                                  # (T, B, H)
    last = g.node("Gather", [y, g.const("last", np.array(-1))], axis=0)     # (B, H)
    g.output(emit_linear(g, model.head, last), "forecast", "float", ["batch", 2])


def test_an_estimator_can_register_its_own_head():
    model = LastStepRegressor()
    x = np.random.default_rng(0).normal(size=(4, 9, 3)).astype(np.float32)
    got = run_onnx(to_onnx(model), x=x)["forecast"]
    np.testing.assert_allclose(got, model.predict(x), atol=1e-5)
    assert check_onnx(model, to_onnx(model)) < 1e-5
    with pytest.raises(TypeError, match="no check for"):
        check_onnx(object(), to_onnx(model))


# ---------------------------------------------------------------------------------------------------------------
# lstm export
# ---------------------------------------------------------------------------------------------------------------

def test_export_command_writes_onnx_and_torch_safetensors(tmp_path, capsys):
    model = _char_model()
    src = lstm.save(model, tmp_path / "model.safetensors")
    out, pt = tmp_path / "m.onnx", tmp_path / "m-torch.safetensors"
    assert main(["export", str(src), "--onnx", str(out), "--torch-safetensors", str(pt)]) == 0
    text = capsys.readouterr().out
    assert "inputs ids, h0, c0; outputs probs, h_n, c_n" in text and "onnxruntime agrees with lstm" in text
    assert "lstm.io.to_torch(lstm.load(MODEL)) builds a matching module" in text
    ids = model.vocab_.encode("the dog")[None]
    zeros = np.zeros((2, 1, 12), np.float32)
    np.testing.assert_allclose(run_onnx(out, ids=ids, h0=zeros, c0=zeros)["probs"],
                               _softmax(model.net_.forward(ids)[0].astype(np.float64)), atol=1e-5)
    from safetensors import safe_open
    with safe_open(str(pt), "np") as f:
        assert f.metadata()["format"] == "pt"
        assert json.loads(f.metadata()["lstm.vocab"]) == model.vocab_.tokens
        assert np.array_equal(f.get_tensor("rnn.weight_hh_l1"), model.net_.rnn.parameters()["weight_hh_l1"])
        assert set(f.keys()) == set(model.net_.state_dict())


@pytest.mark.parametrize("argv,message", [
    ([], "nothing to write"),
    (["--onnx", "{src}"], "is the model file itself"),
    (["--onnx", "x.onnx", "--opset", "9"], "opset"),
])
def test_export_command_refuses_bad_input_in_one_line(tmp_path, capsys, argv, message):
    src = lstm.save(_char_model(), tmp_path / "model.safetensors")
    argv = [a.replace("{src}", str(src)).replace("x.onnx", str(tmp_path / "x.onnx")) for a in argv]
    assert main(["export", str(src)] + argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert main(["export", str(tmp_path / "missing.safetensors"), "--onnx", str(tmp_path / "y.onnx")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_missing_onnx_names_the_extra_to_install(tmp_path, capsys, monkeypatch):
    src = lstm.save(_char_model(), tmp_path / "model.safetensors")
    monkeypatch.setitem(sys.modules, "onnx", None)              # as if not installed
    with pytest.raises(MissingDependencyError, match=r"pip install lstm\[onnx\]"):
        to_onnx(LSTM(3, 4))
    assert main(["export", str(src), "--onnx", str(tmp_path / "m.onnx")]) == 2
    assert "pip install lstm[onnx]" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("cls", [LSTM, GRU, RNN])
def test_float64_graphs_that_onnxruntime_cannot_run_say_so_in_one_line(cls, capfd):
    layer = cls(3, 4, dtype=np.float64, seed=0)
    model = to_onnx(layer, dtype=np.float64)                    # valid ONNX; onnxruntime's CPU kernels lack it
    capfd.readouterr()
    with pytest.raises(RuntimeError, match=r"cannot run this model .*run float32 only: export with dtype='float32'"):
        check_onnx(layer, model)
    err = capfd.readouterr().err                                # only our exception reports it, not onnxruntime's log
    assert "onnxruntime" not in err and "does not support double" not in err, err
    assert check_onnx(layer, to_onnx(layer, dtype=np.float32)) < 1e-5


def test_an_option_the_export_does_not_take_is_named_with_those_it_does():
    with pytest.raises(TypeError, match=r"an LSTM layer has no option logits; it takes lengths, initial_state"):
        to_onnx(LSTM(3, 4), logits=True)
    lm = LanguageModel(hidden_size=8, num_layers=1, seq_len=10, batch_size=2, steps=2).fit("hello world, " * 30,
                                                                                          progress=False)
    with pytest.raises(TypeError, match=r"a LanguageModel has no option lengths; it takes initial_state, logits"):
        to_onnx(lm, lengths=True)
