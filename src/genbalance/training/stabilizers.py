"""Cures for unstable GAN training, as switches.

Two kinds of switch exist, and both are plain data:
- family-level switches (spectral norm, PacGAN, minibatch-std, gradient penalty, instance noise,
  label smoothing) are GAN hyper-parameters, because they change the networks or the loss and
  must be saved with the model;
- trainer-level switches (gradient clipping, EMA of generator weights, NaN rollback) apply to
  every family through :class:`~genbalance.training.trainer.Trainer`.

``PRESETS`` names useful combinations of both, so that users pick a recipe, not a code path.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from genbalance.models.losses import instance_noise_std  # noqa: F401 (old home)


class EMA:
    """Exponential moving average of a module's weights (Yazici et al., 2019).

    The shadow copy samples better than the raw generator, whose weights oscillate.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.shadow = copy.deepcopy(module).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for s, p in zip(self.shadow.parameters(), module.parameters(), strict=True):
            s.lerp_(p.detach(), 1.0 - self.decay)
        for s, b in zip(self.shadow.buffers(), module.buffers(), strict=True):
            s.copy_(b)


@dataclass
class Recipe:
    """A named combination of GAN hyper-parameters and trainer switches."""

    gan: dict[str, Any] = field(default_factory=dict)
    trainer: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Recipe] = {
    # the textbook GAN with nothing added (what tutorials train; collapses easily)
    "plain": Recipe(gan={"loss": "minimax"}),
    # the robust default: non-saturating loss, spectral norm, PacGAN, minibatch-std, R1, EMA
    "stable": Recipe(
        gan={
            "loss": "nonsaturating",
            "spectral_norm": True,
            "pac": 1,
            "minibatch_std": True,
            "penalty": "r1",
            "penalty_weight": 1.0,
            "instance_noise": 0.1,
        },
        trainer={"grad_clip": 10.0, "ema": 0.995},
    ),
    # Wasserstein loss with gradient penalty (lambda 10, 5 critic steps)
    "wgan-gp": Recipe(
        gan={
            "loss": "wgan-gp",
            "penalty": "wgan",
            "penalty_weight": 10.0,
            "n_critic": 5,
            "d_norm": "layer",
            "lr_d": 1e-4,
            "lr_g": 1e-4,
            "betas": (0.5, 0.9),
        },
        trainer={"grad_clip": 10.0},
    ),
    # hinge loss with spectral norm (SNGAN / BigGAN style)
    "hinge-sn": Recipe(
        gan={"loss": "hinge", "spectral_norm": True, "d_norm": "none"},
        trainer={"grad_clip": 10.0, "ema": 0.995},
    ),
    # CTGAN-like: WGAN-GP with PacGAN 10
    "pac-wgan": Recipe(
        gan={
            "loss": "wgan-gp",
            "penalty": "wgan",
            "penalty_weight": 10.0,
            "pac": 10,
            "d_norm": "none",
            "betas": (0.5, 0.9),
        },
        trainer={"grad_clip": 10.0},
    ),
}


def get_recipe(name: str) -> Recipe:
    if name not in PRESETS:
        raise ValueError(f"unknown stabiliser preset {name!r}; accepted: {', '.join(PRESETS)}")
    return PRESETS[name]
