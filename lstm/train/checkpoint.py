"""Training checkpoints: everything needed to continue a run exactly, in one safe file.

Arrays (model parameters, optimizer buffers, the carried recurrent state) go into safetensors; the step, counters,
optimizer hyper-parameters, schedule state and every random generator's state go into the JSON header
(see :mod:`lstm.io.safefile`).  Restoring a checkpoint and continuing gives bit-identical weights to a run that was
never interrupted, because batches are a pure function of the step number and every source of randomness is saved.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..io import safefile
from ..nn.module import dotted
from ..optim import flatten_state, unflatten_state

KIND = "lstm.checkpoint"
VERSION = 1


def generators(model) -> dict[str, np.random.Generator]:
    """Every ``numpy.random.Generator`` held by the model's modules, by dotted path (e.g. ``"rnn._rng"``)."""
    found = {}
    for prefix, mod in model.named_modules():
        for attr, value in vars(mod).items():
            if isinstance(value, np.random.Generator):
                found[dotted(prefix, attr)] = value
    return found


@dataclass
class Checkpoint:
    """What :func:`load` returns; :meth:`restore` writes it back into live objects."""

    params: dict[str, np.ndarray]
    optimizer: dict | None
    schedule: dict | None
    rng: dict[str, dict]
    carry: list[np.ndarray] | None
    trainer: dict = field(default_factory=dict)

    def restore(self, model, optimizer=None, schedule=None) -> None:
        """All or nothing: when a part does not fit, the parts already written are put back as they were and a
        one-line ValueError says which part ("its optimizer does not fit this one (...)")."""
        parts = [("network", model, self.params), ("optimizer", optimizer, self.optimizer),
                 ("schedule", schedule, self.schedule)]
        parts = [(name, obj, sd) for name, obj, sd in parts if obj is not None and sd is not None]
        done = []
        for name, obj, sd in parts:
            before = obj.state_dict()
            try:
                obj.load_state_dict(sd)
            except ValueError as err:
                for prev, state in reversed([*done, (obj, before)]):     # (a SequentialLR may be half loaded)
                    prev.load_state_dict(state)
                raise ValueError(f"its {name} does not fit this one ({err})") from None
            done.append((obj, before))
        live = generators(model)
        for name, state in self.rng.items():
            if name in live:
                live[name].bit_generator.state = state


def save(path: str | os.PathLike, model, optimizer=None, schedule=None, *, carry=None, trainer: dict | None = None,
         extra_meta: dict | None = None) -> None:
    """Write a checkpoint atomically (temporary file + rename: the previous file survives a crash)."""
    arrays = {f"model/{k}": v for k, v in model.parameters().items()}
    meta: dict = {"trainer": trainer or {}, "rng": {k: g.bit_generator.state for k, g in generators(model).items()}}
    if optimizer is not None:
        opt_arrays, opt_meta = flatten_state(optimizer.state_dict())
        arrays.update({f"optim/{k}": v for k, v in opt_arrays.items()})
        meta["optimizer"] = opt_meta
    if schedule is not None:
        meta["schedule"] = schedule.state_dict()
    if carry is not None:
        parts = carry if isinstance(carry, (tuple, list)) else (carry,)
        arrays.update({f"carry/{i}": np.asarray(a) for i, a in enumerate(parts)})
        meta["carry_parts"] = len(parts)
    meta.update(extra_meta or {})
    safefile.save(path, arrays, meta, kind=KIND, version=VERSION)


def load(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint; truncated, corrupted or foreign files raise :class:`lstm.io.FileFormatError`."""
    arrays, meta = safefile.load(path, kind=KIND, max_version=VERSION)

    def section(prefix):
        return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

    try:
        optimizer = unflatten_state(section("optim/"), meta["optimizer"]) if "optimizer" in meta else None
        carry = None
        if "carry_parts" in meta:
            carry = [arrays[f"carry/{i}"] for i in range(meta["carry_parts"])]
        return Checkpoint(params=section("model/"), optimizer=optimizer, schedule=meta.get("schedule"),
                          rng=dict(meta.get("rng", {})), carry=carry, trainer=dict(meta.get("trainer", {})))
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        raise safefile.FileFormatError(
            f"{path} is corrupted: its metadata does not match its tensors ({type(err).__name__}: {err})"
        ) from None
