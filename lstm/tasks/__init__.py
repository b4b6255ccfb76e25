"""The classic long-time-lag experiments: generators with their sources and published baselines, a small
network for each, and training that reports the test metric beside the baseline.

- ``adding``: the adding problem (Arjovsky et al. 2016 form; Hochreiter & Schmidhuber 1997, exp. 4)
- ``copy``: copy memory (Arjovsky et al. 2016)
- ``temporal_order``: temporal order 6a (Hochreiter & Schmidhuber 1997)
- ``reber``: the embedded Reber grammar (Hochreiter & Schmidhuber 1997, exp. 1)
"""

from .adding import AddingProblem
from .base import Baseline, Batch, Task
from .copy_memory import CopyMemory, memoryless_baseline
from .net import MODELS, TaskNet
from .reber import EmbeddedReber, embedded_reber_string, legal_next, reber_string
from .registry import TASKS, make_task
from .temporal_order import TemporalOrder
from .train import DEFAULTS, TaskResult, predict, run_task

__all__ = ["Task", "Batch", "Baseline", "AddingProblem", "CopyMemory", "TemporalOrder", "EmbeddedReber",
           "TASKS", "make_task", "TaskNet", "MODELS", "run_task", "TaskResult", "predict", "DEFAULTS",
           "memoryless_baseline", "reber_string", "embedded_reber_string", "legal_next"]
