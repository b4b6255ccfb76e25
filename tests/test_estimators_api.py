"""The estimators as a scikit-learn / Keras user meets them: input shapes, set_params after fit, model selection
with NumPy grids, one-line errors for misuse."""

import numpy as np
import pytest

import lstm
from lstm.models import LanguageModel, LSTMClassifier, LSTMForecaster, NotFittedError, Seq2Seq

TINY_CLF = dict(hidden_size=4, epochs=2, batch_size=16)
TINY_FC = dict(hidden_size=8, steps=20, batch_size=16)


def walks(n=40, seed=0):
    """Padded (n, 6, 2) random walks, all of length 6; label = the sign of the drift."""
    rng = np.random.default_rng(seed)
    up = np.arange(n) % 2 == 1
    X = np.cumsum(rng.normal(size=(n, 6, 2)) * 0.5 + np.where(up, 0.4, -0.4)[:, None, None], axis=1)
    return X, np.where(up, "up", "down")


def monthly(n=120):
    t = np.arange(n)
    return 10 + np.sin(2 * np.pi * t / 12) + 0.01 * t


@pytest.fixture(scope="module")
def point_forecaster():
    return LSTMForecaster(horizon=3, season=12, normalize="season", **TINY_FC).fit(monthly())


# ---------------------------------------------------------------------------------------------------------------
# LSTMClassifier
# ---------------------------------------------------------------------------------------------------------------

def test_classifier_score_before_fit_says_not_fitted():
    X, y = walks()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        LSTMClassifier().score(X, y)


class Frame:
    """What matters of a pandas DataFrame here: ``np.asarray`` gives the values, iterating gives the column names."""

    def __init__(self, values):
        self.values = values
        self.columns = [f"t{k}" for k in range(values.shape[1])]

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)

    def __iter__(self):
        return iter(self.columns)

    def __len__(self):
        return len(self.values)


def test_classifier_reads_a_data_frame_as_padded_univariate_sequences():
    X, y = walks()
    x2d = X[:, :, 0]                                                  # (N, T): one feature per step
    fitted = LSTMClassifier(**TINY_CLF).fit(Frame(x2d), y)
    assert fitted.n_features_ == 1
    assert np.array_equal(fitted.predict_proba(Frame(x2d)), fitted.predict_proba(x2d))
    assert np.array_equal(LSTMClassifier(**TINY_CLF).fit(x2d, y).predict_proba(x2d), fitted.predict_proba(x2d))


def test_one_sequence_as_a_2d_array_is_refused_with_how_to_pass_it():
    X, y = walks()
    model = LSTMClassifier(**TINY_CLF).fit(X, y)
    with pytest.raises(ValueError, match=r"read as 6 sequences of one feature: for one sequence \(T, F\) pass \[x\]"):
        model.predict(X[0])
    assert model.predict([X[0]]).tolist() == model.predict(X[:1]).tolist() == model.predict(X[0][None]).tolist()


@pytest.mark.parametrize("patience", [0, -1, 1.5, True])
def test_classifier_patience_must_be_a_positive_integer(patience):
    X, y = walks()
    with pytest.raises(ValueError, match="patience must be a positive integer or None"):
        LSTMClassifier(patience=patience, **TINY_CLF).fit(X, y)


def test_patience_without_validation_data_is_refused_not_ignored():
    X, y = walks(n=4)                                                 # 10 % of 4 sequences rounds to none
    with pytest.raises(ValueError, match=r"patience=2 stops early on validation, but val_fraction=0.1 of 4 sequences"):
        LSTMClassifier(patience=2, **TINY_CLF).fit(X, y)
    with pytest.raises(ValueError, match=r"patience=2 stops early on validation, but val_fraction=0.0 of 120 rows"):
        LSTMForecaster(patience=2, **TINY_FC).fit(monthly())
    stopped = LSTMClassifier(patience=1, val_fraction=0.5, **{**TINY_CLF, "epochs": 30}).fit(*walks(n=8))
    assert stopped.train_result_.best_step is not None


def test_a_grid_search_with_numpy_grids_gives_a_model_that_saves_and_loads(tmp_path):
    sklearn = pytest.importorskip("sklearn.model_selection")
    X, y = walks()
    y = (y == "up").astype(int)
    grid = {"hidden_size": np.array([3, 4]), "lr": np.array([1e-2])}               # NumPy scalars reach the model
    search = sklearn.GridSearchCV(LSTMClassifier(epochs=2, class_weight={0: 2.0, 1: 1.0}), grid, cv=2).fit(X, y)
    best = search.best_estimator_
    assert isinstance(best.hidden_size, np.integer)
    loaded = lstm.load(lstm.save(best, tmp_path / "best.safetensors"))
    assert np.array_equal(loaded.predict_proba(X), best.predict_proba(X))
    assert loaded.get_params()["class_weight"] == {0: 2.0, 1: 1.0}   # label keys, not the strings JSON keeps
    refit = loaded.fit(X, y)                                          # the loaded weights still name real labels
    assert refit.classes_.tolist() == [0, 1]


