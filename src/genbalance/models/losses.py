"""GAN objectives on raw discriminator scores (logits), plus the penalties.

Written on logits with softplus so that log(sigmoid(.)) never under- or overflows:
log D(x) = -softplus(-l) and log(1 - D(x)) = -softplus(l).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

GAN_LOSSES = ("minimax", "nonsaturating", "wgan-gp", "hinge", "lsgan")


def _mean(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    values = values.reshape(-1)
    if weight is None:
        return values.mean()
    w = weight.reshape(-1).to(values.dtype)
    return (values * w).sum() / w.sum().clamp_min(1e-12)


def discriminator_loss(
    kind: str,
    real: torch.Tensor,
    fake: torch.Tensor,
    label_smoothing: float = 0.0,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Loss the discriminator minimises. ``label_smoothing`` is one-sided (real target 1-s).

    ``weight`` (one per row) weighs the real and the fake score of each row alike: fake row i
    was generated for real row i's class, so class weights apply to both halves of the loss.
    """
    if kind in ("minimax", "nonsaturating"):
        t = 1.0 - label_smoothing
        real_term = t * F.softplus(-real) + (1.0 - t) * F.softplus(real)
        return _mean(real_term, weight) + _mean(F.softplus(fake), weight)
    if kind == "wgan-gp":
        return _mean(fake, weight) - _mean(real, weight)
    if kind == "hinge":
        return _mean(F.relu(1.0 - real), weight) + _mean(F.relu(1.0 + fake), weight)
    if kind == "lsgan":
        t = 1.0 - label_smoothing
        return 0.5 * _mean((real - t) ** 2, weight) + 0.5 * _mean(fake**2, weight)
    raise ValueError(f"unknown GAN loss {kind!r}; accepted: {', '.join(GAN_LOSSES)}")


def generator_loss(
    kind: str, fake: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Loss the generator minimises (``weight``: optional per-row class weights)."""
    if kind == "minimax":
        # min E[log(1 - D(G(z)))]; saturates when D wins early (Goodfellow et al., 2014)
        return -_mean(F.softplus(fake), weight)
    if kind == "nonsaturating":
        return _mean(F.softplus(-fake), weight)  # min -E[log D(G(z))]
    if kind in ("wgan-gp", "hinge"):
        return -_mean(fake, weight)
    if kind == "lsgan":
        return 0.5 * _mean((fake - 1.0) ** 2, weight)
    raise ValueError(f"unknown GAN loss {kind!r}; accepted: {', '.join(GAN_LOSSES)}")


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, *cond, generator=None):
    """WGAN-GP: E[(||grad_x D(x_hat)||_2 - 1)^2] on random interpolates (Gulrajani et al., 2017)."""
    n = min(real.shape[0], fake.shape[0])
    real, fake = real[:n], fake[:n]
    shape = (n,) + (1,) * (real.dim() - 1)
    gdev = generator.device if generator is not None else real.device  # CPU generator, CUDA net
    eps = torch.rand(shape, generator=generator, device=gdev).to(real.device)
    x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    cond = tuple(c[:n] for c in cond)
    score = critic(x_hat, *cond)
    (grad,) = torch.autograd.grad(score.sum(), x_hat, create_graph=True)
    return ((grad.reshape(n, -1).norm(2, dim=1) - 1.0) ** 2).mean()


def r1_penalty(critic, real: torch.Tensor, *cond) -> torch.Tensor:
    """R1: E[||grad_x D(x)||^2] on real data (Mescheder et al., 2018); multiply by gamma/2."""
    x = real.detach().requires_grad_(True)
    score = critic(x, *cond)
    (grad,) = torch.autograd.grad(score.sum(), x, create_graph=True)
    return grad.reshape(x.shape[0], -1).pow(2).sum(dim=1).mean()


def instance_noise_std(initial: float, progress: float) -> float:
    """Linearly annealed instance noise (Sønderby et al., 2016): ``initial`` -> 0 over training."""
    return max(0.0, initial * (1.0 - progress))
