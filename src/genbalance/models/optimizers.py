"""The families' optimisers: torch's Adam and AdamW, run without importing ``torch._dynamo``.

``torch.optim.Optimizer`` wraps ``add_param_group``, ``state_dict``, ``load_state_dict`` and
``zero_grad`` in ``torch._disable_dynamo``, and ``Adam.step`` in a grad-mode wrapper with
dynamo graph breaks; the first call of any of them imports the whole of ``torch._dynamo``:
~1.9 s of CPU, paid by the first fit of every process (a fifth of the README's GAN example,
more than a default VAE fit itself). These subclasses call torch's own functions without those
wrappers (``step`` sets the same grad mode), so the update is the same to the bit; what they
give up is dynamo's guards, which only matter to a user who ``torch.compile``s code that
calls them.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

__all__ = ["Adam", "AdamW", "is_plain_adam", "plain_zero_grad"]


def _unwrapped(name: str, owner: type = torch.optim.Optimizer) -> Any:
    """torch's ``owner.<name>`` without its wrappers (``functools.wraps`` records the
    function inside; a torch without that record gives the wrapped method back)."""
    return inspect.unwrap(getattr(owner, name))


class _WithoutDynamoImport:
    """Mixin: the wrapped ``Optimizer`` methods and ``step``, called as torch defines them."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        _unwrapped("add_param_group")(self, param_group)

    def state_dict(self) -> dict[str, Any]:
        return _unwrapped("state_dict")(self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _unwrapped("load_state_dict")(self, state_dict)

    def zero_grad(self, set_to_none: bool = True) -> None:
        _unwrapped("zero_grad")(self, set_to_none)

    def step(self, closure: Any = None) -> Any:
        """torch's step under the grad mode its wrapper sets (off unless differentiable)."""
        torch_class = next(c for c in type(self).__mro__ if c.__module__.startswith("torch."))
        previous = torch.is_grad_enabled()
        try:
            torch.set_grad_enabled(bool(self.defaults["differentiable"]))
            return _unwrapped("step", torch_class)(self, closure)
        finally:
            torch.set_grad_enabled(previous)


class Adam(_WithoutDynamoImport, torch.optim.Adam):
    """``torch.optim.Adam``, the same update, without the ``torch._dynamo`` import."""


class AdamW(_WithoutDynamoImport, torch.optim.AdamW):
    """``torch.optim.AdamW``, the same update, without the ``torch._dynamo`` import."""


def is_plain_adam(opt: torch.optim.Optimizer) -> bool:
    """Whether ``opt`` is exactly torch's Adam or this module's (no other subclass, whose
    ``step`` may do more than the fused kernel)."""
    return type(opt) in (torch.optim.Adam, Adam)


def plain_zero_grad(opt: torch.optim.Optimizer) -> bool:
    """Whether ``opt.zero_grad`` is torch's own (possibly without its wrapper here): one that
    only sets every parameter's ``.grad``, which a caller may then do itself."""
    return type(opt).zero_grad in (torch.optim.Optimizer.zero_grad, _WithoutDynamoImport.zero_grad)
