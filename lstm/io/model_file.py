"""Whole-model files: ``lstm.save(model, path)`` / ``lstm.load(path)``.

One safetensors file (see :mod:`lstm.io.safefile`): the network's weights as tensors, and as JSON the estimator's
class, its constructor parameters and its learned non-array state (vocabulary, scalers).  Loading rebuilds the
estimator from that alone; nothing in the file is ever executed.
"""

from __future__ import annotations

import os
from pathlib import Path

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
    model._check_fitted()
    path = Path(path)
    meta = {"class": type(model).__name__, "params": model.get_params(), "extra": model._extra_config()}
    safefile.save(path, model._module().state_dict(), meta, kind=KIND, version=VERSION)
    return path


def load(path: str | os.PathLike):
    """Rebuild the estimator saved at ``path`` (refusing foreign, damaged or newer-format files)."""
    from .. import models  # noqa: F401  (registers the estimator classes)

    arrays, meta = safefile.load(path, kind=KIND, max_version=VERSION)
    name = meta.get("class")
    if name not in _REGISTRY:
        raise safefile.FileFormatError(f"{path} holds a {name!r}, which this lstm does not know")
    model = _REGISTRY[name](**meta.get("params", {}))
    model._restore(meta.get("extra", {}))
    try:
        model._module().load_state_dict(arrays)
    except ValueError as err:
        raise safefile.FileFormatError(f"{path} does not match its own configuration: {err}") from None
    return model
