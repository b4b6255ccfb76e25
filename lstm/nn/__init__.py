"""Parameter-holding layers with hand-written backward passes."""

from .cells import GRUCell, LSTMCell, RNNCell
from .module import Module
from .recurrent import GRU, LSTM, RNN

__all__ = ["Module", "LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"]
