"""Hostile and edge input for lstm.inspect: padded batches, unbatched and bidirectional layers, NaN gates,
out-of-range units and spans, bad counts.  Every bad call gives one line saying what was expected."""

import numpy as np
import pytest

from lstm.data.text import builtin_corpus
from lstm.inspect import (correlations, feature_units, match_spans, saturation, saturation_table, select_units,
                          top_contexts, top_steps, trace_layer, trace_text)
from lstm.models import LanguageModel
from lstm.nn import LSTM


def one_line(exc) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_trace_layer_keeps_only_the_real_steps_of_a_padded_sequence():
    g = np.random.default_rng(0)
    layer = LSTM(3, 4, num_layers=2, seed=0)
    x = g.standard_normal((6, 2, 3)).astype(np.float32)
    x[3:, 1] = 0.0                                                   # sequence 1 is 3 steps long, then padding
    tt = trace_layer(layer, x, b=1, lengths=[6, 3])
    assert tt.steps == 3 and tt.tokens == ["0", "1", "2"]
    alone = trace_layer(layer, x[:3, 1:2])                           # the same sequence with no padding at all
    for k in "ifgoch":
        np.testing.assert_allclose(tt.values[k], alone.values[k], rtol=1e-5, atol=1e-6)
    direct = (tt.values["f"] < 0.1).mean(axis=1)                      # padding (zeros) would count as < 0.1
    np.testing.assert_array_equal(saturation(tt)["f"]["left"], direct)
    np.testing.assert_array_equal(saturation(tt)["f"]["left"], saturation(alone)["f"]["left"])


def test_trace_layer_reads_unbatched_batch_first_and_reverse_direction_sequences():
    g = np.random.default_rng(1)
    x = g.standard_normal((5, 2, 3)).astype(np.float32)
    layer = LSTM(3, 4, seed=0)
    _, _, trace = layer(x, return_trace=True)
    one = trace_layer(layer, x[:, 1])                                  # (T, input_size): a sequence of its own
    assert one.steps == 5 and one.values["h"].shape == (1, 5, 4)
    bf = LSTM(3, 4, batch_first=True, seed=0)
    np.testing.assert_allclose(trace_layer(bf, x.transpose(1, 0, 2), b=1).values["c"], trace["c"][:, 0, :, 1],
                               rtol=1e-5, atol=1e-6)
    bi = LSTM(3, 4, bidirectional=True, seed=0)
    _, _, tb = bi(x, return_trace=True)
    np.testing.assert_array_equal(trace_layer(bi, x, direction=1).values["h"], tb["h"][:, 1, :, 0])
    with pytest.raises(ValueError, match=r"direction must be in \[0, 1\]") as e:
        trace_layer(bi, x, direction=2)
    one_line(e)
    with pytest.raises(ValueError, match=r"b must be a sequence index in \[0, 1\].*got 2"):
        trace_layer(layer, x, b=2)
    with pytest.raises(ValueError, match="tokens must hold one entry per step.*5 steps.*got 2"):
        trace_layer(layer, x, tokens="ab")
    with pytest.raises(TypeError, match="layer and unit must be integers"):
        one.unit(0, "h", 1.5)


@pytest.fixture(scope="module")
def lm():
    return LanguageModel(hidden_size=6, num_layers=1, embedding_dim=4, seq_len=10, batch_size=4, steps=2,
                         eval_every=2, seed=0).fit(builtin_corpus()[:3000], progress=False)


def test_trace_text_refuses_a_max_tokens_that_is_not_a_positive_count(lm):
    assert trace_text(lm, "abc", max_tokens=2).tokens == ["a", "b"]
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="max_tokens must be a positive integer") as e:
            trace_text(lm, "abc", max_tokens=bad)
        one_line(e)
    with pytest.raises(ValueError, match="got b'abc'"):
        trace_text(lm, b"abc")


def test_saturation_refuses_nan_gates_no_steps_and_no_gates():
    g = np.random.default_rng(2)
    values = {k: g.random((2, 7, 3)) for k in "ifo"}
    s = saturation(values, low=0.2, high=0.7)
    for k in "ifo":
        np.testing.assert_array_equal(s[k]["left"], (values[k] < 0.2).mean(axis=1))
        np.testing.assert_array_equal(s[k]["right"], (values[k] > 0.7).mean(axis=1))
    values["f"][1, 3, 2] = np.nan
    with pytest.raises(ValueError, match="the f gate holds 1 NaN/inf value") as e:
        saturation(values)
    one_line(e)
    with pytest.raises(ValueError, match="at least one step"):
        saturation({k: np.zeros((1, 0, 3)) for k in "ifo"})
    with pytest.raises(ValueError, match="gates must name at least one gate"):
        saturation(values, gates=())
    assert saturation_table({}) == []


def test_select_and_match_refuse_units_spans_and_shares_outside_the_data():
    h = np.random.default_rng(3).random((10, 4))
    for kwargs, msg in (({"units": [7]}, r"units must be in \[0, 3\].*got \[7\]"),
                        ({"units": [-1]}, r"units must be in \[0, 3\].*got \[-1\]"),     # not unit 3 silently
                        ({"units": [1], "min_share": 0}, r"min_share must be in \(0, 1\]"),
                        ({"units": [1], "min_share": 2}, r"min_share must be in \(0, 1\]"),
                        ({"units": [1], "query": (5, 2)}, "span must satisfy"),
                        ({"units": [1], "threshold": float("nan")}, "threshold must be a finite number")):
        with pytest.raises(ValueError, match=msg) as e:
            match_spans(h, **kwargs)
        one_line(e)
    with pytest.raises(ValueError, match=r"h must be \(T, H\)"):
        select_units(h[:, 0], 0, 3)
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        select_units(h, 0, 3, threshold=float("nan"))


def test_contexts_and_features_refuse_bad_counts_and_shapes():
    v = np.arange(6.0)
    with pytest.raises(ValueError, match="k must be a positive integer, got 1.5"):
        top_steps(v, k=1.5)
    with pytest.raises(ValueError, match=r"values must be one unit's series \(T,\)"):
        top_contexts(v.reshape(3, 2), list("abc"), k=1)
    with pytest.raises(ValueError, match="before and after must be >= 0"):
        top_contexts(v, list("abcdef"), k=1, before=-2)
    with pytest.raises(ValueError, match="top must be a positive integer"):
        feature_units({"h": np.zeros((1, 6, 3))}, {"x": v}, top=-1)
    with pytest.raises(ValueError, match="at least one step"):
        correlations(np.zeros((0, 3)), np.zeros(0))
