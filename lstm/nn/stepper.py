"""Streaming inference: advance a recurrent layer one time step at a time, keeping its state inside.

A :class:`Stepper` runs a unidirectional :class:`~lstm.nn.LSTM`, :class:`~lstm.nn.GRU` or :class:`~lstm.nn.RNN`
(any number of layers; LSTM with projection, peepholes, coupled gates, with or without biases) for B sequences,
one step per call, in one compiled call (:mod:`lstm.kernels._step`) with no allocation.  Step t gives exactly
what the full-sequence forward pass gives at t (float64 to ~1e-15, float32 to ~1e-6), in inference semantics:
dropout is never applied, as in ``eval()`` mode.

A streaming loop (e.g. a sensor feed; ``y`` is overwritten by the next step, copy it to keep it)::

    import numpy as np
    import lstm

    layer = lstm.nn.LSTM(input_size=8, hidden_size=64, num_layers=2)
    stepper = layer.stepper()                  # batch 1: x_t of shape (8,), y_t of shape (64,)

    def sensor():                              # any source of one input vector at a time
        rng = np.random.default_rng(0)
        while True:
            yield rng.standard_normal(8).astype(np.float32)

    for t, x_t in zip(range(1000), sensor()):
        y_t = stepper.step(x_t)                # (64,), the top layer's h_t: read-only, reused
        if y_t[0] > 0.9:
            print("event at", t)
        if t % 500 == 499:                     # a new recording starts
            stepper.reset()                    # zero state (or stepper.state = saved)
    h, c = stepper.state                       # copies, (num_layers, 1, 64) each, as PyTorch's
    y_t, (h, c) = layer.step(x_t, (h, c))      # the same step as a pure function (allocates)

A language model streams tokens the same way: ``LanguageModel.stepper()`` attaches the embedding table and the
output layer, so ``logits = stepper.step(token_id)`` is one compiled call (embedding row → layers → head).

Weights: a batch-1 stepper copies them into panels laid out for its matrix-vector products (as an inference
session does); a larger batch reads the layer's arrays in place.  Either way lstm's own in-place writes —
optimizer steps, ``load_state_dict`` — are seen by the next step.  After writing the arrays by hand
(``layer.parameters()[name] *= 2``) call ``refresh()`` (keeps the state) or ``reset()`` (zeros it); both also
pick up arrays the layer *replaced*.  A stepper is not thread-safe; give each thread its own.
"""

from __future__ import annotations

import operator
import threading

import numpy as np

from .. import _writes
from .._values import whole
from ..kernels._workspace import aligned_zeros
from .checks import as_float_array
from .recurrent import GRU, LSTM, RNN

__all__ = ["Stepper", "step"]

_ALIGN = 16                       # buffer offsets rounded up to 16 elements (64 bytes)


def _kernels():
    """The compiled step kernels, or None when Numba cannot be imported (the NumPy path is used then)."""
    try:
        from ..kernels import _step
    except ImportError:
        return None
    return _step


_ENTRIES: dict = {}


def _entry(kernel, x_dtype: np.dtype, buf_dtype: np.dtype | None = None):
    """The compiled entry point of ``kernel(x, meta)`` — or ``kernel(x, buf, meta)`` when ``buf_dtype`` is given —
    for a 1-D x of any layout.

    Calling it directly skips the dispatcher's type resolution (~0.1–0.3 µs per call), and one signature per
    dtype means one compilation (the first ever takes ~10–20 s; later processes load it from Numba's disk cache).
    The caller must pass exactly these types — the entry point does not check them.
    """
    key = (kernel, x_dtype, buf_dtype)
    fn = _ENTRIES.get(key)
    if fn is None:
        from numba import from_dtype, types
        buf = () if buf_dtype is None else (types.Array(from_dtype(buf_dtype), 1, "C"),)
        sig = (types.Array(from_dtype(x_dtype), 1, "A"), *buf, types.Array(types.int64, 1, "C"))
        try:
            fn = kernel.compile(sig)
        except (AttributeError, TypeError):      # pragma: no cover - numba internals changed: dispatch normally
            fn = kernel
        _ENTRIES[key] = fn
    return fn


