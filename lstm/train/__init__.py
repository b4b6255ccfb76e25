"""Training: the loop (:class:`Trainer`) and exact-resume checkpoints."""

from . import checkpoint
from .trainer import Trainer, TrainingDiverged, TrainingInterrupted, TrainResult

__all__ = ["Trainer", "TrainResult", "TrainingDiverged", "TrainingInterrupted", "checkpoint"]
