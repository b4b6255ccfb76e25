"""The scikit-learn conventions every estimator follows (``CharLM``-style language models, forecasters, ...).

``__init__`` stores its keyword arguments unchanged; ``get_params`` / ``set_params`` read and write them (so
``sklearn.base.clone`` works); ``fit`` validates, learns attributes whose names end in ``_`` and returns ``self``.
A fitted estimator saves to one safe file (:mod:`lstm.io.model_file`) holding its parameters, its learned
non-array state (vocabulary, scalers) and its network's weights.
"""

from __future__ import annotations

import inspect

import numpy as np


def _plain(value):
    """A parameter as JSON can hold it: NumPy scalars and arrays (a grid search hands out ``np.int64``) as Python
    numbers and lists, inside lists, tuples and dicts too."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


class NotFittedError(ValueError, AttributeError):
    """The estimator is used before ``fit`` (or ``load``)."""


class Estimator:
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind == p.POSITIONAL_OR_KEYWORD]

    def get_params(self, deep: bool = True) -> dict:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Change parameters for the next ``fit``.  A fitted network keeps the parameters it was built with:
        :meth:`fitted_params` still gives those, and ``lstm.save`` writes them."""
        valid = set(self._param_names())
        for name in params:
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}; valid: {sorted(valid)}")
        net = getattr(self, "net_", None)
        if net is not None and getattr(self, "_fitted_with", (None,))[0] is not net:
            self._fitted_with = (net, self.get_params())
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def fitted_params(self) -> dict:
        """The parameters the fitted network was built with: :meth:`get_params` unless ``set_params`` changed
        them since the last ``fit`` (which then apply to the next one)."""
        self._check_fitted()
        fitted = getattr(self, "_fitted_with", None)
        params = fitted[1] if fitted is not None and fitted[0] is self.net_ else self.get_params()
        return {name: _plain(value) for name, value in params.items()}

    _estimator_type: str | None = None           # "classifier" where scikit-learn should treat it as one

    def __sklearn_tags__(self):
        """Tags for scikit-learn ≥ 1.6, which asks every estimator for them (``cross_val_score``,
        ``GridSearchCV``); scikit-learn is imported only when it asks."""
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        classifier = self._estimator_type == "classifier"
        return Tags(estimator_type=self._estimator_type, target_tags=TargetTags(required=classifier),
                    classifier_tags=ClassifierTags() if classifier else None)

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if defaults.get(k) != v]
        return f"{type(self).__name__}({', '.join(changed)})"

    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(...) or lstm.load(path)")

    # Subclasses provide: _module() (the network), _extra_config() (JSON-able learned state) and
    # _restore(extra) (rebuild the network from it before the weights are loaded).