class Stepper:
    """Step-by-step inference for a unidirectional recurrent layer (see the module docstring).

    ``Stepper(layer, batch_size=1, embedding=None, head=None)``:

    - ``step(x_t)``: x_t (B, input_size), or (input_size,) when B = 1 → y_t (B, H_out) or (H_out,): the top
      layer's h_t, a read-only view of an internal buffer (overwritten by the next step; ``y.copy()`` keeps it);
    - ``refresh()``: re-read the layer's parameters (after writing them by hand), keeping the state;
    - ``state``: the carry as the layer returns it — ``(h, c)`` for LSTM, ``h`` for GRU/RNN, shaped
      (num_layers, B, ·) — as copies; assign to set it (None = zeros); ``reset()`` zeros it;
    - ``embedding`` (an :class:`~lstm.nn.Embedding` or a (V, input_size) array): ``step`` then takes token ids —
      an int when B = 1, or an int array (B,);
    - ``head`` (a :class:`~lstm.nn.Linear`, or a pair (weight (V, H_out), bias (V,) or None)): ``step`` then
      returns logits (B, V) or (V,) = h_t weightᵀ + bias.
    """

    _packable = True              # batch 1 packs the weights (see _bind); the functional step's stepper does not

    def __init__(self, layer, batch_size: int = 1, *, embedding=None, head=None):
        if not isinstance(layer, (LSTM, GRU, RNN)):
            raise TypeError(f"Stepper needs an lstm.nn LSTM, GRU or RNN layer, got {type(layer).__name__}")
        if layer.bidirectional:
            raise ValueError(
                "a bidirectional layer cannot stream: its reverse direction needs the whole sequence (y_t depends "
                "on x_{t+1..T}); run layer(x) on the full sequence, or build the layer with bidirectional=False"
            )
        if not whole(batch_size):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.layer, self.batch_size = layer, int(batch_size)
        self.dtype = layer.dtype
        self._embedding, self._head = embedding, head
        self._kern = None if layer.backend == "reference" else _kernels()
        self._bind()

    # -- construction ------------------------------------------------------------------------------------------
    def _param_list(self) -> list:
        """Every array the step reads (kept alive by ``self._keep``): the layer's parameters, embedding, head."""
        arrays = list(self.layer._params.values())
        if self._embedding is not None or self._head is not None:
            emb, head = self._embedding, self._head
            arrays.append(getattr(emb, "weight", emb))
            if head is not None:
                arrays += [head.weight, head.bias] if hasattr(head, "weight") else list(head)
        return arrays

    def _resolve_extras(self) -> None:
        layer, dt = self.layer, self.dtype
        emb = self._embedding
        self._emb_weight = getattr(emb, "weight", emb)
        if self._emb_weight is not None:
            w = self._emb_weight
            if not (isinstance(w, np.ndarray) and w.ndim == 2 and w.shape[1] == layer.input_size):
                raise ValueError(f"embedding must be an Embedding or an array (V, input_size={layer.input_size}), "
                                 f"got {type(w).__name__} of shape {np.shape(w)}")
        head = self._head
        if head is None:
            self._head_w = self._head_b = None
        else:
            w, b = (head.weight, head.bias) if hasattr(head, "weight") else tuple(head)
            P = layer.output_size
            if not (isinstance(w, np.ndarray) and w.ndim == 2 and w.shape[1] == P):
                raise ValueError(f"head weight must be an array (V, {P}) matching the layer's output width, "
                                 f"got shape {np.shape(w)}")
            if b is not None and not (isinstance(b, np.ndarray) and b.shape == (w.shape[0],)):
                raise ValueError(f"head bias must be an array ({w.shape[0]},) or None, got shape {np.shape(b)}")
            self._head_w, self._head_b = w, b
        for a in (self._emb_weight, self._head_w, self._head_b):
            if a is not None and a.dtype != dt:
                raise TypeError(f"embedding and head must have the layer's dtype {dt}, got {a.dtype}")

    def _bind(self) -> None:
        """Lay out the buffer, pack the weights (batch 1) or record the addresses of the parameter arrays.

        Buffer: [zeros | a | m | c | logits | xin | h | packed weights], xin (B·I0) ending where h (L, B, P)
        begins, so for B = 1 each layer's input and its h lie side by side ([x | h_0], [h_0 | h_1], ...).
        """
        layer, B, dt = self.layer, self.batch_size, self.dtype
        self._resolve_extras()
        L, H, P, I0 = layer.num_layers, layer.hidden_size, layer.output_size, layer.input_size
        G = layer.gates * H
        V = 0 if self._head_w is None else self._head_w.shape[0]
        proj = isinstance(layer, LSTM) and layer.proj_size > 0
        packed = self._kern is not None and B == 1 and self._packable
        NR = self._kern.row_panel_width(dt) if packed else 1

        def pad(n):
            return -(-n // NR) * NR

        sizes = {"zeros": max(2 * G, V), "a": 2 * pad(G) if packed else B * 2 * G, "m": B * H if proj else 0,
                 "c": L * B * H if isinstance(layer, LSTM) else 0, "logits": pad(V) if packed else B * V,
                 "xin": B * I0, "h": L * B * P}
        off, pos = {}, 0
        for name, n in sizes.items():
            off[name] = pos
            pos += -(-n // _ALIGN) * _ALIGN
        off["xin"] = off["h"] - B * I0                    # xin ends where h begins
        self._state_end = pos                             # reset() zeros buf[:pos]; the packed weights follow
        self._packs = []                                  # (meta slot, offset in buf, size) per packed product
        for slot, W, _ in (self._pack_sources() if packed else []):
            n = self._kern.packed_size(W.shape[0], W.shape[1], dt)
            self._packs.append((slot, pos, n))
            pos += -(-n // _ALIGN) * _ALIGN
        buf = aligned_zeros(pos + _ALIGN, dt)              # panels on cache lines: no line-splitting loads
        self._buf, self._off, self._keep = buf, off, self._param_list()
        self._h = buf[off["h"]:off["h"] + L * B * P].reshape(L, B, P)
        self._c = buf[off["c"]:off["c"] + L * B * H].reshape(L, B, H) if sizes["c"] else None
        out = self._h[-1] if V == 0 else buf[off["logits"]:off["logits"] + B * V].reshape(B, V)
        self._y2 = out.view()
        self._y2.flags.writeable = False
        self._y1 = self._y2[0] if B == 1 else None
        self._x_shapes = ((I0,), (B, I0)) if B == 1 else (None, (B, I0))
        self._ids = np.zeros(B, np.int64)
        if self._kern is not None:
            self._meta = self._make_meta(off, L, B, H, P, I0, G, V)
            self._pack_weights()
            if self._emb_weight is None:
                self.step = self._fast_step()

    def _make_meta(self, off, L, B, H, P, I0, G, V) -> np.ndarray:
        K, layer, buf = self._kern, self.layer, self._buf
        base = buf.ctypes.data
        zeros = base + off["zeros"] * buf.itemsize

        def addr(a):
            if a is None:
                return zeros
            if not a.flags.c_contiguous or a.dtype != self.dtype:
                raise ValueError("stepper: every parameter must be a C-contiguous array of the layer's dtype "
                                 f"({self.dtype}); got {a.dtype} with strides {a.strides}")
            return a.ctypes.data

        meta = np.zeros(K.HEADER + L * K.LAYER, np.int64)
        if isinstance(layer, LSTM):
            kind = K.LSTM
        elif isinstance(layer, GRU):
            kind = K.GRU
        else:
            kind = K.RNN_RELU if layer.nonlinearity == "relu" else K.RNN_TANH
        flags = 0
        if isinstance(layer, LSTM):
            flags |= (K.F_COUPLED if layer.coupled else 0) | (K.F_PROJ if layer.proj_size else 0)
        flags |= K.F_HEAD if V else 0
        if self._packs:
            flags |= K.F_PACKED
            meta[K.M_WRITES] = _writes.count.ctypes.data
        meta[[K.M_KIND, K.M_L, K.M_B, K.M_H, K.M_P, K.M_FLAGS, K.M_I0]] = kind, L, B, H, P, flags, I0
        meta[[K.M_XIN, K.M_A, K.M_M, K.M_ZEROS]] = off["xin"], off["a"], off["m"], zeros
        if self._emb_weight is not None:
            meta[[K.M_EMB, K.M_NEMB]] = addr(self._emb_weight), self._emb_weight.shape[0]
        if V:
            meta[[K.M_V, K.M_HEAD_W, K.M_HEAD_B, K.M_LOGITS]] = V, addr(self._head_w), addr(self._head_b), \
                off["logits"]
        for k in range(L):
            a = layer._kernel_arrays(f"_l{k}")
            row = K.HEADER + k * K.LAYER
            meta[row + K.L_I] = layer._layer_input_size(k)
            for slot, key in ((K.L_WIH, "W_ih"), (K.L_WHH, "W_hh"), (K.L_BIH, "b_ih"), (K.L_BHH, "b_hh"),
                              (K.L_PEEP, "peephole"), (K.L_WHR, "W_hr")):
                meta[row + slot] = addr(a[key])
            meta[row + K.L_H] = off["h"] + k * B * P
            meta[row + K.L_C] = off["c"] + k * B * H
        for slot, offset, _ in self._packs:
            meta[slot] = offset
        meta[[K.M_BUF, K.M_NBUF]] = base, buf.shape[0]
        if self._emb_weight is None:
            run = _entry(K.step_dense, self.dtype)                       # buf: through its address in meta
            self._invoke = lambda x: run(x, meta)
        else:
            run = _entry(K.step_ids, np.dtype(np.int64), self.dtype)
            self._invoke = lambda ids: run(ids, buf, meta)
        self._run = run
        return meta

    def _pack_sources(self) -> list:
        """(meta slot, W (N, K), bias (N,) or None) for every matrix-vector product of a batch-1 step."""
        K, layer = self._kern, self.layer
        out = []
        for k in range(layer.num_layers):
            a = layer._kernel_arrays(f"_l{k}")
            row = K.HEADER + k * K.LAYER
            if isinstance(layer, GRU):                    # x side and h side stay apart (r gates the h side of n)
                out += [(row + K.L_PX, a["W_ih"], a["b_ih"]), (row + K.L_PH, a["W_hh"], a["b_hh"])]
                continue
            b = [v for v in (a["b_ih"], a["b_hh"]) if v is not None]
            out.append((row + K.L_PX, np.hstack([a["W_ih"], a["W_hh"]]), sum(b) if b else None))
            if a["W_hr"] is not None:
                out.append((row + K.L_PR, a["W_hr"], None))
        if self._head_w is not None:
            out.append((K.M_PHEAD, self._head_w, self._head_b))
        return out

    def _pack_weights(self) -> None:
        """Copy the weights into the packed panels of a batch-1 stepper (when bound, and when lstm has written
        parameters in place since: the step then returns STALE)."""
        if not self._packs:
            return
        self._meta[self._kern.M_SEEN] = _writes.count[0]
        buf = self._buf
        for (_, offset, n), (_, W, b) in zip(self._packs, self._pack_sources()):
            self._kern.pack_row_panels(W, b, buf[offset:offset + n])

    def _call(self, x) -> None:
        """The compiled step on x (B·I,) (or ids (B,)), re-packing first if the weights changed."""
        K = self._kern
        code = self._invoke(x)
        if code == K.STALE:
            self._pack_weights()
            code = self._invoke(x)
        if code == K.BAD_ID:
            raise IndexError(f"token id out of range: ids must be in [0, {self._emb_weight.shape[0] - 1}], got "
                             f"{self._ids.tolist()}")

    def refresh(self) -> None:
        """Re-read the layer's parameters, keeping the state.

        Needed only after writing parameter arrays outside lstm (e.g. ``layer.parameters()[name] *= 2``):
        optimizer steps and ``load_state_dict`` are noticed by the next step by themselves.
        """
        state = self.state
        self._reread()
        self.state = state

    def _reread(self) -> None:
        if self._stale():
            self._bind()                                  # new arrays: new addresses, a new (zeroed) buffer
        else:
            self._pack_weights()

    def _fast_step(self):
        """``step`` as a closure over the buffers: the common call (an array of the right dtype) costs a class
        check, a dtype identity check, an ndim test and the compiled call, which checks the size and whether the
        packed weights are current (~0.1 µs less than the method).  Anything else — and any call the kernel
        turns back — goes through :meth:`Stepper.step`."""
        run, meta, y1, y2 = self._run, self._meta, self._y1, self._y2
        s2 = self._x_shapes[1]
        ndarray, dt, general, one = np.ndarray, self.dtype, Stepper.step.__get__(self), self.batch_size == 1

        def step(x):
            if x.__class__ is ndarray and x.dtype is dt:
                if x.ndim == 1:
                    if one and run(x, meta) == 0:
                        return y1
                elif x.shape == s2 and run(x.reshape(-1), meta) == 0:
                    return y2
            return general(x)
        step.__doc__ = Stepper.step.__doc__
        return step

    def _stale(self) -> bool:
        """Has the layer (or the embedding / head) replaced any array since ``_bind``?"""
        now = self._param_list()
        return len(now) != len(self._keep) or not all(map(operator.is_, now, self._keep))

    # -- state -------------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Zero the state of every layer and re-read the layer's parameters (as :meth:`refresh`)."""
        self._reread()
        self._buf[:self._state_end] = 0

    @property
    def state(self):
        """(h, c) for LSTM — h (num_layers, B, H_out), c (num_layers, B, hidden_size) — or h for GRU/RNN; copies."""
        return self._h.copy() if self._c is None else (self._h.copy(), self._c.copy())

    @state.setter
    def state(self, value) -> None:
        if value is None:
            self._h.fill(0)
            if self._c is not None:
                self._c.fill(0)
            return
        h, c = self._h, self._c
        if c is None and value.__class__ is np.ndarray and value.dtype is h.dtype and value.shape == h.shape:
            np.copyto(h, value)                                      # fast path: already the right arrays
            return
        if (c is not None and value.__class__ is tuple and len(value) == 2
                and all(v.__class__ is np.ndarray and v.dtype is h.dtype for v in value)
                and value[0].shape == h.shape and value[1].shape == c.shape):
            np.copyto(h, value[0])
            np.copyto(c, value[1])
            return
        parts = self.layer._prepare_state(value, self.batch_size)
        np.copyto(h, parts[0])
        if c is not None:
            np.copyto(c, parts[1])

    # -- stepping ----------------------------------------------------------------------------------------------
    def step(self, x):
        """One step for every sequence: x_t (B, I) or (I,) — or token ids with an embedding — → y_t (a view)."""
        if self._emb_weight is not None:
            return self._step_ids(x)
        if not (x.__class__ is np.ndarray and x.dtype is self.dtype):
            x = np.atleast_1d(as_float_array(x, self.dtype, "stepper input x_t"))   # a float: x_t (1,)
        one, two = self._x_shapes
        if x.shape != one and x.shape != two:
            allowed = f"({self.batch_size}, {self.layer.input_size})" + (f" or {one}" if one else "")
            raise ValueError(f"stepper input x_t must have shape {allowed}, got {x.shape}; the stepper was built "
                             f"for batch_size={self.batch_size} (layer.stepper(batch_size=...))")
        if self._kern is None:
            self._numpy_step(x.reshape(two))
        else:
            self._call(x.reshape(-1))
        return self._y1 if x.shape == one else self._y2

    def _step_ids(self, ids):
        B = self.batch_size
        if isinstance(ids, (int, np.integer)) and not isinstance(ids, bool):
            if B != 1:
                raise ValueError(f"this stepper runs {B} sequences: pass an int array of {B} token ids")
            self._ids[0] = ids
            one = True
        else:
            arr = np.asarray(ids)
            if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer) or arr.shape != (B,):
                raise ValueError(f"token ids must be an int (batch 1) or an int array of shape ({B},), "
                                 f"got {arr.dtype} of shape {arr.shape}")
            self._ids[:] = arr
            one = False
        if self._kern is not None:
            self._call(self._ids)
        else:
            V = self._emb_weight.shape[0]
            if self._ids.min() < 0 or self._ids.max() >= V:
                raise IndexError(f"token id out of range: ids must be in [0, {V - 1}], got {self._ids.tolist()}")
            self._numpy_step(self._emb_weight[self._ids])
        return self._y1 if one else self._y2

    def _numpy_step(self, x):
        """The same step with the NumPy reference kernels (``backend="reference"``, or no Numba)."""
        from ..kernels import reference as ref
        layer = self.layer
        inp = np.asarray(x, self.dtype)                                            # (B, I)
        for k in range(layer.num_layers):
            p = layer._kernel_params(k, f"_l{k}")
            xw = inp @ p.W_ih.T + (0 if p.b_ih is None else p.b_ih)
            if isinstance(layer, LSTM):
                h, c = ref.lstm_step(xw, self._h[k], self._c[k], p)[:2]
                self._c[k] = c
            elif isinstance(layer, GRU):
                h = ref.gru_step(xw, self._h[k], p)[0]
            else:
                h = ref.rnn_step(xw, self._h[k], p)
            self._h[k] = h
            inp = self._h[k]
        if self._head_w is not None:
            logits = inp @ self._head_w.T + (0 if self._head_b is None else self._head_b)
            off, V = self._off["logits"], self._head_w.shape[0]
            self._buf[off:off + self.batch_size * V] = logits.reshape(-1)

    def __repr__(self) -> str:
        return f"Stepper({type(self.layer).__name__}, batch_size={self.batch_size}" + \
            (", compiled" if self._kern is not None else ", numpy") + ")"

    # Raw addresses of the layer's arrays live in ``meta``: a pickled or copied stepper would point at memory it
    # does not own.  Copy the layer (and make a new stepper) instead.
    def __reduce_ex__(self, protocol):
        raise TypeError("a Stepper cannot be pickled or copied: pickle/copy the layer and call layer.stepper()")

    def __deepcopy__(self, memo):
        raise TypeError("a Stepper cannot be copied: copy.deepcopy(layer).stepper() makes an independent one")


def step(layer, x_t, state=None):
    """``y_t, state = step(layer, x_t, state)``: one step as a pure function (also ``layer.step(x_t, state)``).

    x_t (B, I) or (I,); state as the layer's forward takes it (None = zeros): (num_layers, B, ·) arrays, or for one
    unbatched x_t (I,) also (num_layers, ·), as PyTorch takes them.  Returns copies: y_t (B, H_out) or (H_out,) and
    the new state — (h, c) for LSTM, h for GRU/RNN — shaped (num_layers, B, ·), or (num_layers, ·) when the state
    came unbatched.  Runs the same compiled step as :class:`Stepper` (one cached per layer, batch size and thread)
    plus the copies in and out; it reads the layer's arrays in place, so every write to them is seen.
    """
    x = x_t if (x_t.__class__ is np.ndarray and x_t.dtype is layer.dtype) else \
        np.atleast_1d(as_float_array(x_t, layer.dtype, "input x_t"))
    if x.ndim not in (1, 2) or x.shape[-1] != layer.input_size or x.size == 0:
        raise ValueError(f"input x_t must have shape (B, {layer.input_size}) with B >= 1, or ({layer.input_size},) "
                         f"for one sequence; got {x.shape}")
    B = 1 if x.ndim == 1 else x.shape[0]
    parts = state if isinstance(state, (tuple, list)) else (state,)
    unbatched = x.ndim == 1 and state is not None and all(p is None or np.ndim(p) == 2 for p in parts)
    if unbatched:
        state = layer._batch_of_one(state, "state")
    # Kept on the layer (a Stepper refers to its layer, so a cache keyed by the layer, even weakly, would keep
    # every layer alive); Module.__getstate__ leaves it out of copies and pickles.
    local = layer.__dict__.get("_step_cache")
    if local is None:
        local = layer.__dict__.setdefault("_step_cache", threading.local())
    per_layer = getattr(local, "steppers", None)
    if per_layer is None:
        per_layer = local.steppers = {}
    st = per_layer.get(B)
    if st is None:
        st = per_layer[B] = _InPlaceStepper(layer, B)
    elif st._stale():
        st._bind()
    st.state = state
    y = st.step(x).copy()
    if unbatched:
        return y, (st._h[:, 0].copy() if st._c is None else (st._h[:, 0].copy(), st._c[:, 0].copy()))
    return y, st.state


class _InPlaceStepper(Stepper):
    """The stepper behind :func:`step`: it never packs the weights (a batch-1 Stepper does), so it reads the
    layer's arrays in place and sees every write to them, including writes made by hand — a pure function has no
    ``refresh()`` to call."""

    _packable = False
