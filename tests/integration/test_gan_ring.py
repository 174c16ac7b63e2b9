"""Mode coverage on a ring of 8 Gaussians: a class-conditional GAN trained with a stabiliser
preset covers at least 7 of the 8 modes with a real share of its mass near them, while plain
minimax training is recorded for comparison (see `record_property` / ``-s`` output)."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
import torch

from genbalance import models
from genbalance.training.stabilizers import get_recipe
from genbalance.training.trainer import Trainer

# ====================================================================== ring of 8 Gaussians
RADIUS, SIGMA = 2.0, 0.05
CENTRES = torch.tensor(
    [
        [RADIUS * math.cos(2 * math.pi * k / 8), RADIUS * math.sin(2 * math.pi * k / 8)]
        for k in range(8)
    ]
)
# small nets and a high learning rate keep each run to a few seconds on one core. wgan-gp needs
# 1000 steps: at 600 its share near the modes was 0.07-0.21 over seeds 0-2 (under the 0.25 bar,
# so the test passed or failed with the CPU's float rounding), at 1000 it is 0.31-0.32
RING_STEPS = {"wgan-gp": 1000}
RING_BATCH = 128
RING_NET = {"g_hidden": [64, 64], "d_hidden": [64, 64], "z_dim": 8, "lr_g": 1e-3, "lr_d": 1e-3}


def ring(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """8 Gaussians on a circle; class = parity of the mode, so each class has 4 modes."""
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(0, 8, (n,), generator=g)
    return CENTRES[k] + SIGMA * torch.randn(n, 2, generator=g), k % 2


def ring_scores(samples: torch.Tensor) -> dict[str, Any]:
    """Modes covered (some mass within 3 sigma of the centre) and the share of samples that lie
    within 3 sigma of ANY centre (so spraying points everywhere does not pass)."""
    dist = torch.cdist(samples, CENTRES)
    near = dist.min(1).values < 3 * SIGMA
    counts = torch.bincount(dist.argmin(1)[near], minlength=8)
    return {
        "modes": int((counts > 0).sum()),
        "share": float(near.float().mean()),
        "counts": counts.tolist(),
    }


def test_ring_scores_reject_spraying_and_collapse():
    """The measure itself: real data scores 8 modes and ~99% mass; points sprayed over the
    ring's annulus or collapsed onto two modes fail one of the two bars."""
    real, _ = ring(4000, seed=1)
    assert ring_scores(real)["modes"] == 8 and ring_scores(real)["share"] > 0.98  # 1 - e^-4.5
    g = torch.Generator().manual_seed(0)
    angle = torch.rand(4000, generator=g) * 2 * math.pi
    radius = RADIUS + 0.3 * (torch.rand(4000, generator=g) - 0.5)
    annulus = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], 1)
    assert ring_scores(annulus)["modes"] == 8 and ring_scores(annulus)["share"] < MIN_SHARE
    two = real[torch.cdist(real, CENTRES[:2]).min(1).values < 3 * SIGMA]
    assert ring_scores(two)["modes"] == 2


# A uniform spray over the ring's +-3 sigma band already puts ~16% of its points within
# 3 sigma of a centre, and a spray over the plane ~2%: 25% rejects both (real data: 98.9%).
MIN_MODES, MIN_SHARE = 7, 0.25


def train_ring(preset: str, seed: int = 0):
    X, y = ring(2000, seed)
    recipe = get_recipe(preset)
    torch.manual_seed(seed)
    model = models.get("gan")(2, 2, **{**recipe.gan, **RING_NET})
    start = time.perf_counter()
    history = Trainer(
        epochs=None,
        max_steps=RING_STEPS.get(preset, 800),
        batch_size=RING_BATCH,
        random_state=seed,
        health_check=False,
        **recipe.trainer,
    ).fit(model, X, y)
    labels = torch.arange(4000) % 2
    samples = model.generate(labels, torch.Generator().manual_seed(seed + 1))
    scores = ring_scores(samples)
    parity = (torch.cdist(samples, CENTRES).argmin(1) % 2 == labels).float().mean()
    return {
        **scores,
        "label_match": round(float(parity), 3),
        "seconds": round(time.perf_counter() - start, 1),
        "history": history,
    }


# At this test's budget 'hinge-sn' and 'pac-wgan' are not required: in probes hinge-sn
# collapsed to 2-3 modes at lr 1e-3 (10% of the mass near modes at 5e-4, 1000 steps) and
# pac-wgan (10 rows per pack, so only 12 packs per batch of 128) put under 2% of its mass
# near the modes; both need longer runs or larger batches than a unit test affords.
@pytest.mark.parametrize("preset", ["stable", "wgan-gp"])
def test_stabilised_gan_covers_the_ring(preset, record_property):
    result = train_ring(preset)
    record_property("ring", {k: v for k, v in result.items() if k != "history"})
    print(
        f"{preset}: {result['modes']}/8 modes, {result['share']:.1%} within 3 sigma, "
        f"labels match {result['label_match']:.1%}, {result['seconds']} s"
    )
    assert result["modes"] >= MIN_MODES, result["counts"]
    assert result["share"] >= MIN_SHARE
    assert result["label_match"] > 0.6  # class c lands mostly on modes of parity c


def test_plain_minimax_coverage_is_recorded(record_property):
    """The textbook objective with nothing added, for comparison (recorded, not required)."""
    result = train_ring("plain")
    record_property("ring_plain_minimax", {k: v for k, v in result.items() if k != "history"})
    print(f"plain minimax: {result['modes']}/8 modes, {result['share']:.1%} within 3 sigma")
    assert 0 <= result["modes"] <= 8 and len(result["history"].steps) == 800
