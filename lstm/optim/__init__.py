"""Optimizers, gradient clipping and learning-rate schedules in NumPy, numerically equal to ``torch.optim``.

Parameters are a ``{name: np.ndarray}`` dict (e.g. ``model.parameters()``), updated in place by
``opt.step(grads)``; see :mod:`lstm.optim.optimizer` for the conventions and the state-dict layout.
"""

from .adagrad import Adagrad
from .adam import Adam, AdamW
from .clip import clip_grad_norm, clip_grad_value
from .optimizer import Optimizer, optimizer_from_state_dict
from .rmsprop import RMSprop
from .schedules import (
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    LinearWarmup,
    LRScheduler,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)
from .serialization import flatten_state, unflatten_state
from .sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "optimizer_from_state_dict",
    "clip_grad_norm",
    "clip_grad_value",
    "LRScheduler",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearWarmup",
    "LinearLR",
    "SequentialLR",
    "ReduceLROnPlateau",
    "flatten_state",
    "unflatten_state",
]
