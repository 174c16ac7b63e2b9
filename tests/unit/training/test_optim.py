"""The optimiser step the trainer takes: the direct fused-Adam call equals ``opt.step()``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genbalance.training.optim import clear_gradients, gradient_norm, optimizer_step


def _net_and_opt(fused: bool, **options) -> tuple[nn.Module, torch.optim.Adam]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
    return net, torch.optim.Adam(net.parameters(), lr=3e-3, fused=fused, **options)


def _train(step, fused: bool, steps: int = 6, **options) -> list[torch.Tensor]:
    net, opt = _net_and_opt(fused, **options)
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(32, 5, generator=gen)
        opt.zero_grad(set_to_none=True)
        net(x).square().mean().backward()
        step(opt)
    return [p.detach().clone() for p in net.parameters()] + [
        t.clone() for st in opt.state.values() for t in st.values()
    ]


@pytest.mark.parametrize("options", [{}, {"weight_decay": 1e-2}, {"betas": (0.5, 0.9)}])
def test_direct_fused_adam_is_bit_identical_to_torch(options):
    ours = _train(optimizer_step, True, **options)
    torch_s = _train(lambda opt: opt.step(), True, **options)
    assert len(ours) == len(torch_s)
    assert all(torch.equal(a, b) for a, b in zip(ours, torch_s, strict=True))


def test_other_optimisers_and_hooks_go_through_torch():
    """amsgrad, an unfused Adam, SGD and a registered hook all take torch's own step."""
    for fused, options in ((True, {"amsgrad": True}), (False, {})):
        ours = _train(optimizer_step, fused, **options)
        torch_s = _train(lambda opt: opt.step(), fused, **options)
        assert all(torch.equal(a, b) for a, b in zip(ours, torch_s, strict=True))
    net, opt = _net_and_opt(True)
    calls: list[int] = []
    opt.register_step_post_hook(lambda *args: calls.append(1))
    for _ in range(3):
        opt.zero_grad()
        net(torch.ones(2, 5)).sum().backward()
        optimizer_step(opt)
    assert calls == [1, 1, 1]


def test_gradient_norm_is_the_global_l2_norm():
    gen = torch.Generator().manual_seed(0)
    grads = [torch.randn(7, 3, generator=gen), torch.randn(5, generator=gen)]
    expected = torch.nn.utils.get_total_norm(grads)
    torch.testing.assert_close(gradient_norm(grads), expected)
    torch.testing.assert_close(gradient_norm([]), torch.zeros(()))
    assert not torch.isfinite(gradient_norm([torch.tensor([float("nan")]), grads[1]]))


def test_clear_gradients_is_zero_grad_set_to_none():
    net = nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters())
    net(torch.ones(4, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    clear_gradients(opt)
    assert all(p.grad is None for p in net.parameters())

    class OwnZeroGrad(torch.optim.SGD):
        calls = 0

        def zero_grad(self, set_to_none: bool = True) -> None:
            type(self).calls += 1
            super().zero_grad(set_to_none)

    own = OwnZeroGrad(net.parameters(), lr=0.1)
    net(torch.ones(4, 3)).sum().backward()
    clear_gradients(own)  # an optimizer's own zero_grad is the one that runs
    assert OwnZeroGrad.calls == 1 and all(p.grad is None for p in net.parameters())
