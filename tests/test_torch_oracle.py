"""Oracle tests: lstm.nn layers and cells against PyTorch autograd.

Every randomly generated configuration loads identical (random, non-zero-bias) weights into our layer and into the
corresponding ``torch.nn`` module in float64, runs forward with the same input / initial state / lengths, then
backward with the same random upstream gradients, and compares outputs, final states, input and initial-state
gradients and *every* parameter gradient with a max-abs tolerance of 1e-10.

Variable lengths are checked against ``pack_padded_sequence(..., enforce_sorted=False)`` -> module ->
``pad_packed_sequence(..., total_length=T)``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

from lstm.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell  # noqa: E402

# torch warns that LSTM projections fall back from oneDNN; irrelevant to the oracle
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")

TOL64 = 1e-10
N_CONFIGS = 56  # per layer type (LSTM, GRU, RNN-tanh, RNN-relu)

OURS = {"lstm": LSTM, "gru": GRU, "rnn_tanh": RNN, "rnn_relu": RNN}
THEIRS = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn_tanh": torch.nn.RNN, "rnn_relu": torch.nn.RNN}


# ----------------------------------------------------------------------------------------------------------------
# configurations
# ----------------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Cfg:
    kind: str
    idx: int
    T: int
    B: int
    I: int
    H: int
    num_layers: int
    bidirectional: bool
    batch_first: bool
    bias: bool
    proj_size: int
    lengths: tuple | None
    given_state: bool
    dstate_mode: str  # "full", "none", "h_only", "c_only" (c_only only for LSTM)
    data_seed: int

    @property
    def D(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def H_out(self) -> int:
        return self.proj_size or self.H

    def short(self) -> str:
        return (
            f"{self.kind}[{self.idx}] T={self.T} B={self.B} I={self.I} H={self.H} L={self.num_layers} "
            f"bi={self.bidirectional} bf={self.batch_first} bias={self.bias} proj={self.proj_size} "
            f"lengths={self.lengths} state={self.given_state} dstate={self.dstate_mode}"
        )


def _make_configs(kind: str, n: int, seed: int) -> list[Cfg]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        T = int(rng.integers(1, 8))
        B = int(rng.integers(1, 5))
        I = int(rng.integers(1, 5))
        H = int(rng.integers(1, 6))
        L = int(rng.integers(1, 4))
        bi = bool(rng.random() < 0.5)
        bf = bool(rng.random() < 0.5)
        bias = bool(rng.random() < 0.75)
        proj = 0
        if kind == "lstm":
            # Force projection in a good share of configs (including bidirectional + multi-layer ones).
            if i % 3 == 0 or rng.random() < 0.2:
                H = max(H, 2)
                proj = int(rng.integers(1, H))  # torch requires proj_size < hidden_size
        lengths = None
        if rng.random() < 0.55:
            lens = rng.integers(1, T + 1, size=B)
            if B >= 2:
                # ensure some length-1 and some full-length sequences, in random positions
                pos = rng.permutation(B)
                lens[pos[0]] = 1
                if rng.random() < 0.8:
                    lens[pos[1]] = T
            elif rng.random() < 0.5:
                lens[0] = T
            lengths = tuple(int(v) for v in lens)
        given_state = bool(rng.random() < 0.6)
        modes = ["full"] * 8 + ["none", "h_only"] + (["c_only"] if kind == "lstm" else [])
        dstate_mode = str(rng.choice(modes))
        out.append(
            Cfg(kind, i, T, B, I, H, L, bi, bf, bias, proj, lengths, given_state, dstate_mode,
                int(rng.integers(0, 2**31)))
        )
    return out


CONFIGS = {
    "lstm": _make_configs("lstm", N_CONFIGS, 1001),
    "gru": _make_configs("gru", N_CONFIGS, 2002),
    "rnn_tanh": _make_configs("rnn_tanh", N_CONFIGS, 3003),
    "rnn_relu": _make_configs("rnn_relu", N_CONFIGS, 4004),
}
ALL_CONFIGS = [c for k in CONFIGS for c in CONFIGS[k]]


def test_config_coverage():
    """The fixed-seed generator really covers the feature space the oracle tests claim to cover."""
    for kind, cfgs in CONFIGS.items():
        assert len(cfgs) >= 50
        for L in (1, 2, 3):
            assert any(c.num_layers == L for c in cfgs), (kind, L)
        for flag in ("bidirectional", "batch_first", "bias", "given_state"):
            assert {getattr(c, flag) for c in cfgs} == {True, False}, (kind, flag)
        assert any(c.lengths is None for c in cfgs)
        with_len = [c for c in cfgs if c.lengths is not None]
        assert any(1 in c.lengths and c.T in c.lengths and c.T > 1 for c in with_len), kind
        assert any(list(c.lengths) != sorted(c.lengths, reverse=True) for c in with_len), kind  # unsorted
        assert any(max(c.lengths) < c.T for c in with_len), kind  # max length shorter than T
        assert any(c.T == 1 for c in cfgs) and any(c.T == 7 for c in cfgs), kind
        assert {c.B for c in cfgs} == {1, 2, 3, 4}, kind
        assert any(c.dstate_mode == "full" for c in cfgs)
        if kind == "lstm":
            proj = [c for c in cfgs if c.proj_size]
            assert any(c.bidirectional and c.num_layers > 1 for c in proj)
            assert any(c.lengths is not None for c in proj)
            assert any(c.given_state for c in proj)


# ----------------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------------
# The NumPy reference is the specification; the compiled kernels must pass the same oracle.
BACKENDS = ["reference", "numba"]


def _build_ours(cfg: Cfg, dtype, seed=0, backend="auto"):
    common = dict(num_layers=cfg.num_layers, bias=cfg.bias, batch_first=cfg.batch_first, dropout=0.0,
                  bidirectional=cfg.bidirectional, backend=backend)
    if cfg.kind == "lstm":
        return LSTM(cfg.I, cfg.H, proj_size=cfg.proj_size, dtype=dtype, seed=seed, **common)
    if cfg.kind == "gru":
        return GRU(cfg.I, cfg.H, dtype=dtype, seed=seed, **common)
    nl = "tanh" if cfg.kind == "rnn_tanh" else "relu"
    return RNN(cfg.I, cfg.H, nonlinearity=nl, dtype=dtype, seed=seed, **common)


def _build_torch(cfg: Cfg, tdtype):
    common = dict(num_layers=cfg.num_layers, bias=cfg.bias, batch_first=cfg.batch_first, dropout=0.0,
                  bidirectional=cfg.bidirectional)
    if cfg.kind == "lstm":
        m = torch.nn.LSTM(cfg.I, cfg.H, proj_size=cfg.proj_size, **common)
    elif cfg.kind == "gru":
        m = torch.nn.GRU(cfg.I, cfg.H, **common)
    else:
        m = torch.nn.RNN(cfg.I, cfg.H, nonlinearity="tanh" if cfg.kind == "rnn_tanh" else "relu", **common)
    return m.to(tdtype)


def _randomize_params(module, rng, scale=0.6):
    """Load fresh random values (non-zero biases) into our module through its public load_state_dict."""
    sd = module.state_dict()
    new = {k: rng.uniform(-scale, scale, size=v.shape) for k, v in sd.items()}
    module.load_state_dict(new)
    return new


def _copy_into_torch(ours_sd: dict, tmod, tdtype):
    tsd = tmod.state_dict()
    assert set(ours_sd) == set(tsd), f"parameter names differ: ours {sorted(ours_sd)} vs torch {sorted(tsd)}"
    for k in tsd:
        assert tuple(ours_sd[k].shape) == tuple(tsd[k].shape), (k, ours_sd[k].shape, tuple(tsd[k].shape))
    tmod.load_state_dict({k: torch.tensor(np.asarray(v), dtype=tdtype) for k, v in ours_sd.items()})


def _maxdiff(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shape {a.shape} vs {b.shape}"
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def _check(name, ours, ref, tol, cfg_desc, scale_rel=False):
    assert ours is not None, f"{name} is None ({cfg_desc})"
    ref = np.asarray(ref, dtype=np.float64)
    d = _maxdiff(ours, ref)
    bound = tol * (max(1.0, float(np.max(np.abs(ref)))) if (scale_rel and ref.size) else 1.0)
    assert d <= bound, f"{name}: max|diff|={d:.3e} > {bound:.1e}  ({cfg_desc})"


def _make_data(cfg: Cfg, np_dtype):
    rng = np.random.default_rng(cfg.data_seed)
    D, L, B, T = cfg.D, cfg.num_layers, cfg.B, cfg.T
    x_shape = (B, T, cfg.I) if cfg.batch_first else (T, B, cfg.I)
    y_shape = (B, T, D * cfg.H_out) if cfg.batch_first else (T, B, D * cfg.H_out)
    x = rng.standard_normal(x_shape).astype(np_dtype)
    h0 = rng.standard_normal((D * L, B, cfg.H_out)).astype(np_dtype) * 0.7
    c0 = rng.standard_normal((D * L, B, cfg.H)).astype(np_dtype) * 0.7 if cfg.kind == "lstm" else None
    dy = rng.standard_normal(y_shape).astype(np_dtype)
    dh_n = rng.standard_normal((D * L, B, cfg.H_out)).astype(np_dtype)
    dc_n = rng.standard_normal((D * L, B, cfg.H)).astype(np_dtype) if cfg.kind == "lstm" else None
    if cfg.dstate_mode == "none":
        dh_n, dc_n = None, None
    elif cfg.dstate_mode == "h_only":
        dc_n = None
    elif cfg.dstate_mode == "c_only":
        dh_n = None
    lengths = None if cfg.lengths is None else np.array(cfg.lengths, dtype=np.int64)
    return rng, x, h0, c0, dy, dh_n, dc_n, lengths


def _torch_reference(cfg: Cfg, tmod, x, h0, c0, lengths, dy, dh_n, dc_n, tdtype):
    """Run torch forward + autograd backward; initial states always explicit (zeros when ours gets None)."""
    xt = torch.tensor(x, dtype=tdtype, requires_grad=True)
    h0t = torch.tensor(h0 if cfg.given_state else np.zeros_like(h0), dtype=tdtype, requires_grad=True)
    if cfg.kind == "lstm":
        c0t = torch.tensor(c0 if cfg.given_state else np.zeros_like(c0), dtype=tdtype, requires_grad=True)
        hx = (h0t, c0t)
    else:
        c0t = None
        hx = h0t
    if lengths is not None:
        packed = pack_padded_sequence(xt, torch.as_tensor(lengths, dtype=torch.int64),
                                      batch_first=cfg.batch_first, enforce_sorted=False)
        out, st = tmod(packed, hx)
        y, _ = pad_packed_sequence(out, batch_first=cfg.batch_first, total_length=cfg.T)
    else:
        y, st = tmod(xt, hx)
    if cfg.kind == "lstm":
        h_n, c_n = st
    else:
        h_n, c_n = st, None
    loss = (y * torch.tensor(dy, dtype=tdtype)).sum()
    if dh_n is not None:
        loss = loss + (h_n * torch.tensor(dh_n, dtype=tdtype)).sum()
    if dc_n is not None:
        loss = loss + (c_n * torch.tensor(dc_n, dtype=tdtype)).sum()
    loss.backward()

    def g(p):
        return np.zeros(tuple(p.shape)) if p.grad is None else p.grad.detach().double().numpy()

    return dict(
        y=y.detach().double().numpy(),
        h_n=h_n.detach().double().numpy(),
        c_n=None if c_n is None else c_n.detach().double().numpy(),
        dx=g(xt),
        dh0=g(h0t),
        dc0=None if c0t is None else g(c0t),
        grads={k: g(p) for k, p in tmod.named_parameters()},
    )


def _run_ours(cfg: Cfg, layer, x, h0, c0, lengths, dy, dh_n, dc_n):
    if cfg.kind == "lstm":
        state = (h0, c0) if cfg.given_state else None
        y, (h_n, c_n) = layer(x, state=state, lengths=lengths)
        dstate = None if (dh_n is None and dc_n is None) else (dh_n, dc_n)
        dx, (dh0, dc0) = layer.backward(dy, dstate)
    else:
        state = h0 if cfg.given_state else None
        y, h_n = layer(x, state=state, lengths=lengths)
        c_n = None
        dx, dh0 = layer.backward(dy, dh_n)
        dc0 = None
    return dict(y=y, h_n=h_n, c_n=c_n, dx=dx, dh0=dh0, dc0=dc0,
                grads={k: np.array(v, copy=True) for k, v in layer.grads.items()})


def _compare(cfg: Cfg, ours: dict, ref: dict, tol: float, scale_rel=False):
    desc = cfg.short()
    for key in ("y", "h_n", "c_n", "dx", "dh0", "dc0"):
        if ref[key] is None:
            continue
        _check(key, ours[key], ref[key], tol, desc, scale_rel)
    assert set(ours["grads"]) == set(ref["grads"]), (sorted(ours["grads"]), sorted(ref["grads"]))
    for k in sorted(ref["grads"]):
        _check(f"grad[{k}]", ours["grads"][k], ref["grads"][k], tol, desc, scale_rel)


# ----------------------------------------------------------------------------------------------------------------
# layers, float64, many random configurations
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cfg", ALL_CONFIGS, ids=lambda c: f"{c.kind}-{c.idx}")
def test_layer_matches_torch_float64(cfg: Cfg, backend):
    rng, x, h0, c0, dy, dh_n, dc_n, lengths = _make_data(cfg, np.float64)
    layer = _build_ours(cfg, np.float64, seed=cfg.data_seed % 1000, backend=backend)
    layer.eval()
    _randomize_params(layer, rng)
    tmod = _build_torch(cfg, torch.float64)
    _copy_into_torch(layer.state_dict(), tmod, torch.float64)

    ours = _run_ours(cfg, layer, x, h0, c0, lengths, dy, dh_n, dc_n)
    ref = _torch_reference(cfg, tmod, x, h0, c0, lengths, dy, dh_n, dc_n, torch.float64)

    # exact shapes and dtype
    assert ours["y"].shape == ref["y"].shape
    assert ours["y"].dtype == np.float64 and ours["dx"].dtype == np.float64
    assert ours["h_n"].shape == (cfg.D * cfg.num_layers, cfg.B, cfg.H_out)
    if cfg.kind == "lstm":
        assert ours["c_n"].shape == (cfg.D * cfg.num_layers, cfg.B, cfg.H)

    _compare(cfg, ours, ref, TOL64)

    # contract: padded steps give exactly-zero outputs and exactly-zero input gradients
    if lengths is not None:
        t_idx = np.arange(cfg.T)
        pad = t_idx[None, :] >= lengths[:, None]  # (B, T)
        if not cfg.batch_first:
            pad = pad.T  # (T, B)
        assert np.all(ours["y"][pad] == 0.0), f"non-zero y at padded steps ({cfg.short()})"
        assert np.all(ours["dx"][pad] == 0.0), f"non-zero dx at padded steps ({cfg.short()})"


# ----------------------------------------------------------------------------------------------------------------
# layers, float32 (a few configs)
# ----------------------------------------------------------------------------------------------------------------
F32_CONFIGS = [
    Cfg("lstm", 0, 6, 3, 4, 5, 2, True, False, True, 0, (6, 1, 4), True, "full", 11),
    Cfg("lstm", 1, 5, 2, 3, 4, 2, True, True, True, 2, None, True, "full", 12),
    Cfg("gru", 0, 6, 3, 4, 5, 2, True, True, True, 0, (3, 6, 1), True, "full", 13),
    Cfg("rnn_tanh", 0, 7, 4, 3, 5, 3, False, False, True, 0, None, True, "full", 14),
    Cfg("rnn_relu", 0, 5, 2, 3, 4, 2, True, False, False, 0, (5, 2), False, "full", 15),
]


@pytest.mark.parametrize("cfg", F32_CONFIGS, ids=lambda c: f"{c.kind}-{c.idx}")
def test_layer_matches_torch_float32(cfg: Cfg):
    rng, x, h0, c0, dy, dh_n, dc_n, lengths = _make_data(cfg, np.float32)
    layer = _build_ours(cfg, np.float32, seed=5)
    layer.eval()
    _randomize_params(layer, rng, scale=0.4)
    sd = layer.state_dict()
    assert all(v.dtype == np.float32 for v in sd.values())
    tmod = _build_torch(cfg, torch.float32)
    _copy_into_torch(sd, tmod, torch.float32)

    ours = _run_ours(cfg, layer, x, h0, c0, lengths, dy, dh_n, dc_n)
    ref = _torch_reference(cfg, tmod, x, h0, c0, lengths, dy, dh_n, dc_n, torch.float32)
    for key in ("y", "h_n", "dx", "dh0"):
        assert ours[key].dtype == np.float32, f"{key} dtype {ours[key].dtype}"
    assert all(g.dtype == np.float32 for g in ours["grads"].values())
    _compare(cfg, ours, ref, 1e-5, scale_rel=True)


# ----------------------------------------------------------------------------------------------------------------
# grads overwrite by default, accumulate with accumulate=True
# ----------------------------------------------------------------------------------------------------------------
ACC_CONFIGS = [
    Cfg("lstm", 0, 4, 2, 3, 4, 2, True, False, True, 2, (4, 2), True, "full", 21),
    Cfg("gru", 0, 4, 2, 3, 4, 2, True, True, True, 0, None, True, "full", 22),
    Cfg("rnn_tanh", 0, 4, 3, 3, 4, 1, False, False, True, 0, (1, 4, 3), True, "full", 23),
]


@pytest.mark.parametrize("cfg", ACC_CONFIGS, ids=lambda c: f"{c.kind}-{c.idx}")
def test_backward_overwrites_and_accumulates(cfg: Cfg):
    rng, x, h0, c0, dy, dh_n, dc_n, lengths = _make_data(cfg, np.float64)
    layer = _build_ours(cfg, np.float64, seed=3)
    _randomize_params(layer, rng)
    layer.eval()
    state = (h0, c0) if cfg.kind == "lstm" else h0
    dstate = (dh_n, dc_n) if cfg.kind == "lstm" else dh_n

    def fwd_bwd(dy_, **kw):
        layer(x, state=state, lengths=lengths)
        return layer.backward(dy_, dstate, **kw)

    # pre-fill grads with garbage: a default backward must overwrite it
    for g in layer.grads.values():
        g.fill(123.0)
    fwd_bwd(dy)
    g1 = {k: v.copy() for k, v in layer.grads.items()}
    assert all(np.all(np.isfinite(v)) for v in g1.values())
    assert any(np.any(v != 0) for v in g1.values())

    # grads arrays identity is stable (optimizers hold references)
    refs = layer.grads
    fwd_bwd(dy)
    for k in g1:
        np.testing.assert_allclose(layer.grads[k], g1[k], rtol=0, atol=1e-12, err_msg=f"overwrite {k}")
        assert layer.grads[k] is refs[k] or np.shares_memory(layer.grads[k], refs[k]), k

    fwd_bwd(dy, accumulate=True)
    for k in g1:
        np.testing.assert_allclose(layer.grads[k], 2 * g1[k], rtol=0, atol=1e-12, err_msg=f"accumulate {k}")

    # and a later default backward overwrites the accumulated sum again
    fwd_bwd(dy)
    for k in g1:
        np.testing.assert_allclose(layer.grads[k], g1[k], rtol=0, atol=1e-12, err_msg=f"re-overwrite {k}")


# ----------------------------------------------------------------------------------------------------------------
# cells
# ----------------------------------------------------------------------------------------------------------------
CELL_CONFIGS = []
_crng = np.random.default_rng(777)
for _kind in ("lstm", "gru", "rnn_tanh", "rnn_relu"):
    for _i in range(6):
        CELL_CONFIGS.append(dict(
            kind=_kind, idx=_i,
            B=int(_crng.integers(1, 5)), I=int(_crng.integers(1, 6)), H=int(_crng.integers(1, 6)),
            bias=bool(_i % 3 != 2), given_state=bool(_i % 2 == 0),
            dmode=["full", "full", "h_only", "full", "c_only", "full"][_i] if _kind == "lstm" else "full",
            seed=int(_crng.integers(0, 2**31)),
        ))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("c", CELL_CONFIGS, ids=lambda c: f"{c['kind']}-{c['idx']}")
def test_cell_matches_torch_float64(c, backend):
    rng = np.random.default_rng(c["seed"])
    B, I, H, kind = c["B"], c["I"], c["H"], c["kind"]
    desc = str(c)
    if kind == "lstm":
        cell = LSTMCell(I, H, bias=c["bias"], backend=backend, dtype=np.float64, seed=1)
        tcell = torch.nn.LSTMCell(I, H, bias=c["bias"])
    elif kind == "gru":
        cell = GRUCell(I, H, bias=c["bias"], backend=backend, dtype=np.float64, seed=1)
        tcell = torch.nn.GRUCell(I, H, bias=c["bias"])
    else:
        nl = "tanh" if kind == "rnn_tanh" else "relu"
        cell = RNNCell(I, H, bias=c["bias"], backend=backend, nonlinearity=nl, dtype=np.float64, seed=1)
        tcell = torch.nn.RNNCell(I, H, bias=c["bias"], nonlinearity=nl)
    tcell = tcell.double()
    _randomize_params(cell, rng)
    _copy_into_torch(cell.state_dict(), tcell, torch.float64)

    x = rng.standard_normal((B, I))
    h0 = rng.standard_normal((B, H)) if c["given_state"] else np.zeros((B, H))
    c0 = rng.standard_normal((B, H)) if c["given_state"] else np.zeros((B, H))
    dh = rng.standard_normal((B, H))
    dc = rng.standard_normal((B, H))
    if c["dmode"] == "h_only":
        dc = None
    elif c["dmode"] == "c_only":
        dh = None

    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0, requires_grad=True)
    c0t = torch.tensor(c0, requires_grad=True)
    if kind == "lstm":
        ht, ct = tcell(xt, (h0t, c0t))
        loss = 0.0
        if dh is not None:
            loss = loss + (ht * torch.tensor(dh)).sum()
        if dc is not None:
            loss = loss + (ct * torch.tensor(dc)).sum()
        loss.backward()
        st = (h0, c0) if c["given_state"] else None
        h, cc = cell(x, state=st)
        dx, (dh0, dc0) = cell.backward((dh, dc))
        _check("h", h, ht.detach().numpy(), TOL64, desc)
        _check("c", cc, ct.detach().numpy(), TOL64, desc)
        _check("dc0", dc0, c0t.grad.numpy(), TOL64, desc)
    else:
        ht = tcell(xt, h0t)
        (ht * torch.tensor(dh)).sum().backward()
        h = cell(x, state=h0 if c["given_state"] else None)
        dx, dh0 = cell.backward(dh)
        _check("h", h, ht.detach().numpy(), TOL64, desc)
    _check("dx", dx, xt.grad.numpy(), TOL64, desc)
    _check("dh0", dh0, h0t.grad.numpy(), TOL64, desc)
    tgrads = {k: (np.zeros(tuple(p.shape)) if p.grad is None else p.grad.numpy()) for k, p in tcell.named_parameters()}
    assert set(cell.grads) == set(tgrads)
    for k in tgrads:
        _check(f"grad[{k}]", cell.grads[k], tgrads[k], TOL64, desc)


@pytest.mark.parametrize("kind, kw", [
    ("LSTM", dict(num_layers=2, bidirectional=True, proj_size=3)),
    ("LSTM", dict(batch_first=True)),
    ("GRU", dict(num_layers=2, bidirectional=True)),
    ("RNN", dict(nonlinearity="relu", batch_first=True)),
])
def test_unbatched_input_matches_torch(kind, kw):
    """torch takes one sequence as (T, I), with states (layers·D, H) and outputs without the batch axis."""
    rng = np.random.default_rng(3)
    ours = {"LSTM": LSTM, "GRU": GRU, "RNN": RNN}[kind](5, 4, dtype=np.float64, seed=1, **kw)
    theirs = getattr(torch.nn, kind)(5, 4, dtype=torch.float64, **kw)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.parameters().items()})
    x = rng.normal(size=(6, 5))
    rows = ours.num_layers * ours.num_directions
    widths = [ours.output_size] + ([ours.hidden_size] if kind == "LSTM" else [])
    state = tuple(rng.normal(size=(rows, w)) for w in widths)
    y, st = ours(x, state if kind == "LSTM" else state[0])
    xt = torch.from_numpy(x).requires_grad_(True)
    st_t = tuple(torch.from_numpy(s).requires_grad_(True) for s in state)
    yt, sn = theirs(xt, st_t if kind == "LSTM" else st_t[0])
    st, sn = (st, sn) if kind == "LSTM" else ((st,), (sn,))
    assert y.shape == tuple(yt.shape) and np.allclose(y, yt.detach().numpy(), atol=1e-12, rtol=0)
    for a, b in zip(st, sn):
        assert a.shape == tuple(b.shape) and np.allclose(a, b.detach().numpy(), atol=1e-12, rtol=0)
    dy = rng.normal(size=y.shape)
    dstate = tuple(rng.normal(size=s.shape) for s in st)
    dx, dst0 = ours.backward(dy, dstate if kind == "LSTM" else dstate[0])
    torch.autograd.backward([yt, *sn], [torch.from_numpy(dy), *map(torch.from_numpy, dstate)])
    assert np.allclose(dx, xt.grad.numpy(), atol=1e-12, rtol=0)
    for a, b in zip(dst0 if kind == "LSTM" else (dst0,), st_t):
        assert np.allclose(a, b.grad.numpy(), atol=1e-12, rtol=0)
    for name, g in ours.grads.items():
        assert np.allclose(g, dict(theirs.named_parameters())[name].grad.numpy(), atol=1e-12, rtol=0), name
    with pytest.raises(ValueError, match="must be 2-D"):
        ours(x, tuple(s[:, None] for s in state) if kind == "LSTM" else state[0][:, None])
    with pytest.raises(ValueError, match="lengths needs a batch"):
        ours(x, lengths=[6])
