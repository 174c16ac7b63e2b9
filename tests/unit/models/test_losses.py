"""GAN losses against values computed by hand, and the penalties against finite differences."""

from __future__ import annotations

import math

import pytest
import torch

from genbalance.models.losses import (
    GAN_LOSSES,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    r1_penalty,
)

REAL = [2.0, -1.0, 0.5]
FAKE = [0.5, -2.0, 3.0]
WEIGHT = [1.0, 3.0, 0.5]


def log_sigmoid(x: float) -> float:
    return math.log(1.0 / (1.0 + math.exp(-x)))


def log_one_minus_sigmoid(x: float) -> float:
    return math.log(1.0 - 1.0 / (1.0 + math.exp(-x)))


def wmean(values: list[float], weight: list[float] | None) -> float:
    if weight is None:
        return sum(values) / len(values)
    return sum(v * w for v, w in zip(values, weight, strict=True)) / sum(weight)


def expected_d(kind: str, s: float, weight: list[float] | None) -> float:
    """The discriminator objective written out term by term with the math module."""
    t = 1.0 - s
    if kind in ("minimax", "nonsaturating"):
        real = [-(t * log_sigmoid(r) + (1 - t) * log_one_minus_sigmoid(r)) for r in REAL]
        fake = [-log_one_minus_sigmoid(f) for f in FAKE]
        return wmean(real, weight) + wmean(fake, weight)
    if kind == "wgan-gp":
        return wmean(FAKE, weight) - wmean(REAL, weight)
    if kind == "hinge":
        return wmean([max(0.0, 1 - r) for r in REAL], weight) + wmean(
            [max(0.0, 1 + f) for f in FAKE], weight
        )
    if kind == "lsgan":
        return 0.5 * wmean([(r - t) ** 2 for r in REAL], weight) + 0.5 * wmean(
            [f**2 for f in FAKE], weight
        )
    raise AssertionError(kind)


def expected_g(kind: str, weight: list[float] | None) -> float:
    if kind == "minimax":
        return wmean([log_one_minus_sigmoid(f) for f in FAKE], weight)
    if kind == "nonsaturating":
        return wmean([-log_sigmoid(f) for f in FAKE], weight)
    if kind in ("wgan-gp", "hinge"):
        return -wmean(FAKE, weight)
    if kind == "lsgan":
        return wmean([0.5 * (f - 1) ** 2 for f in FAKE], weight)
    raise AssertionError(kind)


def test_every_loss_is_covered():
    assert set(GAN_LOSSES) == {"minimax", "nonsaturating", "wgan-gp", "hinge", "lsgan"}


