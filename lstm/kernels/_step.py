"""Compiled single-step kernels for streaming inference (private; the API is :mod:`lstm.nn.stepper`).

One call advances a whole stack of unidirectional layers by one time step for B sequences, in place::

    step_dense(x, meta)           x (B·I,) = B inputs  →  h of the last layer (B, P) in ``buf`` (address in meta)
    step_ids(ids, buf, meta)      ids (B,) int64     →  the same, with x_b = E[ids_b] (an embedding row)

and, when a head (V, P) is attached, logits (B, V) = h W_headᵀ + b_head.  The math is the reference
(:mod:`lstm.kernels.reference`) for T = 1, layer by layer, x_{k+1} = h_k::

    LSTM   a = b_ih + b_hh + W_ih x + W_hh h                 (4H,)  gate order i, f, g, o
           i = σ(a_i + p_i ⊙ c)  f = σ(a_f + p_f ⊙ c)  (i = 1 − f when coupled)  g = tanh(a_g)
           c ← f ⊙ c + i ⊙ g     o = σ(a_o + p_o ⊙ c)      h ← o ⊙ tanh(c)   (then h ← W_hr h if projected)
    GRU    ax = b_ih + W_ih x,  ah = b_hh + W_hh h            (3H,) each, order r, z, n
           r = σ(ax_r + ah_r)  z = σ(ax_z + ah_z)  n = tanh(ax_n + r ⊙ ah_n)   h ← (1 − z) ⊙ n + z ⊙ h
    RNN    h ← φ(b_ih + b_hh + W_ih x + W_hh h),  φ = tanh or relu

Why it is fast from Python (numbers in ``benchmarks/STREAMING.md``):

- Two or three arguments.  Unboxing costs ~40 ns per array argument, so everything a step needs lives in one
  float buffer ``buf`` (states, scratch, output, packed weights) and one int64 array ``meta`` (sizes, offsets
  into ``buf``, and the *addresses* of ``buf`` itself and of arrays read in place).  The entry point returns a
  code instead of raising: DONE, or — nothing computed — STALE (packed weights older than lstm's last parameter
  write: the caller re-packs and steps again), BAD_SIZE or BAD_ID (the caller raises the error).
- Nothing is allocated: views over ``buf`` and ``carray`` views are stack structs.
- Batch 1 (F_PACKED): the weights are packed into ``buf`` once (:func:`._microkernel.pack_row_panels`), LSTM and
  RNN as one matrix [W_ih | W_hh] with the bias b_ih + b_hh, and the layer input and h lie side by side in
  ``buf``, so a layer is one product a = b + [x | h] · [W_ih | W_hh]ᵀ (:func:`._microkernel.matvec_packed`:
  8 vector accumulators per 128 columns, no horizontal reductions).  A step is bound by reading the weights:
  4H·(I+P) values per layer from L2 (≈110 GB/s per core here) or L3 once they exceed L2.
- Larger batches read the layer's arrays in place through their addresses (``numba.carray``) with row dot
  products, 4 rows at a time (one load of x serves four rows), ``reassoc`` allowed so LLVM vectorises each dot.
- Absent biases and peepholes point at a block of zeros in ``buf`` (x + 0·c is exactly x), so the gate loops have
  no branches and vectorise.  The LSTM unit is :func:`._gates.lstm_unit`, the one the sequence kernel uses (so a
  step equals the full forward pass at t to rounding); GRU and RNN use its σ/tanh (:mod:`._gates`) as their
  sequence kernels do.
"""

from __future__ import annotations

from numba import carray, njit, types
from numba.extending import intrinsic

from ._gates import gate_sigmoid, gate_tanh, lstm_unit
from ._microkernel import matvec_packed, pack_row_panels, packed_size, row_nr, row_panel_width  # noqa: F401
from ._vmath import one_like

# No NaN/Inf assumptions; ``reassoc`` only in the dot products (a different but fixed summation order: float64
# results stay within ~1e-15 relative of the reference, float32 within ~1e-6).
_FAST = {"nsz", "contract", "arcp"}
JIT = {"cache": True, "fastmath": _FAST, "error_model": "numpy", "nogil": True, "boundscheck": False}
_JIT_DOT = {**JIT, "fastmath": _FAST | {"reassoc"}}

# ---- meta layout (int64) ---------------------------------------------------------------------------------------
LSTM, GRU, RNN_TANH, RNN_RELU = 0, 1, 2, 3
F_COUPLED, F_PROJ, F_HEAD, F_PACKED = 1, 2, 4, 8    # flag bits

