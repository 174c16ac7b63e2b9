"""VAE and conditional VAE: held-out reconstruction beats the trivial mean baseline, the
conditional model uses its labels, the loss uses the right likelihood per span, bad settings
are explained."""

from __future__ import annotations

import json

import pytest
import torch

from genbalance import models
from genbalance.models.base import OutputSpan
from genbalance.models.vae_grad import linear_layers
from genbalance.training.trainer import Trainer


def manifold(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """6-D rows on a curved 2-D sheet; class 1 is shifted, so labels carry information."""
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, generator=g) < 0.3).long()
    z = torch.randn(n, 2, generator=g)
    a, b = z[:, 0], z[:, 1]
    X = torch.stack([a, b, 0.5 * a * b, torch.sin(a), a - b, 0.3 * b**2], 1)
    X = X + 1.5 * y[:, None] * torch.tensor([1.0, -1.0, 0.5, 0.0, 1.0, 0.5])
    return X + 0.05 * torch.randn(X.shape, generator=g), y


@pytest.fixture(scope="module")
def split():
    X, y = manifold(900, 0)
    return (X[:700], y[:700]), (X[700:], y[700:])


def train(conditional: bool, train_data, steps: int = 600):
    X, y = train_data
    torch.manual_seed(0)
    model = models.get("vae")(6, 2, hidden=[64, 64], latent_dim=4, conditional=conditional, lr=3e-3)
    Trainer(
        epochs=None,
        max_steps=steps,
        batch_size=128,
        sampling="natural",
        random_state=0,
        health_check=False,
    ).fit(model, X, y)
    return model


@pytest.fixture(scope="module")
def trained(split):
    return {c: train(c, split[0]) for c in (False, True)}


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b) ** 2).mean())


@pytest.mark.parametrize("conditional", [False, True], ids=["vae", "cvae"])
def test_held_out_reconstruction_beats_the_mean_baselines(
    trained, split, conditional, record_property
):
    (X_tr, y_tr), (X_te, y_te) = split
    model = trained[conditional]
    got = mse(model.reconstruct(X_te, y_te), X_te)
    mean_baseline = mse(X_tr.mean(0).expand_as(X_te), X_te)
    class_means = torch.stack([X_tr[y_tr == c].mean(0) for c in (0, 1)])
    class_baseline = mse(class_means[y_te], X_te)  # a stronger trivial baseline
    record_property("mse", got)
    record_property("mean_baseline_mse", mean_baseline)
    print(
        f"conditional={conditional}: held-out MSE {got:.4f}, mean baseline "
        f"{mean_baseline:.4f}, class-mean baseline {class_baseline:.4f}"
    )
    assert got < 0.25 * mean_baseline
    assert got < 0.25 * class_baseline
    # an untrained network of the same shape does not reconstruct: the gain comes from fitting
    torch.manual_seed(0)
    fresh = models.get("vae")(6, 2, hidden=[64, 64], latent_dim=4, conditional=conditional)
    assert mse(fresh.reconstruct(X_te, y_te), X_te) > 0.5 * mean_baseline


def test_conditional_samples_follow_their_class(trained, split):
    (X_tr, y_tr), _ = split
    model = trained[True]
    gen = torch.Generator().manual_seed(0)
    means = [X_tr[y_tr == c].mean(0) for c in (0, 1)]
    for c in (0, 1):
        fake = model.generate(torch.full((2000,), c), gen)
        # the samples' mean sits near their own class's mean, far from the other one's
        assert (fake.mean(0) - means[c]).norm() < 0.3 * (fake.mean(0) - means[1 - c]).norm()
        assert (fake.std(0) / X_tr[y_tr == c].std(0)).min() > 0.5  # spread, not one point
    # the labels matter: flipping them moves the samples by the class shift
    shift = model.generate(torch.ones(2000, dtype=torch.long), torch.Generator().manual_seed(1))
    base = model.generate(torch.zeros(2000, dtype=torch.long), torch.Generator().manual_seed(1))
    assert (shift - base).mean(0)[0] > 0.8 and (shift - base).mean(0)[1] < -0.8


def test_plain_vae_ignores_labels(trained, split):
    _, (X_te, y_te) = split
    model = trained[False]
    assert torch.equal(model.reconstruct(X_te, y_te), model.reconstruct(X_te, 1 - y_te))
    assert model.encoder.body[0].in_features == 6  # no one-hot columns in the input


def test_reconstruction_loss_uses_the_likelihood_of_each_span():
    spans = [
        OutputSpan(1, "linear"),
        OutputSpan(1, "tanh"),
        OutputSpan(2, "softmax"),
        OutputSpan(1, "sigmoid"),
    ]
    model = models.get("vae")(5, 1, spans, hidden=[8], latent_dim=2, scalar_sigma=0.5)
    raw = torch.tensor([[0.3, 0.2, 1.0, -1.0, 0.4]])
    x = torch.tensor([[1.0, 0.5, 0.0, 1.0, 1.0]])
    gauss = (0.3 - 1.0) ** 2 / (2 * 0.25) + (torch.tanh(torch.tensor(0.2)) - 0.5) ** 2 / 0.5
    ce = -torch.log_softmax(torch.tensor([1.0, -1.0]), 0)[1]
    bce = torch.nn.functional.softplus(-torch.tensor(0.4))
    expected = gauss + ce + bce
    assert model.reconstruction_loss(raw, x).item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"latent_dim": 0}, "latent_dim"),
        ({"beta": -1.0}, "beta"),
        ({"width": 3}, "unknown VAE"),
    ],
)
def test_bad_vae_settings_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        models.get("vae")(3, 2, **bad)


def test_files_from_before_encoder_hidden_load_with_their_deep_encoder():
    """``encoder_hidden`` (one layer by default) is new: a stored configuration without it
    describes an encoder as deep as ``hidden``, and loads so, bit for bit."""
    torch.manual_seed(0)
    old = models.get("vae")(6, 2, hidden=[16, 8], encoder_hidden=None)
    config = json.loads(json.dumps(old.get_config()))
    del config["hyper"]["encoder_hidden"]
    loaded = models.from_state(config, old.state_tensors())
    assert len(linear_layers(loaded.encoder.body)) == 2
    for a, b in zip(old.state_tensors().values(), loaded.state_tensors().values(), strict=True):
        assert torch.equal(a, b)
    new = models.get("vae")(6, 2, hidden=[16, 8])
    assert new.hyper["encoder_hidden"] == [128]
    config = json.loads(json.dumps(new.get_config()))
    assert models.from_state(config, new.state_tensors()).hyper["encoder_hidden"] == [128]
    assert len(linear_layers(new.encoder.body)) == 1
