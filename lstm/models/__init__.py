"""Estimators with scikit-learn conventions, built from the layers."""

from .estimator import Estimator, NotFittedError
from .language_model import LanguageModel, LanguageModelNet

__all__ = ["Estimator", "NotFittedError", "LanguageModel", "LanguageModelNet"]