M_KIND, M_L, M_B, M_H, M_P, M_FLAGS = 0, 1, 2, 3, 4, 5
M_I0 = 6            # input width of layer 0
M_XIN = 7           # offset in buf of the layer-0 input (B, I0)
M_A = 8             # offset of the pre-activation scratch (B, 2G)
M_M = 9             # offset of the projection scratch m (B, H)
M_ZEROS = 10        # address of a zero block (stand-in for absent biases / peepholes)
M_EMB = 11          # address of the embedding table (V_emb, I0), or 0
M_NEMB = 12         # rows of the embedding table
M_V = 13            # head rows V
M_HEAD_W = 14       # address of the head weight (V, P)
M_HEAD_B = 15       # address of the head bias (V,) (the zero block when absent)
M_LOGITS = 16       # offset of the logits (B, V)
M_PHEAD = 17        # F_PACKED: offset in buf of the packed head (bias + panels)
M_WRITES = 18       # F_PACKED: address of the process-wide count of parameter writes (``lstm._writes.count``)
M_SEEN = 19         # F_PACKED: that count when the weights were packed
M_BUF = 20          # address of buf and its length (step_dense takes no buf argument: one less to unbox)
M_NBUF = 21
HEADER = 24
DONE, STALE, BAD_SIZE, BAD_ID = 0, 1, 2, -1     # what a step returns (anything but DONE: nothing was computed)
# per layer k, at HEADER + k * LAYER:
L_I, L_WIH, L_WHH, L_BIH, L_BHH, L_PEEP, L_WHR, L_H, L_C = range(9)
L_PX = 9            # F_PACKED: offset of packed [W_ih | W_hh] + (b_ih + b_hh) (LSTM, RNN), or W_ih + b_ih (GRU)
L_PH = 10           # F_PACKED, GRU: the packed W_hh with b_hh
L_PR = 11           # F_PACKED, projection: the packed W_hr
LAYER = 12


@intrinsic
def _ptr(typingctx, addr, like):
    """The integer ``addr`` as a pointer to ``like``'s dtype (for ``numba.carray``)."""
    ptr_type = types.CPointer(like.dtype)

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(ptr_type))

    return ptr_type(types.int64, like), codegen


@njit(**JIT)
def _mat(addr, like, rows, cols):
    return carray(_ptr(addr, like), (rows, cols))


@njit(**JIT)
def _vec(addr, like, n):
    return carray(_ptr(addr, like), (n,))


@njit(**_JIT_DOT)
def _matvec_add(W, x, xo, xs, out, oo, os, B):
    """out[oo + b·os + j] += W[j] · x[xo + b·xs : xo + b·xs + K] for every row j of W (G, K) and b < B.

    Rows in blocks of 4 (each load of x serves four rows; the block stays in L1 across the batch rows).  Every
    inner loop indexes a slice with its own loop counter: an index like ``xo + k`` could be negative as far as
    LLVM knows, and Numba's wraparound check then turns the contiguous load into a gather.
    """
    G, K = W.shape
    one = one_like(out)
    zero = one - one
    j = 0
    while j + 4 <= G:
        w0, w1, w2, w3 = W[j], W[j + 1], W[j + 2], W[j + 3]
        for b in range(B):
            xv = x[xo + b * xs:xo + b * xs + K]
            s0 = s1 = s2 = s3 = zero
            for k in range(K):
                v = xv[k]
                s0 += w0[k] * v
                s1 += w1[k] * v
                s2 += w2[k] * v
                s3 += w3[k] * v
            ov = out[oo + b * os + j:oo + b * os + j + 4]
            ov[0] += s0
            ov[1] += s1
            ov[2] += s2
            ov[3] += s3
        j += 4
    while j < G:
        w0 = W[j]
        for b in range(B):
            xv = x[xo + b * xs:xo + b * xs + K]
            s0 = zero
            for k in range(K):
                s0 += w0[k] * xv[k]
            out[oo + b * os + j] += s0
        j += 1


@njit(**JIT)
def _init_bias(out, oo, os, B, b1, b2):
    """out[oo + b·os + j] = b1[j] + b2[j]."""
    G = b1.shape[0]
    for b in range(B):
        o = out[oo + b * os:oo + b * os + G]
        for j in range(G):
            o[j] = b1[j] + b2[j]


@njit(**JIT)
def _lstm_gates(a, c, h, peep, coupled):
    """One sequence: a (4H,) pre-activations; c (H,) updated in place; h (H,) = o ⊙ tanh(c) (all slices)."""
    H = c.shape[0]
    a_i, a_f, a_g, a_o = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:4 * H]
    p_i, p_f, p_o = peep[:H], peep[H:2 * H], peep[2 * H:3 * H]
    one = one_like(a)
    for u in range(H):
        _, _, _, o, cn, th = lstm_unit(a_i[u], a_f[u], a_g[u], a_o[u], c[u], p_i[u], p_f[u], p_o[u], coupled, one)
        c[u] = cn
        h[u] = o * th