# ---------------------------------------------------------------------------------------------------------------
# LSTMForecaster
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("change", [dict(horizon=5), dict(strategy="recursive"), dict(season=4),
                                    dict(quantiles=(0.1, 0.9))])
def test_set_params_after_fit_changes_the_next_fit_not_the_forecasts(point_forecaster, change, tmp_path):
    model = lstm.load(lstm.save(point_forecaster, tmp_path / "f.safetensors"))
    before, before_3 = model.predict(), model.predict(3)
    model.set_params(**change)
    assert np.array_equal(model.predict(), before) and np.array_equal(model.predict(3), before_3)
    assert np.array_equal(lstm.load(lstm.save(model, tmp_path / "g.safetensors")).predict(), before)
    if "quantiles" in change:
        with pytest.raises(ValueError, match="built without quantiles"):
            model.predict_quantiles()


def test_a_quantile_forecaster_keeps_its_quantiles_after_set_params(tmp_path):
    model = LSTMForecaster(horizon=2, quantiles=(0.1, 0.9), **TINY_FC).fit(monthly())
    q = model.predict_quantiles()
    model.set_params(quantiles=None)
    assert np.array_equal(model.predict_quantiles(), q) and q.shape == (2, 3)


@pytest.mark.parametrize("horizon", [2.5, "3", True, 0])
def test_predict_refuses_a_horizon_that_is_not_a_positive_integer(point_forecaster, horizon):
    with pytest.raises(ValueError, match="horizon must be a positive integer"):
        point_forecaster.predict(horizon)


def test_forecaster_score_wants_one_true_value_per_forecast_step(point_forecaster):
    y = monthly(123)[-3:]
    assert point_forecaster.score(y) == point_forecaster.score(y, horizon=3) <= 0
    for y_true, horizon in ((y, 5), (y[:2], 3), (y[:0], None), (y[:, None], None)):
        with pytest.raises(ValueError, match="y_true must be a 1-D array of the values that follow"):
            point_forecaster.score(y_true, horizon=horizon)


def test_a_validation_fraction_too_small_for_one_window_is_refused():
    with pytest.raises(ValueError, match=r"holds out 2 row\(s\), fewer than the 3 a validation window needs"):
        LSTMForecaster(horizon=3, val_fraction=0.02, patience=1, **TINY_FC).fit(monthly())
    model = LSTMForecaster(horizon=3, val_fraction=0.025, eval_every=5, **TINY_FC).fit(monthly())   # 3 rows: one
    assert model.n_windows_[1] == 1 and model.train_result_.best_step is not None


# ---------------------------------------------------------------------------------------------------------------
# LanguageModel and Seq2Seq
# ---------------------------------------------------------------------------------------------------------------

TEXT = "the quick brown fox jumps over the lazy dog. " * 30


@pytest.mark.parametrize("text", [["the quick brown fox"] * 100, b"the quick brown fox " * 100], ids=["list", "bytes"])
def test_language_model_wants_one_string_not_documents(text):
    with pytest.raises(TypeError, match=r"text must be one str, got (list|bytes); join several documents"):
        LanguageModel(hidden_size=8, num_layers=1, seq_len=10, batch_size=4, steps=2).fit(text, progress=False)


def test_language_model_scores_at_its_fitted_level_after_set_params():
    model = LanguageModel(hidden_size=8, num_layers=1, seq_len=10, batch_size=4, steps=2).fit(TEXT, progress=False)
    before = model.score(TEXT[:100])
    model.set_params(level="word")
    assert model.score(TEXT[:100]) == before and "bits_per_char" in before
    with pytest.raises(ValueError, match="never saw"):
        model.score("the quick brown fox!")                        # '!' is an unseen character, not an <unk> word


PAIRS = [(s, s[::-1]) for s in ["ab", "abc", "ba", "cab", "bca", "acb", "cc", "abcab"] * 4]


def test_seq2seq_empty_validation_holds_nothing_out():
    model = Seq2Seq(hidden_size=8, embedding_dim=4, steps=3, batch_size=8, eval_every=2)
    model.fit(PAIRS, validation=[], progress=False)
    assert model.n_train_pairs_ == len(PAIRS) and model.validation_ == []
    assert all("val_loss" not in r for r in model.history_)


def test_seq2seq_translates_within_its_fitted_max_len_after_set_params():
    model = Seq2Seq(hidden_size=8, embedding_dim=4, steps=2, batch_size=8, max_len=8).fit(PAIRS, progress=False)
    before = model.translate("abcab")
    model.set_params(max_len=3)
    assert model.translate("abcab") == before
    with pytest.raises(ValueError, match="more than max_len=8"):
        model.translate("abcabcabc")
