"""Optional dependencies (torch, keras, onnx, onnxruntime): imported only by the function that needs them.

A missing package is one line that names the extra to install, e.g. ``pip install lstm[onnx]``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

# module name -> the lstm extra that installs it
EXTRAS = {"torch": "torch", "onnx": "onnx", "onnxruntime": "onnx", "keras": "keras"}


class MissingDependencyError(ImportError):
    """An optional package is needed for this call and is not installed."""


def require(module: str, what: str):
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        extra = EXTRAS.get(module.split(".")[0], module)
        raise MissingDependencyError(
            f"{what} needs the optional package {module!r}, which is not installed ({err}); "
            f"install it with: pip install lstm[{extra}]"
        ) from None


def require_keras():
    """Import Keras 3, choosing its PyTorch backend when no backend was chosen and TensorFlow is absent.

    Keras reads ``KERAS_BACKEND`` once, at its first import; set it yourself before importing keras to use
    another backend.
    """
    if "keras" not in sys.modules and "KERAS_BACKEND" not in os.environ:
        if importlib.util.find_spec("tensorflow") is None:
            os.environ["KERAS_BACKEND"] = "torch"
    keras = require("keras", "Keras conversion")
    if not hasattr(keras, "layers") or int(str(getattr(keras, "__version__", "0")).split(".")[0]) < 3:
        raise MissingDependencyError(
            f"Keras conversion needs Keras 3, found {getattr(keras, '__version__', 'unknown')}; "
            "install it with: pip install lstm[keras]"
        )
    return keras
