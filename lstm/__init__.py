"""lstm — Long Short-Term Memory networks from first principles: exact, hand-written, traceable, fast on CPU.

``import lstm`` loads the layers (``lstm.nn``) and optimizers (``lstm.optim``); the other subpackages
(``lstm.models``, ``lstm.train``, ``lstm.data``, ``lstm.io``, ...) load on first use of ``lstm.<name>``.
"""

import importlib

from . import nn, optim
from .gradcheck import gradcheck
from .io.model_file import load, save
from .nn.grad_mode import no_grad

__version__ = "0.1.0"
__all__ = ["nn", "optim", "gradcheck", "no_grad", "save", "load", "__version__"]
_ON_FIRST_USE = ("data", "datasets", "forecast", "inspect", "io", "kernels", "models", "tasks", "train", "viz")


def __getattr__(name: str):
    """``lstm.models``, ``lstm.train``, ...: the subpackage, imported the first time it is named."""
    if name in _ON_FIRST_USE:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'lstm' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_ON_FIRST_USE})
