"""Whole-model files: ``lstm.save(model, path)`` / ``lstm.load(path)``.

One safetensors file (see :mod:`lstm.io.safefile`): the network's weights as tensors, and as JSON the estimator's
class, its constructor parameters and its learned non-array state (vocabulary, scalers).  Loading rebuilds the
estimator from that alone; nothing in the file is ever executed.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from . import safefile

KIND = "lstm.model"
VERSION = 1
_REGISTRY: dict[str, type] = {}


def register(cls):
    """Class decorator: make an estimator loadable by name."""
    _REGISTRY[cls.__name__] = cls
    return cls


def save(model, path: str | os.PathLike) -> Path:
    """Write a fitted estimator to ``path`` atomically; returns the path."""
    if not hasattr(model, "_check_fitted"):
        raise TypeError(f"lstm.save writes fitted models (LanguageModel, LSTMForecaster, LSTMClassifier, Seq2Seq), "
                        f"got a {type(model).__name__}; for a layer, save its weights with "
                        "safetensors.numpy.save_file(layer.state_dict(), path) and load them with load_state_dict")
    model._check_fitted()
    path = Path(path)
    meta = {"class": type(model).__name__, "params": model.fitted_params(), "extra": model._extra_config()}
    state = model._module().state_dict()
    _warn_if_not_finite(state, path)
    safefile.save(path, state, meta, kind=KIND, version=VERSION)
    return path


def _warn_if_not_finite(state: dict, path) -> None:
    """Saving goes ahead (the file is what was asked for), but weights holding NaN or ±inf make every prediction
    NaN, and finding that out at load time, far from its cause, is worse than a word now."""
    bad = [name for name, value in state.items() if not np.all(np.isfinite(value))]
    if bad:
        named = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        verb = "holds" if len(bad) == 1 else "hold"
        warnings.warn(f"saving {path}: {named} {verb} NaN or infinite values, so the saved model "
                      "will predict NaN; save the model from before training diverged (e.g. a lower learning rate)",
                      RuntimeWarning, stacklevel=3)


def _check_expected(path, expected, arrays: dict) -> None:
    """Compare the (name, shape) pairs a configuration implies with the file's tensors, before anything is built.

    ``expected`` is lazy, so a configuration that claims a million layers is refused at the first extra one.
    """
    count = 0
    for name, shape in expected:
        count += 1
        if count > len(arrays) or name not in arrays:
            raise safefile.FileFormatError(f"{path} does not match its own configuration: tensor {name!r} is missing")
        if tuple(arrays[name].shape) != tuple(shape):
            raise safefile.FileFormatError(
                f"{path} does not match its own configuration: {name!r} has shape {tuple(arrays[name].shape)}, "
                f"the configuration implies {tuple(shape)}"
            )
    if count != len(arrays):
        raise safefile.FileFormatError(f"{path} does not match its own configuration: it holds unexpected tensors")


def load(path: str | os.PathLike):
    """Rebuild the estimator saved at ``path`` (refusing foreign, damaged or newer-format files).

    Nothing in the file is executed.  A configuration that cannot be built, or that disagrees with the tensors
    (names, shapes, dtypes), is refused with :class:`~lstm.io.FileFormatError`.  Estimators that define
    ``_expected_shapes(params, extra)`` (yielding (name, shape) pairs without allocating) are checked before
    their network is built, so a file cannot make ``load`` allocate more than its tensors hold.
    """
    from .. import models  # noqa: F401  (registers the estimator classes)

    arrays, meta = safefile.load(path, kind=KIND, max_version=VERSION)
    name = meta.get("class")
    if not isinstance(name, str) or name not in _REGISTRY:
        raise safefile.FileFormatError(f"{path} holds a {name!r}, which this lstm does not know")
    params, extra = meta.get("params", {}), meta.get("extra", {})
    if not isinstance(params, dict) or not isinstance(extra, dict):
        raise safefile.FileFormatError(f"{path} is corrupted: its 'params' and 'extra' must be JSON objects")
    cls = _REGISTRY[name]
    try:
        if hasattr(cls, "_expected_shapes"):
            _check_expected(path, cls._expected_shapes(params, extra), arrays)
        model = cls(**params)
        model._restore(extra)
    except safefile.FileFormatError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, OverflowError, MemoryError) as err:
        raise safefile.FileFormatError(
            f"{path} holds a {name} configuration this lstm cannot build ({type(err).__name__}: {err})"
        ) from None
    module = model._module()
    live = module.parameters()
    for key, value in arrays.items():
        if key in live and value.dtype != live[key].dtype:
            raise safefile.FileFormatError(
                f"{path} does not match its own configuration: {key!r} is stored as {value.dtype}, "
                f"the model keeps it as {live[key].dtype}"
            )
    try:
        module.load_state_dict(arrays)
    except (ValueError, TypeError) as err:
        raise safefile.FileFormatError(f"{path} does not match its own configuration: {err}") from None
    return model
