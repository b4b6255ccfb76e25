"""The Python API as a PyTorch user meets it: constructor arguments, the module tree, state dicts, refusals."""

from __future__ import annotations

import numpy as np
import pytest

import lstm
from lstm.nn import GRUCell, Linear, LSTMCell, Module, RNNCell
from lstm.optim import SGD, Adam


class _Net(Module):
    def __init__(self):
        super().__init__()
        self.enc = Linear(3, 4, dtype=np.float64, seed=0)
        self.dec = Linear(4, 2, dtype=np.float64, seed=1)


def test_sgd_takes_torchs_arguments_in_torchs_order():
    """SGD(params, lr, momentum, dampening, weight_decay, nesterov) positionally, lr defaulting to 1e-3, as in
    torch: the same positional call follows torch's trajectory."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(4, 3))
    grads = [rng.normal(size=w0.shape) for _ in range(6)]
    ours, theirs = w0.copy(), torch.tensor(w0.copy(), requires_grad=True)
    opt = SGD({"w": ours}, 0.1, 0.9, 0.0, 0.01, True)
    ref = torch.optim.SGD([theirs], 0.1, 0.9, 0.0, 0.01, True, foreach=False)
    assert (opt.weight_decay, opt.nesterov) == (0.01, True)
    for g in grads:
        opt.step({"w": g})
        theirs.grad = torch.tensor(g)
        ref.step()
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=0, atol=1e-12)
    assert SGD({"w": w0}).lr == torch.optim.SGD([theirs]).defaults["lr"] == 1e-3


def test_an_optimizer_refuses_one_array_under_two_names():
    """A module assigned twice lists its arrays twice: stepping both names would move them twice per step."""
    net = _Net()
    net.dec2 = net.dec
    with pytest.raises(ValueError, match=r"parameters 'dec.weight' and 'dec2.weight' are the same array"):
        Adam(net)
    w = np.zeros(3)
    with pytest.raises(ValueError, match="same array"):
        SGD({"a": w, "b": w}, lr=0.1)
    SGD({"a": w, "b": w.copy()}, lr=0.1)


def test_deleting_a_child_or_parameter_removes_it_from_the_tree():
    torch = pytest.importorskip("torch")
    net, ref = _Net(), torch.nn.Module()
    ref.enc, ref.dec = torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)
    del net.dec, ref.dec
    assert list(net.parameters()) == list(net.grads) == list(net.state_dict()) == list(ref.state_dict())
    assert not hasattr(net, "dec")
    del net.enc.bias
    assert list(net.parameters()) == list(net.grads) == ["enc.weight"]
    with pytest.raises(AttributeError):
        del net.nothing


def test_a_refused_state_dict_leaves_the_module_as_it_was():
    net = _Net()
    before = net.state_dict()
    bad = {k: v + 1 for k, v in before.items()}
    bad["dec.weight"] = np.zeros((2, 5))
    with pytest.raises(ValueError, match=r"shape mismatch for 'dec.weight': this module has \(2, 4\), the state dict "
                                         r"gives \(2, 5\); build the module"):
        net.load_state_dict(bad)
    bad["dec.weight"] = np.zeros((2, 4), dtype=object)
    with pytest.raises(TypeError, match="'dec.weight' must hold numbers"):
        net.load_state_dict(bad, strict=False)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_load_state_dict_returns_missing_and_unexpected_names_as_torch_does():
    torch = pytest.importorskip("torch")
    net, ref = _Net(), torch.nn.Module()
    ref.enc, ref.dec = torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)
    partial = {k: v for k, v in net.state_dict().items() if k != "dec.bias"}
    partial["head.weight"] = np.zeros(2)
    ours = net.load_state_dict(partial, strict=False)
    theirs = ref.load_state_dict({k: torch.tensor(v) for k, v in partial.items()}, strict=False)
    assert ours.missing_keys == theirs.missing_keys == ["dec.bias"]
    assert ours.unexpected_keys == theirs.unexpected_keys == ["head.weight"]
    assert ours == (["dec.bias"], ["head.weight"])
    matched = net.load_state_dict(net.state_dict())
    assert matched == ([], []) and repr(matched) == "<All keys matched successfully>" == repr(ref.load_state_dict(
        ref.state_dict()))


def test_a_module_prints_its_children_as_torch_does():
    torch = pytest.importorskip("torch")
    net, ref = _Net(), torch.nn.Module()
    ref.enc, ref.dec = torch.nn.Identity(), torch.nn.Identity()
    net.inner, ref.inner = _Net(), torch.nn.Module()
    ref.inner.enc, ref.inner.dec = torch.nn.Identity(), torch.nn.Identity()
    ours, theirs = repr(net), repr(ref)
    linear = "Linear(in_features=3, out_features=4, bias=True, dtype=float64)"
    assert ours.splitlines()[:2] == ["_Net(", f"  (enc): {linear}"] and ours.endswith("\n  )\n)")
    # the same lines and indentation as torch's, child by child (only the leaves' own settings differ)
    assert [line.split(":")[0] for line in ours.splitlines()] == [
        line.split(":")[0].replace("Module(", "_Net(") for line in theirs.splitlines()]
    assert repr(Linear(3, 4, dtype=np.float64)) == linear and repr(Module()) == "Module()"


def test_the_tree_is_walked_with_torchs_names():
    torch = pytest.importorskip("torch")
    net, ref = _Net(), torch.nn.Module()
    ref.enc, ref.dec = torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)
    net.inner, ref.inner = _Net(), torch.nn.Module()
    ref.inner.enc, ref.inner.dec = torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)
    assert [n for n, _ in net.named_modules()] == [n for n, _ in ref.named_modules()] == [
        "", "enc", "dec", "inner", "inner.enc", "inner.dec"]
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert all(p is net.parameters()[n] for n, p in net.named_parameters())
    assert [n for n, _ in net.named_children()] == [n for n, _ in ref.named_children()] == ["enc", "dec", "inner"]
    assert list(net.children()) == [net.enc, net.dec, net.inner] and list(net.modules())[-1] is net.inner.dec


def test_lstm_cell_backward_takes_the_pair_and_refuses_one_array():
    """One unbatched step: an array (2, H) is not the pair (dh, dc) (its rows were taken for dh and dc)."""
    cell = LSTMCell(3, 2, dtype=np.float64, seed=0)
    cell(np.ones(3))
    with pytest.raises(ValueError, match=r"dstate must be a pair \(dh, dc\).*got ndarray of shape \(2, 2\)"):
        cell.backward(np.ones((2, 2)))
    dx, (dh, dc) = cell.backward((np.ones(2), np.zeros(2)))
    dx_h, _ = cell.backward((np.ones(2), None))
    assert dx.shape == (3,) and dh.shape == dc.shape == (2,)
    np.testing.assert_array_equal(dx, dx_h)


@pytest.mark.parametrize("module, kwargs, exc, match", [
    (Linear(3, 2), {}, TypeError, "gradcheck takes a recurrent layer .* or a cell .*, got Linear"),
    (GRUCell(3, 2), {"lengths": [1, 1, 1]}, ValueError, "a cell runs one step, so pass lengths=None"),
])
def test_gradcheck_refuses_what_it_cannot_check_in_one_line(module, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        lstm.gradcheck(module, **kwargs)
    assert max(lstm.gradcheck(RNNCell(3, 2, seed=0)).values()) < 1e-7