@njit(**JIT)
def _gru_gates(ax, ah, h):
    """One sequence: ax, ah (3H,) = the x side and the h side, each r, z, n; h (H,) updated in place."""
    H = h.shape[0]
    x_r, x_z, x_n = ax[:H], ax[H:2 * H], ax[2 * H:3 * H]
    h_r, h_z, h_n = ah[:H], ah[H:2 * H], ah[2 * H:3 * H]
    one = one_like(ax)
    for u in range(H):
        r = gate_sigmoid(x_r[u] + h_r[u])
        z = gate_sigmoid(x_z[u] + h_z[u])
        n = gate_tanh(x_n[u] + r * h_n[u])
        h[u] = (one - z) * n + z * h[u]


@njit(**JIT)
def _rnn_act(a, h, relu):
    """h (H,) = φ(a (H,))."""
    one = one_like(a)
    zero = one - one
    for u in range(h.shape[0]):
        v = a[u]
        h[u] = max(v, zero) if relu else gate_tanh(v)


@njit(**JIT)
def _run_packed(buf, meta):
    """Batch 1 from weights packed into ``buf`` (:func:`._microkernel.matvec_packed`): LSTM and RNN make one
    product per layer over [input | h], which lie side by side in ``buf``; GRU makes two (x side, h side)."""
    kind, L, H, P, flags = meta[M_KIND], meta[M_L], meta[M_H], meta[M_P], meta[M_FLAGS]
    G = 4 * H if kind == LSTM else (3 * H if kind == GRU else H)
    NR = row_nr(buf)
    ng = (G + NR - 1) // NR
    ao, Gp = meta[M_A], ng * NR                            # pre-activations: (Gp,), for GRU two of them
    src = meta[M_XIN]
    for k in range(L):
        base = HEADER + k * LAYER
        I = meta[base + L_I]
        hoff = meta[base + L_H]                            # h (P,), right after this layer's input (I,)
        if kind == GRU:
            matvec_packed(buf, src, I, meta[base + L_PX], ng, ao)
            matvec_packed(buf, hoff, P, meta[base + L_PH], ng, ao + Gp)
            _gru_gates(buf[ao:ao + G], buf[ao + Gp:ao + Gp + G], buf[hoff:hoff + H])
        else:
            matvec_packed(buf, src, I + P, meta[base + L_PX], ng, ao)
            if kind == LSTM:
                peep = _vec(meta[base + L_PEEP], buf, 3 * H)
                coff = meta[base + L_C]
                coupled = (flags & F_COUPLED) != 0
                out = meta[M_M] if flags & F_PROJ else hoff
                _lstm_gates(buf[ao:ao + G], buf[coff:coff + H], buf[out:out + H], peep, coupled)
                if flags & F_PROJ:                          # h = W_hr m, through the (now free) scratch
                    matvec_packed(buf, out, H, meta[base + L_PR], (P + NR - 1) // NR, ao)
                    hv = buf[hoff:hoff + P]
                    av = buf[ao:ao + P]
                    for j in range(P):
                        hv[j] = av[j]
            else:
                _rnn_act(buf[ao:ao + G], buf[hoff:hoff + P], kind == RNN_RELU)
        src = hoff
    if flags & F_HEAD:                                     # logits (Vp,) = b_head + h W_headᵀ (padding 0)
        matvec_packed(buf, src, P, meta[M_PHEAD], (meta[M_V] + NR - 1) // NR, meta[M_LOGITS])


@njit(**JIT)
def _run_layers(buf, meta):
    """Advance every layer by one step; the layer-0 input is already in buf[M_XIN]."""
    kind, L, B, H, P, flags = meta[M_KIND], meta[M_L], meta[M_B], meta[M_H], meta[M_P], meta[M_FLAGS]
    if flags & F_PACKED:
        _run_packed(buf, meta)
        return
    G = 4 * H if kind == LSTM else (3 * H if kind == GRU else H)
    ao = meta[M_A]
    zeros = meta[M_ZEROS]
    src, src_w = meta[M_XIN], meta[M_I0]                   # this layer's input: buf[src + b·src_w : … + I]
    for k in range(L):
        base = HEADER + k * LAYER
        I = meta[base + L_I]
        W_ih = _mat(meta[base + L_WIH], buf, G, I)         # (G, I)
        W_hh = _mat(meta[base + L_WHH], buf, G, P)         # (G, P)
        b_ih = _vec(meta[base + L_BIH], buf, G)
        b_hh = _vec(meta[base + L_BHH], buf, G)
        hoff = meta[base + L_H]                            # h (B, P)
        if kind == GRU:                                    # x side and h side kept apart (r gates the h side of n)
            _init_bias(buf, ao, 2 * G, B, b_ih, _vec(zeros, buf, G))
            _init_bias(buf, ao + G, 2 * G, B, b_hh, _vec(zeros, buf, G))
            _matvec_add(W_ih, buf, src, src_w, buf, ao, 2 * G, B)
            _matvec_add(W_hh, buf, hoff, P, buf, ao + G, 2 * G, B)
            for b in range(B):
                _gru_gates(buf[ao + b * 2 * G:ao + b * 2 * G + G], buf[ao + b * 2 * G + G:ao + (b + 1) * 2 * G],
                           buf[hoff + b * P:hoff + b * P + H])
        else:
            _init_bias(buf, ao, G, B, b_ih, b_hh)
            _matvec_add(W_ih, buf, src, src_w, buf, ao, G, B)
            _matvec_add(W_hh, buf, hoff, P, buf, ao, G, B)
            if kind == LSTM:
                peep = _vec(meta[base + L_PEEP], buf, 3 * H)
                coff = meta[base + L_C]
                coupled = (flags & F_COUPLED) != 0
                if flags & F_PROJ:
                    mo = meta[M_M]
                    for b in range(B):
                        _lstm_gates(buf[ao + b * G:ao + (b + 1) * G], buf[coff + b * H:coff + (b + 1) * H],
                                    buf[mo + b * H:mo + (b + 1) * H], peep, coupled)
                    W_hr = _mat(meta[base + L_WHR], buf, P, H)          # (P, H)
                    hv = buf[hoff:hoff + B * P]
                    for j in range(B * P):
                        hv[j] = 0
                    _matvec_add(W_hr, buf, mo, H, buf, hoff, P, B)
                else:
                    for b in range(B):
                        _lstm_gates(buf[ao + b * G:ao + (b + 1) * G], buf[coff + b * H:coff + (b + 1) * H],
                                    buf[hoff + b * P:hoff + (b + 1) * P], peep, coupled)
            else:
                relu = kind == RNN_RELU
                for b in range(B):
                    _rnn_act(buf[ao + b * G:ao + (b + 1) * G], buf[hoff + b * P:hoff + (b + 1) * P], relu)
        src, src_w = hoff, P
    if flags & F_HEAD:                                     # logits (B, V) = b_head + h W_headᵀ
        V = meta[M_V]
        lo = meta[M_LOGITS]
        head_b = _vec(meta[M_HEAD_B], buf, V)
        _init_bias(buf, lo, V, B, head_b, _vec(zeros, buf, V))
        _matvec_add(_mat(meta[M_HEAD_W], buf, V, P), buf, src, P, buf, lo, V, B)


@njit(**JIT)
def _stale(meta):
    """Packed weights older than the last parameter write made by lstm (the caller re-packs and steps again)."""
    return (meta[M_FLAGS] & F_PACKED) != 0 and _vec(meta[M_WRITES], meta, 1)[0] != meta[M_SEEN]


@njit(**JIT)
def step_dense(x, meta):
    """x (B·I0,) of any stride: the B inputs one after the other.  Returns DONE, STALE or BAD_SIZE."""
    buf = _vec(meta[M_BUF], x, meta[M_NBUF])
    n = meta[M_B] * meta[M_I0]
    if x.shape[0] != n:
        return BAD_SIZE
    if _stale(meta):
        return STALE
    xin = buf[meta[M_XIN]:meta[M_XIN] + n]
    for i in range(n):
        xin[i] = x[i]
    _run_layers(buf, meta)
    return DONE


@njit(**JIT)
def step_ids(ids, buf, meta):
    """ids (B,) int64 rows of the embedding table.  Returns DONE, STALE or BAD_ID (an id out of range)."""
    B, I0, n_emb = meta[M_B], meta[M_I0], meta[M_NEMB]
    for b in range(B):
        if ids[b] < 0 or ids[b] >= n_emb:
            return BAD_ID
    if _stale(meta):
        return STALE
    emb = _mat(meta[M_EMB], buf, n_emb, I0)
    xin = buf[meta[M_XIN]:meta[M_XIN] + B * I0]
    for b in range(B):
        row = emb[ids[b]]
        dst = xin[b * I0:(b + 1) * I0]
        for i in range(I0):
            dst[i] = row[i]
    _run_layers(buf, meta)
    return DONE
