"""Estimators with scikit-learn conventions, built from the layers."""

from .estimator import Estimator, NotFittedError
from .language_model import LanguageModel, LanguageModelNet
from .forecaster import ForecasterNet, LSTMForecaster
from .classifier import ClassifierNet, LSTMClassifier
from .seq2seq import Seq2Seq, Seq2SeqNet

__all__ = ["Estimator", "NotFittedError", "LanguageModel", "LanguageModelNet"]
__all__ += ["LSTMForecaster", "ForecasterNet", "LSTMClassifier", "ClassifierNet"]
__all__ += ["Seq2Seq", "Seq2SeqNet"]
