"""A chain of layers.

Forward, for modules ``f_0, ..., f_{n-1}``::

    y = f_{n-1}( ... f_1( f_0(x) ) ... )

Backward runs the chain in reverse, each layer turning the gradient of its output into the gradient of its input
(and writing its own parameter gradients)::

    g_n = dy;   g_k = f_k.backward(g_{k+1}, accumulate)   for k = n-1, ..., 0;   returns g_0 = dL/dx

Children are named ``"0"``, ``"1"``, ... so parameter names (``"0.weight"``, ``"2.bias"``) match
``torch.nn.Sequential``'s ``state_dict`` keys.
"""

from __future__ import annotations

from typing import Iterator

from .module import Module

__all__ = ["Sequential"]


class Sequential(Module):
    """``Sequential(m0, m1, ...)``: call them in order; ``backward(dy, accumulate=False)`` in reverse order.

    Every child must follow the layer convention ``y = m(x)`` / ``dx = m.backward(dy, accumulate=...)``.  A layer
    whose input has no gradient (``Embedding``) returns ``None`` from backward, so it may only come first.
    Index with ``seq[i]`` (negative ok) or ``seq[a:b]`` (a new ``Sequential`` sharing the same modules).  A recurrent
    layer returns ``(y, state)``, so it may only come last (its pair is then what the chain returns).
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(
                    f"Sequential: argument {i} is a {type(m).__name__}, not a Module; pass layer instances, "
                    f"e.g. Sequential(Linear(4, 8), Linear(8, 2))"
                )
            setattr(self, str(i), m)

    def __len__(self) -> int:
        return len(self._children)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._children.values()))

    def __getitem__(self, idx):
        mods = list(self._children.values())
        if isinstance(idx, slice):
            return Sequential(*mods[idx])
        try:
            return mods[idx]
        except IndexError:
            raise IndexError(f"Sequential index {idx} is out of range: it holds {len(mods)} modules") from None

    def append(self, module: Module) -> "Sequential":
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append expects a Module, got {type(module).__name__}")
        setattr(self, str(len(self)), module)
        return self

    def __call__(self, x):
        mods = list(self._children.items())
        for k, (name, m) in enumerate(mods):
            if k and isinstance(x, tuple):
                raise self._tuple_error(mods[k - 1], "y, state = rnn(x)", "the layers after it")
            x = m(x)
        return x

    forward = __call__

    def backward(self, dy, accumulate: bool = False):
        mods = list(self._children.items())
        for k in range(len(mods) - 1, -1, -1):
            name, m = mods[k]
            if dy is None:
                raise RuntimeError(
                    f"Sequential.backward: module {mods[k + 1][0]} ({type(mods[k + 1][1]).__name__}) returned no "
                    f"input gradient, so module {name} cannot be reached; put such layers (Embedding) first"
                )
            if k < len(mods) - 1 and isinstance(dy, tuple):
                raise self._tuple_error(mods[k + 1], "dx, dstate = rnn.backward(dy)", "the layers before it")
            dy = m.backward(dy, accumulate=accumulate)
        return dy

    @staticmethod
    def _tuple_error(named, call: str, others: str) -> TypeError:
        """A recurrent layer inside the chain: it returns a pair (output, state), not the one array passed on."""
        name, m = named
        return TypeError(f"Sequential: module {name} ({type(m).__name__}) returned a tuple, but Sequential passes one "
                         f"array from layer to layer; call that layer yourself ({call}) and a Sequential of "
                         f"{others}")

