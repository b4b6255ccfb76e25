"""Loss functions with hand-written gradients.

Every function returns ``(loss, grad)``: ``loss`` is a Python float and ``grad = d loss / d input`` is an array with
the input's shape and float dtype (float32 or float64).  ``reduction="mean"`` (default) or ``"sum"``; or ``"none"``:
``loss`` is then the array of unreduced losses (torch's shape: one per position for the classification losses'
targets, one per element otherwise) and ``grad`` that of their sum — each loss depends on its own position alone,
so row i of ``grad`` is d loss_i / d input, ready to be weighted per position (``grad * w[..., None]``).  All values
and gradients match ``torch.nn.functional`` (same name) to rounding, except where documented (empty selections give
0, not nan).

Notation: ``N`` counts the elements (or positions) averaged over, ``C`` classes, ``Q`` quantiles.

The class wrappers (``CrossEntropyLoss(...)`` etc.) hold the options, return the loss from ``loss(input, target)``
and hand out the matching gradient from ``loss.backward()``.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..kernels import compiled_function
from .linear import _as_float_input

__all__ = [
    "cross_entropy",
    "linear_cross_entropy",
    "binary_cross_entropy_with_logits",
    "mse_loss",
    "l1_loss",
    "huber_loss",
    "pinball_loss",
    "CrossEntropyLoss",
    "BCEWithLogitsLoss",
    "MSELoss",
    "L1Loss",
    "HuberLoss",
    "PinballLoss",
]

_REDUCTIONS = ("mean", "sum", "none")

LossAndGrad = tuple[float | np.ndarray, np.ndarray]   # (loss, d loss / d input); loss an array for "none"


# ------------------------------------------------------------------------------------------------------------------
# validation helpers
# ------------------------------------------------------------------------------------------------------------------
def _check_reduction(fn: str, reduction) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _real_array(x, dtype, what: str) -> np.ndarray:
    """Integers (not bool) or floats (not float16), cast to ``dtype``: for regression targets and weights."""
    x = np.asarray(x)
    if x.dtype == np.bool_ or x.dtype == np.float16 or not (
        np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)
    ):
        raise TypeError(f"{what} must be a real-valued (float32/float64 or integer) array, got dtype {x.dtype}")
    return x.astype(dtype, copy=False)


def _same_shape(fn: str, pred: np.ndarray, target: np.ndarray) -> None:
    if target.shape != pred.shape:
        raise ValueError(
            f"{fn}: target must have the input's shape {pred.shape}, got {target.shape}; "
            f"reshape one of them (no broadcasting is done)"
        )


def _broadcast_to_input(fn: str, name: str, arr: np.ndarray, shape: tuple) -> np.ndarray:
    try:
        ok = np.broadcast_shapes(arr.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{fn}: {name} of shape {arr.shape} does not broadcast to the input's shape {shape}; "
            f"give it shape ({shape[-1] if shape else 1},) for one value per last-axis entry, or the input's shape"
        )
    return arr


def _regression_inputs(fn: str, pred, target) -> tuple[np.ndarray, np.ndarray]:
    pred = _as_float_input(pred, None, f"{fn}: input")
    target = _real_array(target, pred.dtype, f"{fn}: target")
    _same_shape(fn, pred, target)
    return pred, target


def _reduce(fn_name: str, elementwise: np.ndarray, grad: np.ndarray, reduction: str) -> LossAndGrad:
    """Sum or mean of ``elementwise`` losses (or themselves, for "none"); ``grad`` holds d(sum)/d input and is
    rescaled in place for the mean."""
    grad = np.asarray(grad)  # (arithmetic on 0-d arrays gives NumPy scalars)
    if reduction == "none":
        return np.asarray(elementwise, grad.dtype), grad
    total = float(np.sum(elementwise, dtype=np.float64))
    if reduction == "sum":
        return total, grad
    n = elementwise.size
    if n == 0:  # torch gives nan for the mean of nothing; 0 keeps training loops finite.
        return 0.0, grad
    grad *= grad.dtype.type(1.0 / n)
    return total / n, grad


# ------------------------------------------------------------------------------------------------------------------
# classification
# ------------------------------------------------------------------------------------------------------------------
def _class_target(fn: str, target, shape: tuple, what: str, hint: str) -> np.ndarray:
    """``target`` as an int64 array of ``shape`` (= ``what``.shape[:-1]), or a one-line error ending in ``hint``.

    int64 whatever the caller's integer type: the positions that do not count are marked -1 for the compiled
    kernels, which an unsigned target (uint8 with ``ignore_index=255``) would wrap to a class id past the end."""
    target = np.asarray(target)
    if target.dtype == np.bool_ or not np.issubdtype(target.dtype, np.integer):
        raise TypeError(
            f"{fn}: target must hold integer class ids, got dtype {target.dtype}; cast with .astype(np.int64) "
            f"(probability targets are not supported)"
        )
    if target.shape != shape:
        raise ValueError(
            f"{fn}: target must have shape {what}.shape[:-1] = {shape}, got {target.shape}; {hint}"
        )
    if target.dtype == np.uint64 and target.size and target.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{fn}: target holds {int(target.max())}, not a class id; fix the labels")
    return target.astype(np.int64, copy=False)


def _check_class_range(fn: str, target: np.ndarray, real: np.ndarray, C: int, ignore_index: int) -> None:
    bad = real & ((target < 0) | (target >= C))
    if bad.any():
        v = int(target[bad].flat[0])
        raise ValueError(
            f"{fn}: target {v} is outside the class range [0, {C - 1}] and is not ignore_index={ignore_index}; "
            f"fix the labels, or set ignore_index / mask for positions to skip"
        )


def cross_entropy(logits, target, *, ignore_index: int = -100, mask=None, weight=None, label_smoothing: float = 0.0,
                  reduction: str = "mean") -> LossAndGrad:
    """Softmax cross-entropy over the last axis, ``torch.nn.functional.cross_entropy`` semantics.

    Shapes: ``logits (..., C)`` float, ``target (...)`` integer class ids in ``[0, C)``, ``mask (...)`` 0/1 or bool,
    ``weight (C,)``.  A position is *real* unless ``target == ignore_index`` or ``mask == 0`` (masked positions may hold
    any target value).  With ``log p = log_softmax(z)``, smoothing ``e = label_smoothing``, ``w = weight`` (all ones
    if None) and ``W = sum_c w_c``, the loss of a real position ``i`` with target ``y`` is::

        l_i = (1 - e) * w_y * (-log p_{i,y})  +  (e / C) * sum_c w_c * (-log p_{i,c})

        loss = sum_i l_i / sum_i w_{y_i}   (mean; sums over real positions -- a plain token count without weight)
        loss = sum_i l_i                    (sum)
        loss = l                            (none: shape (...), 0 at positions that are not real)

    Gradient with respect to the logits (zero rows for non-real positions), divided by the same denominator for mean::

        dl_i/dz_{i,j} = p_{i,j} * ((1 - e) * w_y + (e / C) * W)  -  (1 - e) * w_y * [j == y]  -  (e / C) * w_j

    ``log p`` is computed as ``z - logsumexp(z)`` with the row maximum subtracted, so huge logits are safe.
    If no position is real (or the denominator is 0), the loss is 0.0 and the gradient zero (torch returns nan).
    """
    fn = "cross_entropy"
    _check_reduction(fn, reduction)
    z = _as_float_input(logits, None, f"{fn}: logits")
    if z.ndim < 1:
        raise ValueError(f"{fn}: logits must have shape (..., C) with classes on the last axis, got a scalar")
    C = z.shape[-1]
    if C == 0:
        raise ValueError(f"{fn}: logits must have at least one class on the last axis, got shape {z.shape}")
    dt = z.dtype
    target = _class_target(fn, target, z.shape[:-1], "logits",
                           f"logits are (..., C) with the C={C} classes on the last axis")
    real = target != ignore_index  # (...)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != target.shape:
            raise ValueError(f"{fn}: mask must have the target's shape {target.shape}, got {mask.shape}")
        if mask.dtype != np.bool_:
            if not (np.issubdtype(mask.dtype, np.integer) or np.issubdtype(mask.dtype, np.floating)):
                raise TypeError(f"{fn}: mask must be bool or 0/1 numbers, got dtype {mask.dtype}")
            if not np.all((mask == 0) | (mask == 1)):
                raise ValueError(f"{fn}: mask must contain only 0 and 1 (or be bool); found other values")
            mask = mask != 0
        real &= mask
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real) or not (
            0.0 <= float(label_smoothing) <= 1.0):
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    e = float(label_smoothing)
    w = None
    if weight is not None:
        w = _real_array(weight, dt, f"{fn}: weight")
        if w.shape != (C,):
            raise ValueError(f"{fn}: weight must have shape (C,) = ({C},), one value per class, got {w.shape}")
    _check_class_range(fn, target, real, C, ignore_index)

    z2 = z.reshape(-1, C)  # (N, C)
    r2 = real.reshape(-1)  # (N,)
    fused = compiled_function("softmax_cross_entropy") if w is None and e == 0.0 and reduction != "none" else None
    if fused is not None:  # the plain case in one compiled pass: the same formulas with w = 1, e = 0
        n_real = int(np.count_nonzero(r2))
        if n_real == 0:
            return 0.0, np.zeros_like(z)
        denom = n_real if reduction == "mean" else 1
        total, grad = fused(z2, np.where(r2, target.reshape(-1), -1), 1.0 / denom)
        return total / denom, grad.reshape(z.shape)
    t2 = np.where(r2, target.reshape(-1), 0)  # (N,) safe index for non-real rows
    rows = np.arange(z2.shape[0])
    rf = r2.astype(dt)  # (N,) 1 for real rows
    wy = rf if w is None else w[t2] * rf  # (N,) target-class weight, 0 on non-real rows
    denom = float(np.sum(wy, dtype=np.float64)) if reduction == "mean" else 1.0
    if z2.shape[0] == 0 or not r2.any() or denom == 0.0:
        return (np.zeros(target.shape, dt) if reduction == "none" else 0.0), np.zeros_like(z)

    m = z2.max(axis=1, keepdims=True)  # (N, 1)
    ex = z2 - m  # (N, C)
    np.exp(ex, out=ex)  # exp(z - max)
    s = ex.sum(axis=1)  # (N,)
    lse = np.log(s) + m[:, 0]  # (N,) logsumexp
    nll = (m[:, 0] - z2[rows, t2]) + np.log(s)  # (N,) -log p_y = lse - z_y, exact when z_y is near a huge max
    row_loss = (1.0 - e) * wy * nll  # (N,)
    Wsum = C if w is None else w.sum()
    if e > 0.0:
        # sum_c w_c (-log p_c) = W * lse - z . w
        smooth = Wsum * lse - (z2.sum(axis=1) if w is None else z2 @ w)  # (N,)
        row_loss = row_loss + (e / C) * rf * smooth
    if reduction == "none":
        total = row_loss.astype(dt).reshape(target.shape)          # (...)
    else:
        total = float(np.sum(row_loss, dtype=np.float64))

    coef = ((1.0 - e) * wy + (e / C) * Wsum * rf).astype(dt)  # (N,)
    grad = ex  # reuse the exp buffer: p * coef
    grad *= (coef / s)[:, None]
    grad[rows, t2] -= ((1.0 - e) * wy).astype(dt)
    if e > 0.0:
        grad -= (e / C) * (rf[:, None] if w is None else rf[:, None] * w[None, :])
    if reduction == "mean":
        grad *= dt.type(1.0 / denom)
        total /= denom
    return total, grad.reshape(z.shape)


def linear_cross_entropy(x, weight, bias, target, *, ignore_index: int = -100):
    """The mean cross-entropy of a linear output layer's logits, with the gradients of all three inputs.

    ``(loss, dx, dweight, dbias)`` for ``z = x weightᵀ + bias``: ``loss = cross_entropy(z, target,
    ignore_index=ignore_index)`` and, with ``G`` its gradient with respect to z (rows flattened)::

        dx = G weight  (x's shape)      dweight = Gᵀ x  (C, H)      dbias = Σ_rows G  (C,), None without a bias

    — what a :class:`~lstm.nn.Linear` layer followed by :func:`cross_entropy` computes in training, without
    keeping the (N, C) logits.  On the compiled backend it is one pass over blocks of rows, each block's logits
    used while in cache (a language model's output layer: three products, the loss and the bias sums in one call);
    otherwise the same products around :func:`cross_entropy`.  Shapes: x (..., H), weight (C, H), bias (C,) or
    None, target (...) class ids (``ignore_index`` positions do not count).
    """
    fn = "linear_cross_entropy"
    x = _as_float_input(x, None, f"{fn}: x")
    W = _as_float_input(weight, x.dtype, f"{fn}: weight")
    if x.ndim < 1 or W.ndim != 2 or W.shape[1] != x.shape[-1]:
        raise ValueError(f"{fn}: weight must have shape (C, H) for x of shape (..., H), got weight {W.shape} and x "
                         f"{x.shape}")
    C, H = W.shape
    b = None if bias is None else _as_float_input(bias, x.dtype, f"{fn}: bias")
    if b is not None and b.shape != (C,):
        raise ValueError(f"{fn}: bias must have shape (C,) = ({C},), one value per class, got {b.shape}")
    target = _class_target(fn, target, x.shape[:-1], "x", "one class id per row of x (..., H)")
    real = target != ignore_index
    _check_class_range(fn, target, real, C, ignore_index)
    x2 = x.reshape(-1, H)                                     # (N, H)
    fused = compiled_function("linear_cross_entropy")
    if fused is None:
        z = x2 @ W.T if b is None else x2 @ W.T + b            # (N, C)
        loss, g = cross_entropy(z, target.reshape(-1), ignore_index=ignore_index)
        return loss, (g @ W).reshape(x.shape), g.T @ x2, None if b is None else g.sum(axis=0)
    n_real = int(np.count_nonzero(real))
    total, dx, dW, db = fused(x2, W, b, np.where(real, target, -1).reshape(-1), 1.0 / max(n_real, 1))
    return (total / n_real if n_real else 0.0), dx.reshape(x.shape), dW, db


def binary_cross_entropy_with_logits(logits, target, *, weight=None, pos_weight=None,
                                     reduction: str = "mean") -> LossAndGrad:
    """Sigmoid + binary cross-entropy, ``torch.nn.functional.binary_cross_entropy_with_logits`` semantics.

    Shapes: ``logits`` any shape, ``target`` the same shape (probabilities in [0, 1]; 0/1 integers or bools are
    cast), ``pos_weight`` and ``weight`` broadcastable to the logits (e.g. ``(C,)`` for the last axis).  With
    ``x = logits``, ``y = target``, ``a = pos_weight`` (1 if None), ``v = weight`` (1 if None)::

        l = v * [ (1 - y) * x  +  (1 + (a - 1) * y) * softplus(-x) ]       (= -v [a y log s(x) + (1-y) log(1-s(x))])
        softplus(-x) = max(-x, 0) + log1p(exp(-|x|))                        (stable for any x)
        dl/dx = v * [ s(x) * (a y + 1 - y) - a y ]                          (= v (s(x) - y) when a = 1)

    ``mean`` divides by the number of elements.
    """
    fn = "binary_cross_entropy_with_logits"
    _check_reduction(fn, reduction)
    x = _as_float_input(logits, None, f"{fn}: logits")
    y = np.asarray(target)
    y = _real_array(y.astype(np.int8) if y.dtype == np.bool_ else y, x.dtype, f"{fn}: target")
    _same_shape(fn, x, y)
    ax = np.abs(x)
    ez = np.exp(-ax)  # exp(-|x|) in (0, 1]
    sp = np.maximum(-x, 0) + np.log1p(ez)  # softplus(-x) = -log sigmoid(x)
    sig = np.where(x >= 0, 1.0 / (1.0 + ez), ez / (1.0 + ez)).astype(x.dtype, copy=False)  # sigmoid(x)
    if pos_weight is None:
        loss = (1 - y) * x + sp
        grad = sig - y
    else:
        a = _broadcast_to_input(fn, "pos_weight", _real_array(pos_weight, x.dtype, f"{fn}: pos_weight"), x.shape)
        ay = a * y
        loss = (1 - y) * x + (1 + ay - y) * sp
        grad = sig * (ay + 1 - y) - ay
    if weight is not None:
        v = _broadcast_to_input(fn, "weight", _real_array(weight, x.dtype, f"{fn}: weight"), x.shape)
        loss = loss * v
        grad = grad * v
    grad = np.ascontiguousarray(grad, dtype=x.dtype).reshape(x.shape)  # (same as logits, 0-d too)
    return _reduce(fn, loss, grad, reduction)


# ------------------------------------------------------------------------------------------------------------------
# regression
# ------------------------------------------------------------------------------------------------------------------
def mse_loss(pred, target, *, reduction: str = "mean") -> LossAndGrad:
    """Mean squared error.  ``pred`` and ``target`` have the same shape (N elements)::

        loss = (1/N) sum (pred - target)^2          dloss/dpred = (2/N) (pred - target)       (sum: drop the 1/N)
    """
    fn = "mse_loss"
    _check_reduction(fn, reduction)
    pred, target = _regression_inputs(fn, pred, target)
    d = pred - target
    return _reduce(fn, d * d, 2 * d, reduction)


def l1_loss(pred, target, *, reduction: str = "mean") -> LossAndGrad:
    """Mean absolute error.  Same shapes (N elements)::

        loss = (1/N) sum |pred - target|            dloss/dpred = (1/N) sign(pred - target),  sign(0) = 0 as in torch
    """
    fn = "l1_loss"
    _check_reduction(fn, reduction)
    pred, target = _regression_inputs(fn, pred, target)
    d = pred - target
    return _reduce(fn, np.abs(d), np.sign(d), reduction)


def huber_loss(pred, target, delta: float = 1.0, *, reduction: str = "mean") -> LossAndGrad:
    """Huber loss (torch ``huber_loss``), quadratic within ``delta`` and linear outside.  Same shapes; ``d = pred -
    target``::

        l = 0.5 d^2                  if |d| < delta          dl/dd = d
        l = delta (|d| - delta/2)    otherwise               dl/dd = delta * sign(d)

    (both pieces and their slopes agree at |d| = delta).  ``mean`` divides by N.
    """
    fn = "huber_loss"
    _check_reduction(fn, reduction)
    if isinstance(delta, bool) or not isinstance(delta, numbers.Real) or not float(delta) > 0:
        raise ValueError(f"{fn}: delta must be a positive number, got {delta!r}")
    pred, target = _regression_inputs(fn, pred, target)
    dlt = pred.dtype.type(delta)
    d = pred - target
    ad = np.abs(d)
    small = ad < dlt
    loss = np.where(small, 0.5 * d * d, dlt * (ad - 0.5 * dlt))
    grad = np.where(small, d, dlt * np.sign(d)).astype(pred.dtype, copy=False)
    return _reduce(fn, loss, grad, reduction)


def pinball_loss(pred, target, quantiles, *, reduction: str = "mean") -> LossAndGrad:
    """Pinball (quantile) loss for ``Q`` quantile forecasts at once.

    Shapes: ``pred (..., Q)``, ``target (...)`` (no quantile axis: one observation serves every quantile),
    ``quantiles (Q,)`` with each ``tau`` in (0, 1).  With ``u = target[..., None] - pred`` (``(..., Q)``)::

        rho_tau(u) = max(tau * u, (tau - 1) * u)
        loss = (1/(N*Q)) sum rho          (mean over every entry; "sum" drops the 1/(N*Q))

        d rho / d pred = -tau        if u > 0  (prediction below the observation)
                       = 1 - tau     if u < 0  (prediction above)
                       = 0           if u = 0  (a valid subgradient; matches sign(0) = 0 of l1_loss, since
                                                pinball at tau = 0.5 is 0.5 * |u|)
    """
    fn = "pinball_loss"
    _check_reduction(fn, reduction)
    pred = _as_float_input(pred, None, f"{fn}: input")
    if pred.ndim < 1:
        raise ValueError(f"{fn}: input must have shape (..., Q) with Q quantiles on the last axis, got a scalar")
    Q = pred.shape[-1]
    tau = _real_array(quantiles, pred.dtype, f"{fn}: quantiles")
    if tau.shape != (Q,):
        raise ValueError(
            f"{fn}: quantiles must have shape (Q,) = ({Q},) to match the input's last axis, got {tau.shape}"
        )
    if not np.all((tau > 0) & (tau < 1)):
        raise ValueError(f"{fn}: every quantile must lie strictly between 0 and 1, got {tau.tolist()}")
    y = _real_array(target, pred.dtype, f"{fn}: target")
    if y.shape != pred.shape[:-1]:
        extra = " (drop the quantile axis: one observation per position)" if y.shape == pred.shape else ""
        raise ValueError(f"{fn}: target must have shape input.shape[:-1] = {pred.shape[:-1]}, got {y.shape}{extra}")
    u = y[..., None] - pred  # (..., Q)
    loss = np.maximum(tau * u, (tau - 1) * u)  # (..., Q)
    grad = np.where(u > 0, -tau, np.where(u < 0, 1 - tau, 0)).astype(pred.dtype, copy=False)  # (..., Q)
    return _reduce(fn, loss, grad, reduction)


# ------------------------------------------------------------------------------------------------------------------
# class wrappers
# ------------------------------------------------------------------------------------------------------------------
class _Loss:
    """Holds options; ``loss(input, target) -> float`` (the unreduced array for ``reduction="none"``) stores the
    gradient that ``backward()`` returns."""

    def __init__(self) -> None:
        self._grad = None

    def _store(self, out: LossAndGrad) -> float | np.ndarray:
        loss, self._grad = out
        return loss

    def backward(self) -> np.ndarray:
        """``d loss / d input`` of the last call (same shape as that input)."""
        if self._grad is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward called before the loss was computed; call loss(x, y) first"
            )
        return self._grad


class CrossEntropyLoss(_Loss):
    """Wrapper of :func:`cross_entropy`; ``mask`` is given per call: ``loss(logits, target, mask=None)``."""

    def __init__(self, *, ignore_index: int = -100, weight=None, label_smoothing: float = 0.0,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.ignore_index, self.weight, self.label_smoothing, self.reduction = (
            ignore_index, weight, label_smoothing, reduction)

    def __call__(self, input, target, mask=None) -> float:
        return self._store(cross_entropy(input, target, ignore_index=self.ignore_index, mask=mask, weight=self.weight,
                                         label_smoothing=self.label_smoothing, reduction=self.reduction))


class BCEWithLogitsLoss(_Loss):
    """Wrapper of :func:`binary_cross_entropy_with_logits`."""

    def __init__(self, *, weight=None, pos_weight=None, reduction: str = "mean") -> None:
        super().__init__()
        self.weight, self.pos_weight, self.reduction = weight, pos_weight, reduction

    def __call__(self, input, target) -> float:
        return self._store(binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                            pos_weight=self.pos_weight, reduction=self.reduction))


class MSELoss(_Loss):
    """Wrapper of :func:`mse_loss`."""

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def __call__(self, input, target) -> float:
        return self._store(mse_loss(input, target, reduction=self.reduction))


class L1Loss(_Loss):
    """Wrapper of :func:`l1_loss`."""

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def __call__(self, input, target) -> float:
        return self._store(l1_loss(input, target, reduction=self.reduction))


class HuberLoss(_Loss):
    """Wrapper of :func:`huber_loss`."""

    def __init__(self, delta: float = 1.0, *, reduction: str = "mean") -> None:
        super().__init__()
        self.delta, self.reduction = delta, reduction

    def __call__(self, input, target) -> float:
        return self._store(huber_loss(input, target, self.delta, reduction=self.reduction))


class PinballLoss(_Loss):
    """Wrapper of :func:`pinball_loss` with fixed ``quantiles (Q,)``."""

    def __init__(self, quantiles, *, reduction: str = "mean") -> None:
        super().__init__()
        self.quantiles, self.reduction = quantiles, reduction

    def __call__(self, input, target) -> float:
        return self._store(pinball_loss(input, target, self.quantiles, reduction=self.reduction))
