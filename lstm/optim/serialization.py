"""Split an optimizer/schedule state dict into flat arrays (for safetensors) and JSON metadata, and back.

``flatten_state(sd)`` walks the nested dict; every ``np.ndarray`` leaf moves into ``arrays`` under its path joined
with ``/`` (``"state/weight_ih_l0/exp_avg"``) and is replaced in ``meta`` by ``{"__array__": key}``.  ``meta``
holds only JSON types (dicts, lists, str, int, float, bool, None), so ``json.dumps(meta)`` works; floats
round-trip exactly through Python's ``json``.  ``unflatten_state(arrays, meta)`` reverses it (``arrays`` may hold
extra keys, e.g. when the same safetensors file also stores the model weights under other names)::

    arrays, meta = flatten_state(opt.state_dict())
    save_file(arrays, "optim.safetensors"); Path("optim.json").write_text(json.dumps(meta))
    ...
    opt.load_state_dict(unflatten_state(load_file("optim.safetensors"), json.loads(Path("optim.json").read_text())))
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np

ARRAY_TAG = "__array__"


def flatten_state(sd: Mapping) -> tuple[dict[str, np.ndarray], dict]:
    """``(arrays, meta)``: C-contiguous arrays by flat ``/``-joined key, and the rest of ``sd`` as JSON data."""
    if not isinstance(sd, Mapping):
        raise ValueError(f"flatten_state expects a state dict (a dict), got {type(sd).__name__}")
    arrays: dict[str, np.ndarray] = {}

    def walk(node, path: tuple[str, ...]):
        if isinstance(node, np.ndarray):
            key = "/".join(path)
            if key in arrays:
                raise ValueError(f"two arrays flatten to the same key {key!r}; rename the entries that contain '/'")
            arrays[key] = node if node.flags.c_contiguous else node.copy(order="C")
            return {ARRAY_TAG: key}
        if isinstance(node, Mapping):
            out = {}
            for k, v in node.items():
                if not isinstance(k, str):
                    raise ValueError(f"state dict keys must be strings, got {k!r} at {'/'.join(path) or 'top level'}")
                if k == ARRAY_TAG:
                    raise ValueError(f"state dict keys must not be {ARRAY_TAG!r} (reserved), found at {'/'.join(path)}")
                out[k] = walk(v, path + (k,))
            return out
        if isinstance(node, (list, tuple)):
            return [walk(v, path + (str(i),)) for i, v in enumerate(node)]
        if node is None or isinstance(node, (str, bool)):
            return node
        if isinstance(node, np.generic):
            node = node.item()
        if isinstance(node, numbers.Integral):
            return int(node)
        if isinstance(node, numbers.Real):
            x = float(node)
            if not math.isfinite(x):
                raise ValueError(f"state dict entry {'/'.join(path)} is {x}, which JSON cannot hold")
            return x
        raise ValueError(
            f"state dict entry {'/'.join(path)} must be an ndarray or a JSON scalar/list/dict, "
            f"got {type(node).__name__}"
        )

    meta = walk(sd, ())
    return arrays, meta


def unflatten_state(arrays: Mapping[str, np.ndarray], meta: Mapping) -> dict:
    """The state dict that :func:`flatten_state` split into ``arrays`` and ``meta``."""
    if not isinstance(arrays, Mapping):
        raise ValueError(f"unflatten_state expects arrays as a dict {{key: ndarray}}, got {type(arrays).__name__}")
    if not isinstance(meta, Mapping):
        raise ValueError(f"unflatten_state expects meta as a dict (from flatten_state), got {type(meta).__name__}")

    def walk(node):
        if isinstance(node, Mapping):
            if set(node) == {ARRAY_TAG}:
                key = node[ARRAY_TAG]
                if key not in arrays:
                    raise ValueError(f"meta refers to array {key!r}, which is not among the {len(arrays)} arrays given")
                return np.asarray(arrays[key])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(meta)