@pytest.mark.parametrize("kind", GAN_LOSSES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
def test_discriminator_loss_matches_hand_computation(kind, smoothing, weighted):
    weight = WEIGHT if weighted else None
    got = discriminator_loss(
        kind,
        torch.tensor(REAL, dtype=torch.float64),
        torch.tensor(FAKE, dtype=torch.float64),
        label_smoothing=smoothing,
        weight=None if weight is None else torch.tensor(weight),
    )
    assert got.item() == pytest.approx(expected_d(kind, smoothing, weight), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("kind", GAN_LOSSES)
@pytest.mark.parametrize("weighted", [False, True])
def test_generator_loss_matches_hand_computation(kind, weighted):
    weight = WEIGHT if weighted else None
    got = generator_loss(
        kind,
        torch.tensor(FAKE, dtype=torch.float64),
        None if weight is None else torch.tensor(weight),
    )
    assert got.item() == pytest.approx(expected_g(kind, weight), rel=1e-10, abs=1e-12)


def test_a_few_hand_values():
    """Spot values worked out on paper (guards the helpers above against a shared mistake)."""
    zero = torch.zeros(1)
    # D(x) = D(G(z)) = 1/2: -log(1/2) - log(1/2) = 2 log 2
    assert discriminator_loss("minimax", zero, zero).item() == pytest.approx(2 * math.log(2))
    # hinge at real=2, fake=-3: both margins met, loss 0; lsgan at real=1, fake=0: loss 0
    assert discriminator_loss("hinge", torch.tensor([2.0]), torch.tensor([-3.0])).item() == 0.0
    assert discriminator_loss("lsgan", torch.ones(1), zero).item() == 0.0
    # lsgan with smoothing 0.2: real target 0.8, so real=1 costs 0.5 * 0.2^2 = 0.02
    assert discriminator_loss("lsgan", torch.ones(1), zero, 0.2).item() == pytest.approx(0.02)
    # weights 1 and 3 on real scores 0 and 4 (wgan): fake mean 0 - (0*1 + 4*3)/4 = -3
    w = torch.tensor([1.0, 3.0])
    got = discriminator_loss("wgan-gp", torch.tensor([0.0, 4.0]), torch.zeros(2), weight=w)
    assert got.item() == pytest.approx(-3.0)
    assert generator_loss("nonsaturating", zero).item() == pytest.approx(math.log(2))


def test_smoothing_changes_only_the_real_side():
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    for kind in ("minimax", "nonsaturating", "lsgan"):
        a = discriminator_loss(kind, real, fake, 0.0)
        b = discriminator_loss(kind, real, fake, 0.2)
        assert a.item() != pytest.approx(b.item())
        # with the real scores fixed, the fake side does not depend on smoothing
        d_fake = discriminator_loss(kind, real, fake + 1, 0.2) - b
        d_fake0 = discriminator_loss(kind, real, fake + 1, 0.0) - a
        assert d_fake.item() == pytest.approx(d_fake0.item())


def test_losses_stay_finite_for_extreme_logits():
    big = torch.tensor([1e4, -1e4])
    for kind in GAN_LOSSES:
        assert torch.isfinite(discriminator_loss(kind, big, -big, 0.1))
        assert torch.isfinite(generator_loss(kind, big))


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="unknown GAN loss 'bce'.*minimax"):
        discriminator_loss("bce", torch.zeros(1), torch.zeros(1))
    with pytest.raises(ValueError, match="unknown GAN loss"):
        generator_loss("bce", torch.zeros(1))


# ---------------------------------------------------------------------- penalties
class QuadraticCritic(torch.nn.Module):
    """f(x, y) = 0.5 x^T A x + b.x + c_y: gradient A x + b, known in closed form."""

    def __init__(self, dim: int = 3) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(3)
        m = torch.randn(dim, dim, generator=g, dtype=torch.float64)
        self.A = torch.nn.Parameter(m + m.T)
        self.b = torch.nn.Parameter(torch.randn(dim, generator=g, dtype=torch.float64))
        self.c = torch.tensor([0.0, 5.0], dtype=torch.float64)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        out = 0.5 * torch.einsum("ni,ij,nj->n", x, self.A, x) + x @ self.b
        return out if y is None else out + self.c[y]


def fd_grad(critic, x: torch.Tensor, *cond, h: float = 1e-6) -> torch.Tensor:
    """Central finite differences of the critic's score, row by row."""
    grad = torch.zeros_like(x)
    with torch.no_grad():
        for j in range(x.shape[1]):
            e = torch.zeros_like(x)
            e[:, j] = h
            grad[:, j] = (critic(x + e, *cond) - critic(x - e, *cond)) / (2 * h)
    return grad


def test_gradient_penalty_matches_finite_differences():
    critic = QuadraticCritic()
    g = torch.Generator().manual_seed(0)
    real = torch.randn(7, 3, generator=g, dtype=torch.float64)
    fake = torch.randn(5, 3, generator=g, dtype=torch.float64)  # fewer fakes: pairs are trimmed
    y = torch.tensor([0, 1, 1, 0, 1, 0, 1])
    got = gradient_penalty(critic, real, fake, y, generator=torch.Generator().manual_seed(11))
    # the same interpolation weights, drawn from the same seed
    eps = torch.rand((5, 1), generator=torch.Generator().manual_seed(11)).double()
    x_hat = eps * real[:5] + (1 - eps) * fake
    norms = fd_grad(critic, x_hat, y[:5]).norm(dim=1)
    expected = ((norms - 1) ** 2).mean()
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    # and against the closed form A x + b
    closed = ((x_hat @ critic.A.detach() + critic.b.detach()).norm(dim=1) - 1) ** 2
    assert got.item() == pytest.approx(closed.mean().item(), rel=1e-9)


def test_gradient_penalty_is_zero_for_a_unit_slope_critic():
    class Unit(torch.nn.Module):
        def forward(self, x):
            return x[:, 0] * 0.6 + x[:, 1] * 0.8  # |grad| = 1 everywhere

    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    assert gradient_penalty(Unit(), real, fake).item() == pytest.approx(0.0, abs=1e-12)


def test_gradient_penalty_is_differentiable_in_the_critic_weights():
    """create_graph=True: the penalty must train the critic (d penalty / d b by FD)."""
    critic = QuadraticCritic()
    real = torch.randn(6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    fake = torch.randn(6, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)

    def penalty() -> torch.Tensor:
        return gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(5))

    penalty().backward()
    analytic = critic.b.grad[1].item()
    h = 1e-6

    def shifted(delta: float) -> float:
        with torch.no_grad():
            critic.b[1] += delta
        value = penalty().item()  # the penalty itself needs autograd on
        with torch.no_grad():
            critic.b[1] -= delta
        return value

    up, down = shifted(h), shifted(-h)
    assert analytic == pytest.approx((up - down) / (2 * h), rel=1e-5)
    assert analytic != 0.0


def test_r1_penalty_matches_finite_differences():
    critic = QuadraticCritic()
    real = torch.randn(6, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    got = r1_penalty(critic, real, y)
    expected = fd_grad(critic, real, y).pow(2).sum(dim=1).mean()
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    got.backward()
    assert critic.A.grad is not None and torch.isfinite(critic.A.grad).all()
