"""Estimators with scikit-learn conventions, built from the layers."""

from .estimator import Estimator, NotFittedError
from .language_model import LanguageModel, LanguageModelNet
from .forecaster import ForecasterNet, LSTMForecaster
from .classifier import ClassifierNet, LSTMClassifier

__all__ = ["Estimator", "NotFittedError", "LanguageModel", "LanguageModelNet"]
__all__ += ["LSTMForecaster", "ForecasterNet", "LSTMClassifier", "ClassifierNet"]
