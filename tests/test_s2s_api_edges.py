"""Seq2Seq through its Python API as a user drives it: beam search against an exhaustive search, and hostile
arguments (each refused with one line saying what was expected and what was given)."""


import numpy as np
import pytest
from sklearn.base import clone

import lstm
from lstm.models import NotFittedError, Seq2Seq
from lstm.models.seq2seq import BOS_ID, EOS_ID, PAD_ID, Seq2SeqNet, pad_batch
from lstm.models.seq2seq_search import beam_search
from test_seq2seq import exhaustive_best

PAIRS = [(s, s[::-1]) for s in ["ab", "abc", "ba", "cab", "bca", "acb", "cc", "abcab"] * 3]


def tiny(**kw):
    args = dict(hidden_size=8, embedding_dim=4, batch_size=8, steps=12, eval_every=6, seed=0)
    args.update(kw)
    return Seq2Seq(**args)


@pytest.fixture(scope="module")
def model():
    return tiny().fit(PAIRS, progress=False)


def one_line(err) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


# -- beam search -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(20, 30))
def test_a_beam_wider_than_the_first_steps_choices_searches_everything(seed):
    # 64 slots, 4 tokens it may emit, 3 steps: every output fits in the beam.  The beam used to shrink to the
    # number of live hypotheses after the first step (3 here) instead of K − finished, so it missed optima
    # (seed 23 returned "</s>" at log p −3.69 over [6, </s>] at −3.52)
    net = Seq2SeqNet(8, 7, 4, 6, 1, True, "none", seed=seed, dtype=np.float64)
    for p in net.parameters().values():
        p *= 3.0                                     # peaky: the best path is rarely the locally best one
    src, src_len = pad_batch([[4, 5, 6]])
    for alpha in (0.0, 1.0, 5.0):
        _, logp, seq = exhaustive_best(net, src, src_len, 3, alpha, allowed=[EOS_ID, 4, 5, 6])
        got = beam_search(net, src, src_len, beam=64, bos=BOS_ID, eos=EOS_ID, max_len=3, alpha=alpha,
                          keep_greedy=False, banned=(0, PAD_ID, BOS_ID))[0]
        assert got.tokens == seq and got.logp == pytest.approx(logp, abs=1e-12)


def test_beam_one_is_greedy_and_wide_beams_score_their_output_as_teacher_forcing_does(model):
    sources = ["ab", "abc", "cab", "abcab"]
    greedy = model.search(sources)
    for g, b in zip(greedy, model.search(sources, beam=1, use_beam_search=True)):
        assert g.tokens == b.tokens and g.logp == b.logp
    assert model.translate(sources, beam=1) == [model._text(h.tokens) for h in greedy]
    for alpha in (0.0, 1.0):
        greedy = model.search(sources, length_penalty=alpha)
        for K in (3, 100):                                               # 100: wider than the vocabulary
            for s, h, g in zip(sources, model.search(sources, beam=K, length_penalty=alpha), greedy):
                assert h.score == pytest.approx(h.logp / ((5 + len(h.tokens)) / 6) ** alpha)
                assert h.score >= g.score
                if h.finished:
                    assert model.log_prob([(s, model._text(h.tokens))])[0] == pytest.approx(h.logp, abs=1e-4)


def test_saved_and_cloned_models_behave_the_same(model, tmp_path):
    again = lstm.load(lstm.save(model, tmp_path / "m.lstm"))
    assert again.translate(["ab", "cab"], beam=3) == model.translate(["ab", "cab"], beam=3)
    np.testing.assert_array_equal(again.log_prob(PAIRS[:4]), model.log_prob(PAIRS[:4]))
    fresh = clone(model)
    assert fresh.get_params() == model.get_params()
    for call in (lambda: fresh.translate("ab"), lambda: fresh.score(PAIRS), lambda: fresh.log_prob(PAIRS)):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call()


# -- defects found ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("texts", [None, 5, b"ab"])
def test_translate_refuses_what_is_not_text_in_one_line(model, texts):
    # None and 5 failed with "'NoneType' object is not iterable"; bytes with "input 0 must be a string, got int"
    with pytest.raises(TypeError, match=rf"texts must be one string or a list of strings, got "
                                        rf"{type(texts).__name__}") as err:
        model.translate(texts)
    one_line(err)
    with pytest.raises(TypeError, match="text must be one string, got list"):
        model.attention_trace(["ab"])
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):     # range() arg 3 …
        model.search(["ab"], batch_size=0)


@pytest.mark.parametrize("method", ["score", "log_prob"])
@pytest.mark.parametrize("pairs, says", [
    ([("ab",)], r"pair 0 must be a \(source, target\) pair of strings, got \('ab',\)"),
    ([("ab", "ba"), ("ab", "ba", "x")], r"pair 1 must be a \(source, target\) pair of strings"),
    ([("ab", 5)], r"pair 0 must be a \(source, target\) pair of strings, got \('ab', 5\)"),
    ("ab", r"pairs must be a list of \(source, target\) strings, got str"),
])
def test_scoring_refuses_malformed_pairs_in_one_line(model, method, pairs, says):
    # failed with "not enough values to unpack (expected 2, got 1)"; score with a target of 5 returned 0.0
    with pytest.raises(TypeError, match=says) as err:
        getattr(model, method)(pairs)
    one_line(err)


def test_log_prob_refuses_a_target_the_model_cannot_produce(model):
    # returned log p(<unk>) as if it were the target's log-probability
    with pytest.raises(ValueError, match=r"pair 1: the target holds 1 char the model never saw: 'z'; it cannot "):
        model.log_prob([("ab", "ba"), ("ab", "bz")])
    lp = model.log_prob([("ab", "bz"), ("ab", "b?")], errors="replace")
    assert np.isfinite(lp).all() and lp[0] == lp[1]                   # both read as "b<unk>"
    assert model.log_prob([("ab", "")])[0] < 0                       # an empty target: log p(</s>)


def test_validation_pairs_are_named_as_such_and_an_empty_iterable_holds_nothing_out():
    with pytest.raises(TypeError, match=r"^validation pair 0 must be a \(source, target\) pair"):
        tiny(steps=1).fit(PAIRS, validation=[("ab",)], progress=False)
    with pytest.raises(ValueError, match=r"^validation pair 0: the target side is empty"):
        tiny(steps=1).fit(PAIRS, validation=[("ab", "")], progress=False)
    m = tiny(steps=2).fit(PAIRS, validation=iter([]), progress=False)      # was "fit needs at least one pair"
    assert m.validation_ == [] and m.n_train_pairs_ == len(PAIRS)


@pytest.mark.parametrize("param, value", [
    ("seed", None), ("seed", "x"), ("seed", -1), ("seed", 1.5),    # int()'s and NumPy's words, not naming seed
    ("bidirectional", "no"),                                        # a truthy string silently made it bidirectional
    ("val_fraction", "0.1"),                                        # "'<=' not supported between …"
])
def test_fit_refuses_a_hostile_parameter_naming_it(param, value):
    with pytest.raises((TypeError, ValueError), match=rf"^{param} must be .*got {value!r}$") as err:
        tiny(**{param: value}).fit(PAIRS, progress=False)
    one_line(err)


def test_the_tightened_checks_still_take_numpy_values():
    m = tiny(seed=np.int64(2), bidirectional=np.bool_(False), val_fraction=np.float64(0.2), steps=2)
    assert isinstance(m.fit(PAIRS, progress=False).translate("ab"), str)
