"""The multimodal VAE: record layout, training, generation, files."""

from __future__ import annotations

import pytest
import torch

from genbalance import models
from genbalance.models.multimodal import table_spans
from genbalance.spans import OutputSpan
from genbalance.training.trainer import Trainer, TrainerConfig

# table part: one tanh scalar and a 3-category one-hot; then one 1x8x8 image
SPANS = [OutputSpan(1, "tanh"), OutputSpan(3, "softmax"), OutputSpan(64, "sigmoid")]
HYPER = {"image_shapes": [[1, 8, 8]], "hidden": 32, "channels": 4, "latent_dim": 4}


def build(seed: int = 0):
    torch.manual_seed(seed)
    return models.get("multimodal-vae")(68, 2, SPANS, **HYPER)


def records(n: int = 64):
    """Class 1 records: bright images, category 2, scalar +0.5; class 0 the opposite."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (n,), generator=g)
    scalar = torch.where(y == 1, 0.5, -0.5)[:, None]
    cat = torch.nn.functional.one_hot(torch.where(y == 1, 2, 0), 3).float()
    pixels = torch.rand(n, 64, generator=g) * 0.2 + y[:, None] * 0.7
    return torch.cat([scalar, cat, pixels], dim=1), y


def test_registered_and_layout():
    model = build()
    assert model.has_encoder and model.table_dim == 4
    table, imgs = model.split(torch.zeros(5, 68))
    assert table.shape == (5, 4) and imgs[0].shape == (5, 1, 8, 8)
    assert table_spans(SPANS, 4) == SPANS[:2]


def test_generate_gives_hard_categories_and_pixels_in_range():
    out = build().generate(torch.tensor([0, 1, 1]), torch.Generator().manual_seed(1))
    assert out.shape == (3, 68)
    assert torch.all(out[:, 1:4].sum(1) == 1)  # one hard category per row
    assert out[:, 4:].min() >= 0 and out[:, 4:].max() <= 1
    assert out[:, :1].abs().max() <= 1


def test_training_learns_both_parts_of_each_class():
    x, y = records()
    model = build()
    history = Trainer(TrainerConfig(epochs=120, batch_size=32, health_check=False)).fit(model, x, y)
    losses = history.to_frame()["loss"]
    assert losses.iloc[-5:].mean() < 0.5 * losses.iloc[:5].mean()
    gen = torch.Generator().manual_seed(2)
    for code, bright, category in ((0, False, 0), (1, True, 2)):
        out = model.generate(torch.full((50,), code), gen)
        mean_pixel = out[:, 4:].mean().item()
        assert (mean_pixel > 0.5) == bright, (code, mean_pixel)
        assert out[:, 1 + category].mean() > 0.7  # chance: 1/3


def test_settings_are_checked():
    family = models.get("multimodal-vae")
    with pytest.raises(ValueError, match="image_shapes"):
        family(68, 2, SPANS)
    with pytest.raises(ValueError, match="more than data_dim"):
        family(10, 2, None, image_shapes=[[1, 8, 8]])
    with pytest.raises(ValueError, match="do not split"):
        family(
            68,
            2,
            [OutputSpan(2, "softmax"), OutputSpan(66, "sigmoid")],
            image_shapes=[[1, 8, 8]],
            hidden=8,
        )
    with pytest.raises(ValueError, match="unknown multimodal VAE settings"):
        family(68, 2, SPANS, image_shapes=[[1, 8, 8]], depth=3)


def test_file_round_trip_generates_the_same(tmp_path):
    model = build()
    x, y = records()
    Trainer(TrainerConfig(epochs=2, batch_size=32, health_check=False)).fit(model, x, y)
    models.save(model, tmp_path / "m.safetensors")
    loaded, _ = models.load(tmp_path / "m.safetensors")
    labels = torch.tensor([0, 1, 0])
    a = model.generate(labels, torch.Generator().manual_seed(3))
    b = loaded.generate(labels, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
