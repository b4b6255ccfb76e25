"""Task names → task classes."""

from __future__ import annotations

from .adding import AddingProblem
from .copy_memory import CopyMemory
from .reber import EmbeddedReber
from .temporal_order import TemporalOrder

TASKS = {"adding": AddingProblem, "copy": CopyMemory, "temporal_order": TemporalOrder, "reber": EmbeddedReber}


def make_task(name: str, length: int | None = None):
    """The task called ``name`` ("adding", "copy", "temporal_order", "reber"), at ``length`` where it has one."""
    if name not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {name!r}")
    cls = TASKS[name]
    return cls() if length is None else cls(length)
