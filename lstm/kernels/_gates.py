r"""σ and tanh for the recurrent gate loops: a cheap float32 form, ._vmath's ~1e-16-accurate one for float64 (private).

The gate loop evaluates five of these per hidden unit and is instruction-bound (Zen 4 issues one 512-bit FP
operation per cycle).  The float32 forms avoid exp altogether — the rational approximation Eigen and TensorFlow
use for float tanh:

    tanh(x) ≈ x·P(x²) / Q(x²),   x clamped to ±7.9053,   P of degree 6 in x², Q of degree 3
    σ(x) = ½ + ½·tanh(x/2)

about 13 operations and one division, against ~30 for exp-based tanh (exp, division, the small-|x| polynomial
and the selects between them).  Error: ≤ 3.5e-7 absolute (tested), inside the float32 tolerance of the backend
(1e-5 of each array's scale); σ near 0 is absolute- rather than relative-accurate.  float64 keeps
:func:`._vmath.sigmoid` / :func:`._vmath.tanh` (a few ulp) so float64 results match the reference to ~1e-15.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload, register_jitable

from ._vmath import _sigmoid64, _tanh64

_F = np.float32
_A = tuple(_F(v) for v in (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05,
                           5.12229709037114e-08, -8.60467152213735e-11, 2.00018790482477e-13,
                           -2.76076847742355e-16))
_B = tuple(_F(v) for v in (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04,
                           1.19825839466702e-06))
_CLAMP, _HALF = _F(7.90531110763549805), _F(0.5)


def gate_sigmoid(x):  # pragma: no cover - replaced inside jitted code
    raise NotImplementedError


def gate_tanh(x):  # pragma: no cover
    raise NotImplementedError


@register_jitable(inline="always")
def _tanh32(x):
    x = min(max(x, -_CLAMP), _CLAMP)
    z = x * x
    p = ((((((_A[6] * z + _A[5]) * z + _A[4]) * z + _A[3]) * z + _A[2]) * z + _A[1]) * z + _A[0]) * x
    q = ((_B[3] * z + _B[2]) * z + _B[1]) * z + _B[0]
    return p / q


@register_jitable(inline="always")
def _sigmoid32(x):
    return _HALF + _HALF * _tanh32(_HALF * x)


@overload(gate_sigmoid, inline="always")
def _ol_sigmoid(x):
    if isinstance(x, types.Float):
        impl = _sigmoid32 if x.bitwidth == 32 else _sigmoid64
        return lambda x: impl(x)
    return None


@overload(gate_tanh, inline="always")
def _ol_tanh(x):
    if isinstance(x, types.Float):
        impl = _tanh32 if x.bitwidth == 32 else _tanh64
        return lambda x: impl(x)
    return None


@register_jitable(inline="always")
def lstm_unit(a_i, a_f, a_g, a_o, c_prev, p_i, p_f, p_o, coupled, one):
    """One LSTM unit from its pre-activations (peepholes p, zero when absent; ``one`` = 1 in the dtype):

        i = σ(a_i + p_i c_prev), f = σ(a_f + p_f c_prev) (i = 1 − f when coupled), g = tanh(a_g)
        c = f c_prev + i g,      o = σ(a_o + p_o c),      returns (i, f, g, o, c, tanh(c))

    Shared by the sequence kernel and the streaming step, so both compute the cell exactly alike."""
    f = gate_sigmoid(a_f + p_f * c_prev)
    i = gate_sigmoid(a_i + p_i * c_prev)
    i = one - f if coupled else i
    g = gate_tanh(a_g)
    c = f * c_prev + i * g
    o = gate_sigmoid(a_o + p_o * c)
    return i, f, g, o, c, gate_tanh(c)
