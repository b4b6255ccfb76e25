"""LanguageModel through its Python API as a user drives it: sampling semantics, scores, and hostile arguments
(each refused with one line saying what was expected and what was given)."""

import math
import warnings

import numpy as np
import pytest
from sklearn.base import clone

import lstm
from lstm.models import LanguageModel, NotFittedError

TEXT = "the quick brown fox jumps over the lazy dog. " * 30


def tiny(**kw):
    args = dict(hidden_size=8, num_layers=1, seq_len=10, batch_size=4, steps=6, eval_every=3, seed=0)
    args.update(kw)
    return LanguageModel(**args)


@pytest.fixture(scope="module")
def chars():
    return tiny().fit(TEXT, progress=False)


@pytest.fixture(scope="module")
def words():
    return tiny(level="word", seq_len=5, batch_size=2).fit(TEXT, progress=False)


def one_line(err) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


# -- semantics ---------------------------------------------------------------------------------------------------
def test_sampling_is_a_function_of_its_seed_and_limits(chars, words):
    for m in (chars, words):
        first = m.sample(25, prime="the ", seed=4)
        m.sample(40, seed=9)                                            # an unrelated call in between
        assert m.sample(25, prime="the ", seed=4) == first
        assert m.sample(25, top_k=1, seed=1) == m.sample(25, temperature=0) == m.sample(25, temperature=0, seed=7)
        assert m.sample(25, top_k=len(m.vocab_) + 50, seed=3) == m.sample(25, seed=3)     # k beyond V: no limit
        assert m.sample(25, top_p=1, seed=3) == m.sample(25, seed=3)                        # all the mass: no limit
        assert m.sample(25, top_p=1e-9, seed=2) == m.sample(25, temperature=0)              # one token holds it


def test_top_p_samples_the_smallest_set_holding_that_mass_in_proportion():
    p = np.array([0.0, 0.5, 0.3, 0.15, 0.05])           # id 0 is <unk>, never emitted
    logits = np.log(np.maximum(p, 1e-300))
    rng = np.random.default_rng(0)

    def counts(top_p, top_k=None, temperature=1.0):
        picks = [LanguageModel._pick(logits, temperature, top_k, top_p, rng) for _ in range(4000)]
        return np.bincount(picks, minlength=len(p))

    c = counts(0.79)                                      # 0.5 + 0.3 holds 0.79: ids 1 and 2 only
    assert c[0] == c[3] == c[4] == 0 and abs(c[1] / c.sum() - 0.625) < 0.03
    assert set(np.flatnonzero(counts(0.81))) == {1, 2, 3}  # past 0.8: the third joins
    assert set(np.flatnonzero(counts(0.5))) == {1}        # the first token alone holds 0.5
    assert set(np.flatnonzero(counts(0.99, top_k=2))) == {1, 2}                   # top_k first, then the nucleus
    assert set(np.flatnonzero(counts(0.9, temperature=0.1))) == {1}   # after temperature: 0.5 vs 0.3 sharpened


def test_scores_are_nats_with_exact_bits_per_char_and_perplexity(chars, words):
    c = chars.score("the lazy dog")
    assert c["bits_per_char"] == c["nats"] / math.log(2) and "perplexity" not in c
    w = words.score("the lazy dog jumps")
    assert w["perplexity"] == math.exp(w["nats"]) and "bits_per_char" not in w
    assert w["unknown"] == 0 and words.score("the zqxj dog")["unknown"] == 0.5 and "unknown" not in c
    assert chars.score("th")["nats"] > 0                              # two tokens: the least it can score


def test_saved_and_cloned_models_behave_the_same(chars, tmp_path):
    again = lstm.load(lstm.save(chars, tmp_path / "m.lstm"))
    assert again.sample(30, seed=2, top_k=3) == chars.sample(30, seed=2, top_k=3)
    assert again.score("the dog") == chars.score("the dog") and again.get_params() == chars.get_params()
    fresh = clone(chars)
    assert fresh.get_params() == chars.get_params() and not hasattr(fresh, "net_")
    with pytest.raises(NotFittedError, match="not fitted yet"):
        fresh.sample(5)


# -- defects found ---------------------------------------------------------------------------------------------
def test_stream_checks_its_arguments_when_called_not_at_the_first_token(chars):
    # stream was a generator function: stream(-1), an unknown prime or an unfitted model raised nothing until the
    # first next(), far from the call that was wrong
    with pytest.raises(ValueError, match="length must be a positive integer, got -1"):
        chars.stream(-1)
    with pytest.raises(ValueError, match="never saw"):
        chars.stream(5, prime="Zz")
    with pytest.raises(NotFittedError):
        tiny().stream(5)
    assert "".join(chars.stream(12, seed=5)) == chars.sample(12, seed=5)


@pytest.mark.parametrize("temperature", ["1", None, True, [1.0]])
def test_a_temperature_that_is_not_a_number_is_refused_in_one_line(chars, temperature):
    # "1" and None failed with "'<' not supported between instances of 'str' and 'int'"; True was taken as 1
    with pytest.raises(TypeError, match=r"temperature must be a number >= 0 \(0 = most likely token\), got") as err:
        chars.sample(5, temperature=temperature)
    assert repr(temperature) in one_line(err)


