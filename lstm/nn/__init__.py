"""Parameter-holding layers with hand-written backward passes, and losses with hand-written gradients."""

from . import losses
from .cells import GRUCell, LSTMCell, RNNCell
from .dropout import Dropout
from .embedding import Embedding
from .grad_mode import is_grad_enabled, no_grad
from .linear import Linear
from .losses import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    PinballLoss,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    linear_cross_entropy,
    mse_loss,
    pinball_loss,
)
from .module import Module
from .recurrent import GRU, LSTM, RNN
from .sequential import Sequential
from .stepper import Stepper

__all__ = [
    "Module", "LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell",
    "Linear", "Embedding", "Dropout", "Sequential", "Stepper", "losses", "no_grad", "is_grad_enabled",
    "CrossEntropyLoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss", "HuberLoss", "PinballLoss",
    "cross_entropy", "linear_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "l1_loss", "huber_loss",
    "pinball_loss",
]
