"""Multi-layer, optionally bidirectional recurrent layers: :class:`LSTM`, :class:`GRU`, :class:`RNN`.

The layer owns the stacking; a kernel (see :mod:`lstm.kernels`) owns one layer, one direction, forward in time.

    layer k, direction d:  y_k^d = kernel(x_k^d, state_0[k·D + d]);   x_{k+1} = dropout([y_k^0, y_k^1])

The reverse direction runs the same kernel on each sequence reversed *within its own length*, so with ``lengths``
it starts at the sequence's last real step, exactly as PyTorch's packed sequences do.

Contract (shapes as PyTorch; D = 2 if bidirectional else 1; H_out = proj_size or hidden_size)::

    y, (h_n, c_n) = lstm(x, state=None, lengths=None)      # x (T, B, I) or (B, T, I) with batch_first
    y, (h_n, c_n) = lstm(x_one)                             # one sequence (T, I): y (T, D·H_out), h_n (L·D, H_out)
    dx, (dh0, dc0) = lstm.backward(dy, dstate=None)         # overwrites lstm.grads (accumulate=True adds)
    _, (dh0, dc0) = lstm.backward(dy, input_grad=False)     # x is data: skip δx (faster), dx is None
    y, h_n = gru(x, ...);  dx, dh0 = gru.backward(dy, dh_n)
    y, state, trace = layer(x, return_trace=True)          # trace[k] (num_layers, D, T, B, ·), time-major
    y, state = layer(table, ids=ids)                        # = layer(table[ids]): an embedding, then the layer
    dtable, dstate0 = layer.backward(dy)                    # after a lookup: δ of the table (V, I)
    with lstm.nn.no_grad(): y, state = lstm(x)             # inference: nothing kept for backward (faster)

Values are not checked (that would cost a pass over x): NaN and inf propagate to y, the state and the gradients,
as in PyTorch.  With ``lengths`` the padded steps may hold anything, NaN included, as PyTorch's packed sequences
never read them: they reach neither the outputs nor any gradient.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field

import numpy as np

from .._values import whole
from ..kernels import get_backend, reference as ref
from .checks import as_float_array, check_lengths, check_shape, describe
from .embedding import scatter_add_rows
from .grad_mode import is_grad_enabled
from .module import Module, resolve_dtype, resolve_rng, write_grad

# kernel gradient key -> parameter name stem
_PARAM_STEMS = {"W_ih": "weight_ih", "W_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh",
                "W_hr": "weight_hr", "peephole": "weight_peephole"}


def reverse_within_lengths(T: int, lengths: np.ndarray | None, batch: int):
    """Index pair that reverses each sequence inside its own length and leaves padded steps in place.

    ``a[idx]`` for a (T, B, ...) array; the map is its own inverse.
    """
    t = np.arange(T)[:, None]                                    # (T, 1)
    lens = np.full(batch, T) if lengths is None else lengths
    src = np.where(t < lens[None, :], lens[None, :] - 1 - t, t)  # (T, B)
    return src, np.arange(batch)[None, :]


def zero_padding(a: np.ndarray, mask: np.ndarray | None, batch_major: bool = False) -> np.ndarray:
    """``a`` (T, B, ·), or (B, T, ·) when ``batch_major``, with its padded steps set to 0 if any of them is not
    finite.  The kernels mask padded steps by multiplying by 0, and 0·NaN is NaN; real steps are left as they are,
    and so is ``a`` itself (a copy is made only when needed)."""
    if mask is None:
        return a
    pad = mask[:, :, 0] == 0                                          # (T, B)
    if batch_major:
        pad = pad.T
    if not pad.any() or np.isfinite(a[pad]).all():
        return a
    return np.where(pad[:, :, None], a.dtype.type(0), a)


@dataclass
class _Run:
    """What the most recent forward call kept for backward."""

    ids: np.ndarray | None             # (T, B) when the input was a lookup into a table of V rows
    table_rows: int

    caches: list                       # [k][d] kernel caches
    drop_masks: list                   # [k] dropout mask applied to layer k's output (or None)
    rev: tuple | None                  # reverse-within-length index
    mask: np.ndarray | None            # (T, B, 1)
    y_shape: tuple
    batch: int
    params: list = field(default_factory=list)   # [k][d] kernel params
    hh_masks: list = field(default_factory=list)  # [k][d] DropConnect mask on weight_hh (or None)
    kept: bool = True                  # False: run under no_grad(), caches are None
    unbatched: bool = False            # the input was one sequence (T, I): outputs lose the batch axis
    batch_major: bool = False          # the last layer's kernel wrote y (B, T, ·) itself, and reads dy so


class _Recurrent(Module):
    """Shared machinery for LSTM, GRU and RNN.  Subclasses say how many gates and which kernel to run.

    Keyword options every recurrent layer takes:

    - ``dtype``: float32 (default) or float64;  ``seed``: int or ``numpy.random.Generator`` (init and dropout);
    - ``backend``: kernel implementation, see :func:`lstm.kernels.get_backend`;
    - ``variational_dropout``: the ``dropout`` mask between layers is drawn once per sequence and reused at every
      step (Gal & Ghahramani 2016; "locked" dropout in AWD-LSTM) instead of afresh at each step;
    - ``weight_dropout``: DropConnect on ``weight_hh`` (Merity et al. 2017): one mask per forward call, so the
      recurrent connections drop the same units at every step.  Dropout of any kind acts only in training mode.
    """

    gates = 1                      # gate blocks in weight_ih (4 LSTM, 3 GRU, 1 RNN)
    lookup_kernel = False          # the kernels take inputs by lookup (ids into a table) themselves
    batch_major_kernel = False     # the kernels write y and read dy batch-first (B, T, ·) themselves
    state_names = ("h",)           # carry order
    trace_names = ("h",)

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, *, dtype=np.float32, seed=None, backend="auto", variational_dropout=False,
                 weight_dropout=0.0):
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name, value in (("dropout", dropout), ("weight_dropout", weight_dropout)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1), got {value!r}")
        self.input_size, self.hidden_size, self.num_layers = int(input_size), int(hidden_size), int(num_layers)
        self.bias, self.batch_first, self.dropout = bool(bias), bool(batch_first), float(dropout)
        self.bidirectional = bool(bidirectional)
        self.variational_dropout, self.weight_dropout = bool(variational_dropout), float(weight_dropout)
        self.num_directions = 2 if bidirectional else 1
        self.dtype = resolve_dtype(dtype)
        get_backend(backend)  # validate the name now, not at the first forward call
        self.backend = backend
        self._rng = resolve_rng(seed)
        self._run: _Run | None = None

    # -- parameters --------------------------------------------------------------------------------------------
    @property
    def output_size(self) -> int:
        """Width of the recurrent state h (and of each direction's output)."""
        return self.hidden_size

    def _suffixes(self):
        for k in range(self.num_layers):
            for d in range(self.num_directions):
                yield k, d, f"_l{k}" + ("_reverse" if d else "")

    def _layer_input_size(self, k: int) -> int:
        return self.input_size if k == 0 else self.num_directions * self.output_size

    def _param_shapes(self, k: int) -> dict:
        """{stem: shape} for layer k, in PyTorch's order."""
        G = self.gates * self.hidden_size
        shapes = {"weight_ih": (G, self._layer_input_size(k)), "weight_hh": (G, self.output_size)}
        if self.bias:
            shapes.update(bias_ih=(G,), bias_hh=(G,))
        return shapes

    def _init_parameters(self):
        """PyTorch's init: every parameter U(−1/√H, 1/√H), drawn in state_dict order."""
        bound = 1.0 / np.sqrt(self.hidden_size)
        for k, d, s in self._suffixes():
            for stem, shape in self._param_shapes(k).items():
                value = self._rng.uniform(-bound, bound, size=shape).astype(self.dtype)
                self.register_parameter(stem + s, value)

    def _kernel_params(self, k: int, suffix: str):
        raise NotImplementedError

    def _kernel_arrays(self, suffix: str) -> dict:
        """Kernel argument name -> parameter array (None where absent) for one layer/direction."""
        return {key: self._params.get(stem + suffix) for key, stem in _PARAM_STEMS.items()}

    # -- input handling ----------------------------------------------------------------------------------------
    def _state_shapes(self, batch: int) -> tuple:
        n = self.num_layers * self.num_directions
        return ((n, batch, self.output_size),)

    def _prepare_input(self, x) -> np.ndarray:
        x = as_float_array(x, self.dtype, "input x")
        layout = "(B, T, input_size)" if self.batch_first else "(T, B, input_size)"
        if x.ndim != 3:
            raise ValueError(f"input x must be 3-D {layout}, or 2-D (T, input_size) for one sequence, got {x.ndim}-D "
                             f"shape {x.shape}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"input x must have {self.input_size} features in its last axis, got shape {x.shape}")
        if self.batch_first:
            x = np.ascontiguousarray(x.transpose(1, 0, 2))
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"input x must have at least one step and one sequence, got shape {x.shape}")
        return x                                                  # (T, B, I)

    def _prepare_lookup(self, table, ids) -> tuple:
        """(table (V, input_size), time-major ids (T, B) int64), checked."""
        table = as_float_array(table, self.dtype, "input table")
        if table.ndim != 2 or table.shape[1] != self.input_size:
            raise ValueError(f"with ids, the input must be a table (V, {self.input_size}) of input vectors, "
                             f"got shape {table.shape}")
        ids = np.asarray(ids)
        layout = "(B, T)" if self.batch_first else "(T, B)"
        if ids.ndim != 2 or ids.dtype == np.bool_ or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"ids must be a 2-D integer array {layout}, got {ids.dtype} of shape {ids.shape}")
        if ids.shape[0] == 0 or ids.shape[1] == 0:
            raise ValueError(f"ids must have at least one step and one sequence, got shape {ids.shape}")
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= table.shape[0]:
            raise ValueError(f"ids must index the table's {table.shape[0]} rows, got {lo if lo < 0 else hi}; "
                             f"map them into [0, {table.shape[0] - 1}]")
        ids = ids.T if self.batch_first else ids
        return table, np.ascontiguousarray(ids, np.int64)

    def _prepare_state(self, state, batch: int, what: str = "state") -> tuple:
        shapes = self._state_shapes(batch)
        if state is None:
            return tuple(np.zeros(s, self.dtype) for s in shapes)
        if isinstance(state, (tuple, list)):
            parts = tuple(state)
        else:
            parts = (state,) if len(shapes) == 1 else ()
        if len(parts) != len(shapes):
            raise ValueError(f"{what} must be {self._state_doc()}, got {describe(state)}")
        out = []
        for name, arr, shape in zip(self.state_names, parts, shapes):
            if arr is None:
                out.append(np.zeros(shape, self.dtype))
                continue
            arr = as_float_array(arr, self.dtype, f"{what} {name}")
            check_shape(arr, shape, f"{what} {name}", "(num_layers * num_directions, batch, width)")
            out.append(arr)
        return tuple(out)

    def _state_doc(self) -> str:
        return "an array h of shape (num_layers * num_directions, B, H)"

    def _batch_of_one(self, state, what: str):
        """A state (or its gradient) for one unbatched sequence — arrays (num_layers * num_directions, width) — with
        the batch axis added, as torch takes them with an unbatched input."""
        if state is None:
            return None
        parts = tuple(state) if isinstance(state, (tuple, list)) else (state,)
        out = []
        for name, part in zip(self.state_names, parts):
            if part is not None and np.ndim(part) != 2:
                raise ValueError(f"{what} {name} for an unbatched (T, input_size) input must be 2-D "
                                 f"(num_layers * num_directions, width), got shape {np.shape(part)}")
            out.append(None if part is None else np.asarray(part)[:, None])
        out += parts[len(out):]                       # more parts than states: refused by _prepare_state
        return tuple(out) if isinstance(state, (tuple, list)) else out[0]

    # -- forward -----------------------------------------------------------------------------------------------
    def __call__(self, x, state=None, lengths=None, return_trace: bool = False, ids=None):
        """y, state = layer(x, state, lengths); see the module docstring.

        ``ids`` (B, T) with ``batch_first``, else (T, B), integers: ``x`` is then a table (V, input_size) of input
        vectors and step t of sequence b reads x[ids[t, b]] — exactly ``layer(x[ids])``, an embedding followed by
        the layer, and ``backward`` returns the gradient of the table (V, input_size).  The LSTM kernels project the
        V table rows once instead of all T·B inputs, which is faster when V is well below T·B (a character model:
        ~100 rows against 3,200 inputs per chunk)."""
        lookup = None
        unbatched = ids is None and np.ndim(x) == 2           # torch's unbatched input (T, I): a batch of one
        if unbatched:
            if lengths is not None:
                raise ValueError("lengths needs a batch (T, B, input_size); an unbatched (T, input_size) sequence has "
                                 "no padding to mark")
            x = np.asarray(x)[None] if self.batch_first else np.asarray(x)[:, None]
            state = self._batch_of_one(state, "state")
        if ids is not None:
            table, lookup = self._prepare_lookup(x, ids)
            if is_grad_enabled():                       # backward reads them: the caller may reuse its arrays
                lookup = lookup.copy() if np.may_share_memory(lookup, np.asarray(ids)) else lookup
                table = table.copy() if np.may_share_memory(table, np.asarray(x)) else table
            T, B = lookup.shape
            x = table if self.lookup_kernel else table[lookup]      # (V, I), or (T, B, I) for the layer itself
        else:
            x = self._prepare_input(x)
            T, B, _ = x.shape
        lengths = check_lengths(lengths, B, T)
        state0 = self._prepare_state(state, B)
        mask = None if lengths is None else (np.arange(T)[:, None] < lengths[None, :]).astype(self.dtype)[:, :, None]
        if lookup is None:
            x = zero_padding(x, mask)                               # (T, B, I)
        rev = reverse_within_lengths(T, lengths, B) if self.bidirectional else None
        keep = is_grad_enabled() or return_trace
        # One direction, batch first: the last layer's kernel writes y (B, T, ·) rather than a copy transposing it
        batch_major = self.batch_first and self.batch_major_kernel and self.num_directions == 1
        run = _Run(ids=lookup, table_rows=0 if lookup is None else table.shape[0], caches=[], drop_masks=[], rev=rev,
                   mask=mask, y_shape=(), batch=B, kept=keep, unbatched=unbatched, batch_major=batch_major)
        finals = [[None] * (self.num_layers * self.num_directions) for _ in state0]
        inp = x
        for k in range(self.num_layers):
            outs, caches, params, hh_masks = [], [], [], []
            for d in range(self.num_directions):
                idx = k * self.num_directions + d
                p = self._kernel_params(k, f"_l{k}" + ("_reverse" if d else ""))
                hh_mask = self._dropout_mask(p.W_hh.shape, self.weight_dropout)
                if hh_mask is not None:
                    p = dataclasses.replace(p, W_hh=p.W_hh * hh_mask)
                hh_masks.append(hh_mask)
                kids = lookup if k == 0 and self.lookup_kernel else None
                if kids is not None:                                # the table, read through (reversed) ids
                    xin, kids = inp, (kids if d == 0 else kids[rev])
                else:
                    xin = inp if d == 0 else inp[rev]
                y, final, cache = self._forward_kernel(xin, tuple(s[idx] for s in state0), p, mask, keep, kids,
                                                       batch_major and k == self.num_layers - 1)
                outs.append(y if d == 0 else y[rev])
                caches.append(cache)
                params.append(p)
                for j, s in enumerate(final):
                    finals[j][idx] = s
            out = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=-1)   # (T, B, D·H_out)
            drop = None
            if k < self.num_layers - 1:
                shape = (1,) + out.shape[1:] if self.variational_dropout else out.shape
                drop = self._dropout_mask(shape, self.dropout)
                if drop is not None:
                    out = out * drop
            run.caches.append(caches)
            run.params.append(params)
            run.hh_masks.append(hh_masks)
            run.drop_masks.append(drop)
            inp = out
        y = inp.transpose(1, 0, 2).copy() if self.batch_first and not batch_major else inp
        final_state = tuple(f[0][None] if len(f) == 1 else np.stack(f) for f in finals)   # kernels return copies
        if unbatched:
            y = y[0] if self.batch_first else y[:, 0]
            final_state = tuple(s[:, 0] for s in final_state)
        run.y_shape = y.shape
        self._run = run
        state_out = final_state if len(final_state) > 1 else final_state[0]
        if return_trace:
            trace = self._trace(run, mask)
            return y, state_out, {k: v[:, :, :, 0] for k, v in trace.items()} if unbatched else trace
        return y, state_out

    def _dropout_mask(self, shape, p: float):
        """Inverted-dropout mask (kept units scaled by 1/(1−p)), or None outside training or when p = 0."""
        if not self.training or p == 0:
            return None
        keep = 1.0 - p
        return (self._rng.random(shape) < keep).astype(self.dtype) / self.dtype.type(keep)

    def _trace(self, run: _Run, mask) -> dict:
        """Per-step internals, (num_layers, D, T, B, width), in original time order, zero at padded steps."""
        trace = {}
        for name in self.trace_names:
            rows = []
            for k in range(self.num_layers):
                per_dir = []
                for d, cache in enumerate(run.caches[k]):
                    a = self._trace_field(cache, name)
                    if mask is not None:
                        a = a * mask
                    per_dir.append(a if d == 0 else a[run.rev])
                rows.append(np.stack(per_dir))
            trace[name] = np.stack(rows)
        return trace

    @staticmethod
    def _trace_field(cache, name: str) -> np.ndarray:
        if name in ("h", "c"):
            return getattr(cache, name)[1:]
        return getattr(cache, name)

    # -- backward ----------------------------------------------------------------------------------------------
    def backward(self, dy, dstate=None, accumulate: bool = False, input_grad: bool = True):
        """Backpropagation through time for the most recent forward call.

        ``dy`` has the shape of y; ``dstate`` the shape of the final state (None = zero).  Writes ``self.grads``
        (overwrite, or add with ``accumulate=True``) and returns (dx, dstate0) shaped like (x, state).  With
        ``input_grad=False`` dx is None and is not computed — for an input that is data rather than the output of
        another layer (PyTorch skips it likewise when x does not require grad); the first layer then skips
        δx = δa W_ih at every step, a third of its backward loop's products when the input is half as wide as H.
        After a forward with ``ids``, dx is the gradient of the table (V, input_size).
        """
        run = self._run
        if run is None:
            raise RuntimeError("backward() needs a forward call first: run y, state = layer(x) before "
                               "layer.backward(dy)")
        if not run.kept:
            raise RuntimeError("backward() after a forward call made under lstm.nn.no_grad(), which keeps nothing for "
                               "backward: call the layer again outside no_grad() first")
        dy = as_float_array(dy, self.dtype, "dy")
        check_shape(dy, run.y_shape, "dy", "it must match the output y of the last forward call")
        if run.unbatched:
            dy = dy[None] if self.batch_first else dy[:, None]
            dstate = self._batch_of_one(dstate, "dstate")
        if self.batch_first and not run.batch_major:
            dy = dy.transpose(1, 0, 2)                              # (T, B, ·)
        dy = zero_padding(dy, run.mask, run.batch_major)
        dfinal = self._prepare_state(dstate, run.batch, "dstate")
        dstate0 = [np.zeros_like(s) for s in dfinal]
        W = self.output_size
        grads = self._grads
        d_inp = dy
        pending = None                          # the layer above's weight-gradient product, handed on (one direction)
        for k in reversed(range(self.num_layers)):
            if run.drop_masks[k] is not None:
                d_inp = d_inp * run.drop_masks[k]
            dx_sum = None
            for d in range(self.num_directions):
                idx = k * self.num_directions + d
                suffix = f"_l{k}" + ("_reverse" if d else "")
                dyd = d_inp[..., d * W:(d + 1) * W]
                if d == 1:
                    dyd = dyd[run.rev]
                out = None                                         # the kernel may write δW_ih, δW_hh here
                if self._writes_in_place(k, d, accumulate, run):
                    out = {key: grads[_PARAM_STEMS[key] + suffix] for key in ("W_ih", "W_hh")}
                    if self.num_directions == 1:
                        out["then"] = pending
                        out["defer"] = k > 0 and self._writes_in_place(k - 1, d, accumulate, run)
                dx, ds0, g = self._backward_kernel(run.params[k][d], run.caches[k][d], dyd,
                                                   tuple(s[idx] for s in dfinal), input_grad or k > 0,
                                                   run.batch_major and k == self.num_layers - 1, out)
                pending = g.pop("pending", None)
                if dx is not None:
                    table_grad = k == 0 and run.ids is not None and self.lookup_kernel
                    dx = dx if d == 0 or table_grad else dx[run.rev]
                    dx_sum = dx if dx_sum is None else dx_sum + dx
                for j, s in enumerate(ds0):
                    dstate0[j][idx] = s
                if run.hh_masks[k][d] is not None:
                    g["W_hh"] = g["W_hh"] * run.hh_masks[k][d]
                for key, value in g.items():
                    name = _PARAM_STEMS[key] + suffix
                    if value is not None and value is not grads[name]:   # (not already written in place)
                        write_grad(grads[name], value, accumulate)
            d_inp = dx_sum
        if d_inp is not None and run.ids is not None:
            if self.lookup_kernel:                                 # the kernel's δx is the table's already
                dx = d_inp
            else:                                                  # δ of the rows looked up, summed per row
                dx = np.zeros((run.table_rows, d_inp.shape[-1]), d_inp.dtype)
                scatter_add_rows(dx, run.ids.reshape(-1), d_inp.reshape(-1, d_inp.shape[-1]))
        else:
            dx = d_inp.transpose(1, 0, 2).copy() if self.batch_first and d_inp is not None else d_inp
            if run.unbatched and dx is not None:
                dx = dx[0] if self.batch_first else dx[:, 0]
        if run.unbatched:
            dstate0 = [s[:, 0] for s in dstate0]
        return dx, (tuple(dstate0) if len(dstate0) > 1 else dstate0[0])

    # -- streaming (see lstm/nn/stepper.py) -------------------------------------------------------------------
    def stepper(self, batch_size: int = 1):
        """A :class:`~lstm.nn.stepper.Stepper`: ``y_t = stepper.step(x_t)`` one step at a time, state kept inside."""
        from .stepper import Stepper
        return Stepper(self, batch_size)

    def step(self, x_t, state=None):
        """One time step as a pure function: ``y_t, state = layer.step(x_t, state)`` (x_t (B, I) or (I,))."""
        from .stepper import step
        return step(self, x_t, state)

    # -- kernels (subclass hooks) ------------------------------------------------------------------------------
    def _forward_kernel(self, x, state, p, mask, keep_cache, ids=None, batch_major=False):
        """y (T, B, ·), or (B, T, ·) when ``batch_major`` (asked only of a ``batch_major_kernel``); state; cache."""
        raise NotImplementedError

    @staticmethod
    def _writes_in_place(k, d, accumulate, run) -> bool:
        """Layer k's kernel may write its δW_ih, δW_hh straight into the gradient arrays: nothing to add them to
        and no DropConnect mask to apply to them afterwards."""
        return not accumulate and run.hh_masks[k][d] is None

    def _backward_kernel(self, p, cache, dy, dstate, input_grad, batch_major=False, out=None):
        """dx, dstate0, grads from dy (T, B, ·), or (B, T, ·) when ``batch_major``; ``out``: the layer's δW_ih,
        δW_hh arrays, which the kernel may write and return (``lstm_backward``'s ``out``)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        if self.dtype != np.float32:
            s += f", dtype={self.dtype.name}"
        return s


class LSTM(_Recurrent):
    """Long Short-Term Memory layer (Hochreiter & Schmidhuber 1997; forget gate of Gers et al. 2000).

    Equations in :mod:`lstm.kernels.reference`.  Arguments as ``torch.nn.LSTM`` plus:

    - ``peephole``: i and f see c_{t-1}, o sees c_t (ONNX semantics); adds ``weight_peephole_l{k}`` (3H,) =
      [p_i, p_f, p_o].
    - ``coupled``: i_t = 1 − f_t (the input-gate rows stay in the 4H packing, as in ONNX ``input_forget``; their
      gradient is exactly zero).
    - ``forget_bias``: added to the forget slice of ``bias_ih`` at init; 0.0 keeps PyTorch's init exactly, 1.0
      (Gers et al.; Jozefowicz et al. 2015) helps gradients cross long lags early in training.
    - ``dtype`` float32 (default) or float64; ``seed`` int or ``numpy.random.Generator``; ``backend``.

    Parameters use PyTorch names and shapes: ``weight_ih_l{k}`` (4H, I_k), ``weight_hh_l{k}`` (4H, H_out),
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (4H,), ``weight_hr_l{k}`` (proj_size, H), with ``_reverse`` for direction 1.
    """

    gates = 4
    state_names = ("h", "c")
    trace_names = ("i", "f", "g", "o", "c", "h")
    lookup_kernel = True
    batch_major_kernel = True

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, *, peephole=False, coupled=False, forget_bias=0.0, **options):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, **options)
        if not whole(proj_size, 0) or proj_size >= hidden_size:
            raise ValueError(f"proj_size must be an integer in [0, hidden_size={hidden_size}), got {proj_size!r}")
        self.proj_size = int(proj_size)
        self.peephole, self.coupled = bool(peephole), bool(coupled)
        self.forget_bias = float(forget_bias)
        self._init_parameters()
        if self.forget_bias and self.bias:
            H = self.hidden_size
            for k, d, s in self._suffixes():
                self._params["bias_ih" + s][H:2 * H] += self.forget_bias

    @property
    def output_size(self) -> int:
        return self.proj_size or self.hidden_size

    def _param_shapes(self, k):
        shapes = super()._param_shapes(k)
        if self.proj_size:
            shapes["weight_hr"] = (self.proj_size, self.hidden_size)
        if self.peephole:
            shapes["weight_peephole"] = (3 * self.hidden_size,)
        return shapes

    def _state_shapes(self, batch):
        n = self.num_layers * self.num_directions
        return ((n, batch, self.output_size), (n, batch, self.hidden_size))

    def _state_doc(self):
        return "a pair (h, c) of arrays (num_layers * num_directions, B, H_out) and (…, B, hidden_size)"

    def _kernel_params(self, k, suffix):
        a = self._kernel_arrays(suffix)
        return ref.LSTMParams(W_ih=a["W_ih"], W_hh=a["W_hh"], b_ih=a["b_ih"], b_hh=a["b_hh"], W_hr=a["W_hr"],
                              peephole=a["peephole"], coupled=self.coupled)

    def _forward_kernel(self, x, state, p, mask, keep_cache, ids=None, batch_major=False):
        y, h, c, cache = get_backend(self.backend).lstm_forward(x, state[0], state[1], p, mask, keep_cache, ids,
                                                                batch_major)
        return y, (h, c), cache

    def _backward_kernel(self, p, cache, dy, dstate, input_grad, batch_major=False, out=None):
        dx, dh0, dc0, g = get_backend(self.backend).lstm_backward(p, cache, dy, dstate[0], dstate[1], input_grad,
                                                                  batch_major, out)
        return dx, (dh0, dc0), g

    def extra_repr(self):
        s = super().extra_repr()
        for name, default in (("proj_size", 0), ("peephole", False), ("coupled", False), ("forget_bias", 0.0)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s


class GRU(_Recurrent):
    """Gated Recurrent Unit (Cho et al. 2014), PyTorch's formulation (r, z, n; r gates W_hn h + b_hn).

    Parameters ``weight_ih_l{k}`` (3H, I_k), ``weight_hh_l{k}`` (3H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (3H,).
    """

    gates = 3
    trace_names = ("r", "z", "n", "h")

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, **options):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, **options)
        self._init_parameters()

    def _kernel_params(self, k, suffix):
        a = self._kernel_arrays(suffix)
        return ref.GRUParams(W_ih=a["W_ih"], W_hh=a["W_hh"], b_ih=a["b_ih"], b_hh=a["b_hh"])

    def _forward_kernel(self, x, state, p, mask, keep_cache, ids=None, batch_major=False):
        y, h, cache = get_backend(self.backend).gru_forward(x, state[0], p, mask, keep_cache)
        return y, (h,), cache

    def _backward_kernel(self, p, cache, dy, dstate, input_grad, batch_major=False, out=None):
        dx, dh0, g = get_backend(self.backend).gru_backward(p, cache, dy, dstate[0], input_grad)
        return dx, (dh0,), g


class RNN(_Recurrent):
    """Elman RNN: h_t = φ(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh), φ = tanh or relu — the network whose
    gradients vanish across long lags, kept beside the LSTM to show why gating matters."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, **options):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, **options)
        self.nonlinearity = nonlinearity
        self._init_parameters()

    def _kernel_params(self, k, suffix):
        a = self._kernel_arrays(suffix)
        return ref.RNNParams(W_ih=a["W_ih"], W_hh=a["W_hh"], b_ih=a["b_ih"], b_hh=a["b_hh"],
                             nonlinearity=self.nonlinearity)

    def _forward_kernel(self, x, state, p, mask, keep_cache, ids=None, batch_major=False):
        y, h, cache = get_backend(self.backend).rnn_forward(x, state[0], p, mask, keep_cache)
        return y, (h,), cache

    def _backward_kernel(self, p, cache, dy, dstate, input_grad, batch_major=False, out=None):
        dx, dh0, g = get_backend(self.backend).rnn_backward(p, cache, dy, dstate[0], input_grad)
        return dx, (dh0,), g

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else f"{s}, nonlinearity={self.nonlinearity}"
