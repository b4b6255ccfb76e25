"""lstm — Long Short-Term Memory networks from first principles: exact, hand-written, traceable, fast on CPU."""

from . import nn
from .gradcheck import gradcheck
from .io.model_file import load, save

__version__ = "0.1.0"
__all__ = ["nn", "gradcheck", "save", "load", "__version__"]
