"""Gate saturation (Karpathy, Johnson & Fei-Fei 2015, "Visualizing and understanding recurrent networks", §4.3).

A sigmoid gate is *left-saturated* at a step when its value is < 0.1 and *right-saturated* when > 0.9.  For each
unit, the fraction of steps spent in each regime::

    left[l, u]  = mean_t [gate[l, t, u] < low]         (layers, H)
    right[l, u] = mean_t [gate[l, t, u] > high]        (layers, H)

Karpathy et al. plot right against left per unit and layer: forget gates that are right-saturated most of the
time are integrators (they remember); units that are rarely saturated respond to the current input.
"""

from __future__ import annotations

import numpy as np

GATES = ("i", "f", "o")          # the sigmoid gates of an LSTM (g is a tanh candidate, not a gate)


def saturation(values: dict, low: float = 0.1, high: float = 0.9, gates=GATES) -> dict:
    """{gate: {"left": (layers, H), "right": (layers, H)}} from a trace's ``values`` {k: (layers, T, H)}.

    ``values`` may also be a :class:`lstm.inspect.traces.TextTrace`.
    """
    values = values if isinstance(values, dict) else values.values
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"need 0 <= low < high <= 1, got low={low}, high={high}")
    gates = tuple(gates)
    if not gates:
        raise ValueError(f"gates must name at least one gate, e.g. {GATES}, got none")
    missing = [g for g in gates if g not in values]
    if missing:
        raise ValueError(f"the trace has no {', '.join(missing)} gate(s); saturation needs an LSTM trace "
                         f"(it has {', '.join(values)})")
    out = {}
    for g in gates:
        a = np.asarray(values[g])                                  # (layers, T, H)
        if a.ndim != 3 or a.shape[1] == 0:
            raise ValueError(f"the {g} gate must be (layers, T, H) with at least one step, got shape {a.shape}")
        bad = int(np.count_nonzero(~np.isfinite(a)))
        if bad:
            raise ValueError(f"the {g} gate holds {bad} NaN/inf value(s), so the fraction of saturated steps is "
                             "undefined; the model or its input is not finite (check the weights)")
        out[g] = {"left": (a < low).mean(axis=1), "right": (a > high).mean(axis=1)}
    return out


def saturation_table(sat: dict) -> list[dict]:
    """One row per (layer, gate): mean fraction of steps left/right-saturated over units, and how many units
    spend more than half the steps right-saturated (integrators) or left-saturated (mostly closed)."""
    rows = []
    if not sat:
        return rows
    layers = next(iter(sat.values()))["left"].shape[0]
    for layer in range(layers):
        for g, d in sat.items():
            left, right = d["left"][layer], d["right"][layer]
            rows.append({"layer": layer, "gate": g, "left": float(left.mean()), "right": float(right.mean()),
                         "units_mostly_right": int((right > 0.5).sum()), "units_mostly_left": int((left > 0.5).sum()),
                         "units": int(left.size)})
    return rows
