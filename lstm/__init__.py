"""lstm — Long Short-Term Memory networks from first principles: exact, hand-written, traceable, fast on CPU."""

from . import nn
from .gradcheck import gradcheck

__version__ = "0.1.0"
__all__ = ["nn", "gradcheck", "__version__"]
