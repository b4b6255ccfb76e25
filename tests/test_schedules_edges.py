"""Schedule arguments refused in one line (what was expected, what was given)."""

import numpy as np
import pytest

import lstm.optim as O


def test_sequential_lr_milestones_must_be_a_list():
    opt = O.SGD({"w": np.zeros(2)}, lr=0.1)
    warm, cos = O.LinearWarmup(opt, 0.1, total_iters=5), O.CosineAnnealingLR(opt, 10)
    for bad, shown in [(5, "5"), ("5", "'5'"), (None, "None")]:
        with pytest.raises(ValueError, match=r"^SequentialLR milestones must be a list of steps, one fewer than "
                                             rf"schedules \(e.g. \[100\]\), got {shown}$"):
            O.SequentialLR(opt, [warm, cos], bad)
    seq = O.SequentialLR(opt, [warm, cos], [5])
    sd = seq.state_dict()
    with pytest.raises(ValueError, match=r"^SequentialLR milestones must be \[5\], the state dict gives 5$"):
        seq.load_state_dict({**sd, "milestones": 5})
    assert seq.state_dict() == sd
