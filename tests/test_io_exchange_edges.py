"""Second pass over weight exchange, as a PyTorch / Keras / ONNX user tries it: a functional Keras model, a
Bidirectional whose halves differ, arrays given where flags are expected, and weights of no width."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")   # before Keras is imported anywhere

from lstm.io import from_keras, from_torch, to_keras_weights, to_onnx  # noqa: E402
from lstm.nn import LSTM, RNN  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")


def _keras():
    return pytest.importorskip("keras")


def test_a_functional_keras_model_comes_in_without_its_input_layer():
    keras = _keras()
    inputs = keras.Input((None, 3), dtype="float64")
    outputs = keras.layers.LSTM(4, return_sequences=True, dtype="float64")(inputs)
    model = keras.Model(inputs, outputs)
    layer = from_keras(model).eval()
    x = np.random.default_rng(0).normal(size=(2, 6, 3))
    y, _ = layer(x)
    assert np.abs(y - keras.ops.convert_to_numpy(model(x))).max() < 1e-12


def test_a_keras_model_with_masking_is_refused_naming_the_layer_and_the_fix():
    keras = _keras()
    inputs = keras.Input((None, 3))
    model = keras.Model(inputs, keras.layers.LSTM(4)(keras.layers.Masking()(inputs)))
    with pytest.raises(TypeError, match=r"got Masking.*lengths="):
        from_keras(model)


def test_a_bidirectional_whose_halves_use_different_activations_is_refused():
    keras = _keras()
    b = keras.layers.Bidirectional(
        keras.layers.SimpleRNN(4, return_sequences=True),
        backward_layer=keras.layers.SimpleRNN(4, activation="relu", return_sequences=True, go_backwards=True))
    b.build((None, None, 3))
    with pytest.raises(ValueError, match="one activation"):
        from_keras(b)                       # it came in as tanh both ways: the backward half computed wrongly


def test_keras_refusal_of_a_projection_reads_as_english():
    with pytest.raises(ValueError, match=r"has no projection \(proj_size\)") as err:
        to_keras_weights(LSTM(3, 4, proj_size=2))
    assert "no a " not in str(err.value)


@pytest.mark.parametrize("option", ["lengths", "initial_state"])
def test_onnx_flags_given_arrays_are_refused_with_what_they_mean(option):
    pytest.importorskip("onnx")
    with pytest.raises(TypeError, match=rf"{option} must be True or False.*fed when the model runs"):
        to_onnx(RNN(3, 4), **{option: np.array([3, 2])})


def test_onnx_refusal_of_a_projection_names_it_once():
    pytest.importorskip("onnx")
    with pytest.raises(ValueError, match="proj_size") as err:
        to_onnx(LSTM(3, 4, proj_size=2))
    assert str(err.value).count("proj_size=2") == 1


def test_weights_of_no_width_are_refused_in_one_line():
    with pytest.raises(ValueError, match="hidden size 0"):
        from_torch({"weight_ih_l0": np.zeros((0, 3)), "weight_hh_l0": np.zeros((0, 0))})


def test_a_nonlinearity_that_cannot_apply_is_refused_rather_than_ignored():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="nonlinearity applies to RNN weights.*LSTM"):
        from_torch(torch.nn.LSTM(3, 4).state_dict(), nonlinearity="relu")
    with pytest.raises(ValueError, match="kind='RNN_RELU'.*nonlinearity='tanh'"):
        from_torch(torch.nn.RNN(3, 4).state_dict(), kind="RNN_RELU", nonlinearity="tanh")
    assert from_torch(torch.nn.RNN(3, 4).state_dict(), kind="RNN_RELU").nonlinearity == "relu"
    assert from_torch(torch.nn.RNN(3, 4).state_dict(), kind="RNN", nonlinearity="relu").nonlinearity == "relu"
