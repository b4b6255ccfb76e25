"""Attention layers: float64 gradient checks with masks, masking, an independent per-query oracle, PyTorch."""

import numpy as np
import pytest
from fd import max_rel_error

from lstm.nn.attention import BahdanauAttention, LuongAttention, make_attention, masked_softmax

KINDS = ("dot", "general", "additive")


def numeric_grad5(f, a: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Five-point central differences, O(h⁴) truncation: accurate to ~1e-11 where the 2-point rule is noise-bound."""
    g = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        orig = a[idx]
        vals = []
        for k in (2, 1, -1, -2):
            a[idx] = orig + k * h
            vals.append(f())
        a[idx] = orig
        g[idx] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h)
    return g


def make(kind, Dq=5, Dk=5, seed=1):
    return make_attention(kind, Dq, Dk if kind != "dot" else Dq, dtype=np.float64, seed=seed)


def data(rng, B=3, Tq=4, Tk=6, Dq=5, Dk=5):
    q = rng.normal(size=(B, Tq, Dq))
    k = rng.normal(size=(B, Tk, Dk))
    mask = np.ones((B, Tk), bool)
    mask[1, 4:] = False
    mask[2, 1:] = False          # a source of length 1
    return q, k, mask


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("use_mask", [True, False])
def test_gradients_float64_with_masks(kind, use_mask):
    rng = np.random.default_rng(0)
    Dk = 5 if kind == "dot" else 7
    att = make(kind, 5, Dk)
    q, k, mask = data(rng, Dk=Dk)
    mask = mask if use_mask else None
    Rc, Rw = rng.normal(size=(3, 4, Dk)), rng.normal(size=(3, 4, 6))

    def f():
        c, a = att(q, k, mask)
        return float(np.sum(c * Rc) + np.sum(a * Rw))

    f()
    dq, dk = att.backward(Rc, Rw)
    grads = {n: g.copy() for n, g in att.grads.items()}
    assert max_rel_error(dq, numeric_grad5(f, q)) < 1e-8
    assert max_rel_error(dk, numeric_grad5(f, k)) < 1e-8
    for name, p in att.parameters().items():
        assert max_rel_error(grads[name], numeric_grad5(f, p)) < 1e-8, name
    if use_mask:
        assert np.all(dk[~mask] == 0)            # padded keys get exactly no gradient


@pytest.mark.parametrize("kind", KINDS)
def test_padded_keys_get_zero_weight_and_do_not_matter(kind):
    rng = np.random.default_rng(1)
    att = make(kind)
    q, k, mask = data(rng)
    c, a = att(q, k, mask)
    assert np.all(a[np.broadcast_to(~mask[:, None, :], a.shape)] == 0)
    np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-12)
    k2 = k.copy()
    k2[~mask] = rng.normal(size=k2[~mask].shape) * 100      # garbage in the padding
    c2, a2 = att(q, k2, mask)
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_allclose(c, c2, atol=1e-12)
    np.testing.assert_allclose(c[2], np.broadcast_to(k[2, 0], c[2].shape), atol=1e-12)   # length-1 source


@pytest.mark.parametrize("kind", KINDS)
def test_equals_a_per_query_loop(kind):
    """An independent oracle: score each (query, key) pair one at a time from the module's own parameters."""
    rng = np.random.default_rng(2)
    att = make(kind)
    q, k, mask = data(rng)
    c, a = att(q, k, mask)
    P = att.parameters()
    for b in range(q.shape[0]):
        for t in range(q.shape[1]):
            s = []
            for j in range(k.shape[1]):
                if kind == "dot":
                    s.append(q[b, t] @ k[b, j])
                elif kind == "general":
                    s.append(q[b, t] @ P["weight"] @ k[b, j])
                else:
                    s.append(P["v"] @ np.tanh(P["weight_query"] @ q[b, t] + P["weight_key"] @ k[b, j] + P["bias"]))
            s = np.array(s)
            valid = mask[b]
            e = np.where(valid, np.exp(s - s[valid].max()), 0.0)
            w = e / e.sum()
            np.testing.assert_allclose(a[b, t], w, atol=1e-12)
            np.testing.assert_allclose(c[b, t], w @ k[b], atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_projected_keys_give_the_same_result(kind):
    rng = np.random.default_rng(3)
    att = make(kind)
    q, k, mask = data(rng)
    c, a = att(q, k, mask)
    c2, a2 = att(q, k, mask, projected=att.project_keys(k))
    np.testing.assert_allclose(c, c2, atol=1e-13)
    np.testing.assert_allclose(a, a2, atol=1e-13)


def test_additive_matches_torch_autograd():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    att = BahdanauAttention(5, 6, 4, dtype=np.float64, seed=0)
    q, k, mask = data(rng, Dk=6)
    R = rng.normal(size=(3, 4, 6))
    c, a = att(q, k, mask)
    dq, dk = att.backward(R)
    P = {n: torch.tensor(v, requires_grad=True) for n, v in att.parameters().items()}
    tq, tk = torch.tensor(q, requires_grad=True), torch.tensor(k, requires_grad=True)
    u = torch.tanh((tq @ P["weight_query"].T)[:, :, None, :] + (tk @ P["weight_key"].T + P["bias"])[:, None])
    s = (u @ P["v"]).masked_fill(~torch.tensor(mask)[:, None, :], float("-inf"))
    tc = torch.softmax(s, -1) @ tk
    (tc * torch.tensor(R)).sum().backward()
    np.testing.assert_allclose(c, tc.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(dq, tq.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(dk, tk.grad.numpy(), atol=1e-12)
    for name, p in P.items():
        np.testing.assert_allclose(att.grads[name], p.grad.numpy(), atol=1e-12, err_msg=name)


def test_accumulate_adds_and_float32_runs():
    rng = np.random.default_rng(5)
    att = LuongAttention(4, 3, "general", dtype=np.float64, seed=0)
    q, k = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 3))
    R = rng.normal(size=(2, 3, 3))
    att(q, k)
    att.backward(R)
    first = att.grads["weight"].copy()
    att.backward(R, accumulate=True)
    np.testing.assert_allclose(att.grads["weight"], 2 * first)
    att32 = LuongAttention(4, 3, "general", seed=0)
    c, a = att32(q.astype(np.float32), k.astype(np.float32))
    assert c.dtype == np.float32 and a.dtype == np.float32


@pytest.mark.parametrize("kind", KINDS)
def test_changing_the_returned_weights_leaves_backward_unchanged(kind):
    """The weights returned are the caller's (to threshold, mask or plot in place); backward uses its own."""
    rng = np.random.default_rng(6)
    att = make(kind)
    q, k, mask = data(rng)
    R = rng.normal(size=(3, 4, 5))
    att(q, k, mask)
    ref = att.backward(R)
    ref_grads = {n: g.copy() for n, g in att.grads.items()}
    context, weights = att(q, k, mask)
    weights[:] = 0.0
    context[:] = 0.0
    for a, b in zip(att.backward(R), ref):
        np.testing.assert_array_equal(a, b)
    for n, g in att.grads.items():
        np.testing.assert_array_equal(g, ref_grads[n])


def test_masked_softmax_function():
    s = np.array([[[1.0, 2.0, 3.0]]])
    np.testing.assert_allclose(masked_softmax(s, np.array([[True, True, False]]))[0, 0],
                               [1 / (1 + np.e), np.e / (1 + np.e), 0.0])


def test_errors_are_one_line_and_specific():
    with pytest.raises(ValueError, match="needs query_size == key_size"):
        LuongAttention(4, 5, "dot")
    with pytest.raises(ValueError, match="score must be 'dot' or 'general'"):
        LuongAttention(4, 4, "cosine")
    with pytest.raises(ValueError, match="attention must be one of"):
        make_attention("soft", 3, 3)
    att = make("general")
    with pytest.raises(RuntimeError, match="before forward"):
        att.backward(np.zeros((1, 1, 5)))
    q, k = np.zeros((2, 3, 5)), np.zeros((2, 4, 5))
    with pytest.raises(ValueError, match="no valid key position"):
        att(q, k, np.array([[1, 1, 0, 0], [0, 0, 0, 0]]))
    with pytest.raises(ValueError, match=r"mask must have shape \(B, Tk\)"):
        att(q, k, np.ones((2, 3)))
    with pytest.raises(ValueError, match="keys must have shape"):
        att(q, np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match="query must have shape"):
        att(np.zeros((2, 3, 4)), k)
    att(q, k)
    with pytest.raises(ValueError, match="dcontext must have the context's shape"):
        att.backward(np.zeros((2, 3, 4)))