@pytest.mark.parametrize("seed", ["a", 1.5, -1])
def test_a_sampling_seed_that_is_not_a_whole_number_is_refused_naming_seed(chars, seed):
    # failed in NumPy's words: "SeedSequence expects int or sequence of ints for entropy not a", "expected
    # non-negative integer" — neither says which argument
    with pytest.raises(ValueError, match=rf"seed must be a whole number >= 0 .*got {seed!r}") as err:
        chars.sample(5, seed=seed)
    one_line(err)


def test_a_prime_with_unseen_characters_names_the_prime_them_and_the_fix(chars, words):
    with pytest.raises(ValueError, match=r"the prime holds 2 char\(s\) the model never saw: 'Z', 'é'; remove them,"):
        chars.sample(5, prime="Zthé")
    with pytest.raises(TypeError, match="the prime must be a str, got bytes"):
        chars.sample(5, prime=b"the")
    assert words.sample(5, prime="the zebra ", seed=1) == words.sample(5, prime="the yak ", seed=1)    # <unk>


@pytest.mark.parametrize("text", ["", "t"])
def test_scoring_too_short_a_text_says_how_many_tokens_it_had(chars, words, text):
    # said only "score needs at least two tokens of text", not what it was given
    for m in (chars, words):
        with pytest.raises(ValueError, match=rf"at least two {m.vocab_.level} tokens .*got {len(text)}; give a"):
            m.score(text)


@pytest.mark.parametrize("param, value", [
    ("embedding_dim", 2.5),          # was silently truncated to 2
    ("embedding_dim", 0),            # was silently read as "the default"
    ("hidden_size", True),           # passed, then failed in Embedding's words about embedding_dim
    ("seq_len", True),
    ("tie_weights", "no"),           # a truthy string silently tied the weights
    ("seed", -1), ("seed", "a"), ("seed", 1.5),          # NumPy's words, not naming seed
    ("val_fraction", "0.1"),         # "'<=' not supported between instances of 'int' and 'str'"
])
def test_fit_refuses_a_hostile_parameter_naming_it(param, value):
    with pytest.raises((TypeError, ValueError), match=rf"^{param} must be .*got {value!r}$") as err:
        tiny(**{param: value}).fit(TEXT, progress=False)
    one_line(err)


def test_the_tightened_checks_still_take_numpy_values_and_none(tmp_path):
    m = tiny(embedding_dim=np.int64(6), seed=np.int64(3), tie_weights=np.bool_(False), val_fraction=np.float64(0.1),
             steps=2).fit(TEXT, progress=False)
    assert m.net_.emb.weight.shape[1] == 6
    assert lstm.load(lstm.save(m, tmp_path / "m.lstm")).sample(10, seed=0) == m.sample(10, seed=0)
    tiny(seed=None, steps=2).fit(TEXT, progress=False)                 # a fresh seed, as in scikit-learn


def test_too_short_a_text_names_the_parameters_a_python_caller_has():
    # named only the command line's --batch / --seq-len
    with pytest.raises(ValueError, match=r"fewer than one batch needs \(4 × 10 \+ 1\); use more text or a smaller "
                                         r"batch_size / seq_len \(--batch / --seq-len\)$") as err:
        tiny().fit(TEXT[:40], progress=False)
    one_line(err)


def test_the_validation_loss_weighs_every_prediction_once_with_a_short_last_chunk(chars):
    """97 ids in 4 rows of 24 positions, seq_len 10: chunks of 10, 10 and 4 steps; the mean is over all 96
    predictions, as one pass over each whole row gives it (a mean of the three chunk means weighted the 4 last
    steps like 10)."""
    from lstm.nn import cross_entropy, no_grad

    ids = chars.vocab_.encode(TEXT[:97])
    rows = ids[:96].reshape(4, 24), ids[1:97].reshape(4, 24)
    with no_grad():
        chars.net_.eval()
        logits, _ = chars.net_.forward(rows[0], None)
        chars.net_.train()
    whole = cross_entropy(logits, rows[1])[0]
    assert chars._mean_loss(ids) == pytest.approx(whole, rel=1e-5)


@pytest.mark.parametrize("top_p", [0, 1.5, -0.1, float("nan"), "0.9", True])
def test_top_p_outside_zero_to_one_is_refused_when_called(chars, top_p):
    with pytest.raises(ValueError, match=r"top_p must be a number in \(0, 1\] \(1 = no limit\), got"):
        chars.stream(5, top_p=top_p)


def test_saving_non_finite_weights_warns_and_still_writes(chars, tmp_path):
    broken = clone(chars).fit(TEXT, progress=False)
    name = next(iter(broken.net_.parameters()))
    broken.net_.parameters()[name][...] = np.nan
    with pytest.warns(RuntimeWarning, match=f"{name} holds NaN or infinite values"):
        path = lstm.save(broken, tmp_path / "nan.lstm")
    assert np.isnan(next(iter(lstm.load(path).net_.parameters().values()))).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                  # a finite model saves without a word
        lstm.save(chars, tmp_path / "fine.lstm")
