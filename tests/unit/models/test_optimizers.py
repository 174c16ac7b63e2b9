"""The families' Adam / AdamW: torch's update to the bit, without importing torch._dynamo."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from genbalance.models.optimizers import Adam, AdamW, is_plain_adam, plain_zero_grad


def _run(make, steps: int = 5) -> tuple[list[torch.Tensor], dict]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt = make(net.parameters())
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        net(torch.randn(16, 4, generator=gen)).square().mean().backward()
        opt.step()
    return [p.detach().clone() for p in net.parameters()], opt.state_dict()


@pytest.mark.parametrize(
    ("ours", "theirs", "options"),
    [
        (Adam, torch.optim.Adam, {"lr": 1e-2}),
        (Adam, torch.optim.Adam, {"lr": 1e-2, "fused": True, "weight_decay": 1e-3}),
        (Adam, torch.optim.Adam, {"lr": 1e-2, "foreach": True, "betas": (0.5, 0.9)}),
        (AdamW, torch.optim.AdamW, {"lr": 1e-2, "weight_decay": 0.1}),
    ],
)
def test_same_update_and_state_as_torch(ours, theirs, options):
    mine, my_state = _run(lambda p: ours(p, **options))
    ref, ref_state = _run(lambda p: theirs(p, **options))
    assert all(torch.equal(a, b) for a, b in zip(mine, ref, strict=True))
    assert my_state["param_groups"] == ref_state["param_groups"]
    for key, st in ref_state["state"].items():
        assert all(torch.equal(st[k], my_state["state"][key][k]) for k in st)


def test_state_round_trip_and_zero_grad():
    net = torch.nn.Linear(3, 1)
    opt = Adam(net.parameters(), lr=0.1)
    net(torch.ones(2, 3)).sum().backward()
    opt.step()
    saved = opt.state_dict()
    other = Adam(net.parameters(), lr=0.5)
    other.load_state_dict(saved)
    assert other.param_groups[0]["lr"] == 0.1
    assert torch.equal(other.state[net.weight]["exp_avg"], opt.state[net.weight]["exp_avg"])
    opt.zero_grad()
    assert net.weight.grad is None
    assert is_plain_adam(opt) and is_plain_adam(torch.optim.Adam(net.parameters()))
    assert not is_plain_adam(AdamW(net.parameters()))
    assert plain_zero_grad(opt) and plain_zero_grad(torch.optim.SGD(net.parameters(), lr=0.1))


def test_training_with_them_never_imports_dynamo():
    """The point of the module: torch._dynamo costs ~2 s to import on the first fit."""
    code = (
        "import sys, torch\n"
        "from genbalance.models.optimizers import Adam, AdamW\n"
        "net = torch.nn.Linear(3, 1)\n"
        "for make in (Adam, AdamW):\n"
        "    opt = make(net.parameters(), lr=0.1)\n"
        "    net(torch.ones(2, 3)).sum().backward()\n"
        "    opt.step(); opt.load_state_dict(opt.state_dict()); opt.zero_grad()\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
