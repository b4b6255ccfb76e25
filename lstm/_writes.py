"""A process-wide count of in-place parameter writes made by lstm itself (private).

Optimizer steps and ``load_state_dict`` change parameter arrays in place.  Anything that keeps a derived copy of
the weights — a batch-1 :class:`lstm.nn.Stepper` packs them — compares :data:`count` with the value it saw when
it copied, and copies again when they differ (the compiled step reads the count through its address, hence an
int64 array).  Writes made outside lstm (``layer.parameters()[name] *= 2``) are not counted; after those, call
the stepper's ``refresh()``.
"""

import numpy as np

count = np.zeros(1, np.int64)


def note() -> None:
    """Record that some parameters were written in place."""
    count[0] += 1
