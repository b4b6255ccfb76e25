"""lstm — Long Short-Term Memory networks from first principles: exact, hand-written, traceable, fast on CPU."""

from . import nn, optim
from .gradcheck import gradcheck
from .io.model_file import load, save
from .nn.grad_mode import no_grad

__version__ = "0.1.0"
__all__ = ["nn", "optim", "gradcheck", "no_grad", "save", "load", "__version__"]
