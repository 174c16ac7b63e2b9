"""Class-conditional GAN: the `mlp-classic` architecture as specified, every stabiliser switch
having its effect, seeded determinism for every loss, and the device choice. (Mode coverage
on the ring of 8 Gaussians lives in test_gan_ring.py.)"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

from genbalance import models
from genbalance.models import gan as gan_module
from genbalance.models.base import OutputSpan
from genbalance.models.losses import GAN_LOSSES
from genbalance.models.nets import DenseBlock, MinibatchStd
from genbalance.training import trainer as trainer_module
from genbalance.training.stabilizers import PRESETS, instance_noise_std
from genbalance.training.trainer import Trainer, TrainerConfig, resolve_device

TINY = {"g_hidden": [16, 16], "d_hidden": [16, 16], "z_dim": 4}


def gan(data_dim: int = 2, n_classes: int = 2, spans=None, seed: int = 0, **hyper: Any):
    torch.manual_seed(seed)
    return models.get("gan")(data_dim, n_classes, spans, **{**TINY, **hyper})


def blobs(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    return torch.randn(n, 2, generator=g) + 3.0 * y[:, None], y


class StubContext:
    """The part of the trainer's StepContext a train_step uses, with every loss recorded."""

    def __init__(self, model, x=None, y=None, progress: float = 0.0, seed: int = 0) -> None:
        self.model, self.x, self.y = model, x, y
        self.generator = torch.Generator().manual_seed(seed)
        self.progress, self.step, self.sample_weight, self.metrics = progress, 0, None, {}
        self.losses: dict[str, list[float]] = {}
        self.plain = False  # as StepContext before the trainer sets it

    def update(self, name: str, loss: torch.Tensor, retain_graph: bool = False) -> float:
        self.losses.setdefault(name, []).append(loss.item())
        opt = self.model.optimizers()[name]
        opt.zero_grad(set_to_none=True)
        loss.backward(retain_graph=retain_graph)
        opt.step()
        return 0.0

    def next_batch(self):
        return self.x, self.y

    def generator_labels(self, y, weight):
        return y, weight


def spy(monkeypatch, name: str) -> list[tuple[tuple, dict, Any]]:
    """Wrap ``gan_module.<name>``: every call's (args, kwargs, result) is recorded."""
    calls: list[tuple[tuple, dict, Any]] = []
    real = getattr(gan_module, name)

    def wrapper(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append((args, kwargs, out))
        return out

    monkeypatch.setattr(gan_module, name, wrapper)
    return calls


def record_inputs(module: nn.Module) -> list[torch.Tensor]:
    """Every batch ``module`` is called on (its first positional input), in order."""
    calls: list[torch.Tensor] = []
    module.register_forward_hook(lambda m, args, out: calls.append(args[0].detach().clone()))
    return calls


# ====================================================================== mlp-classic
def classic(data_dim: int = 6, n_classes: int = 3, **hyper):
    torch.manual_seed(0)
    spans = [OutputSpan(1, "sigmoid")] * data_dim  # [0, 1] data, e.g. pixels
    return models.get("gan")(data_dim, n_classes, spans, architecture="mlp-classic", **hyper)


def test_mlp_classic_has_the_specified_layers():
    model = classic(z_dim=10)
    g_blocks, d_blocks = list(model.G.body), list(model.D.body)
    assert [(b[0].in_features, b[0].out_features) for b in g_blocks] == [
        (10 + 3, 128),
        (128, 128),
        (128, 1024),
    ]
    assert (model.G.head.in_features, model.G.head.out_features) == (1024, 6)
    assert [(b[0].in_features, b[0].out_features) for b in d_blocks] == [(6 + 3, 1024), (1024, 128)]
    assert (model.D.head.in_features, model.D.head.out_features) == (128, 1)
    for block in g_blocks + d_blocks:  # Dense + BatchNorm + LeakyReLU, nothing else
        assert isinstance(block, DenseBlock)
        assert [type(m) for m in block] == [nn.Linear, nn.BatchNorm1d, nn.LeakyReLU]
        assert block[2].negative_slope == pytest.approx(0.2)
    out = model.generate(torch.arange(64) % 3, torch.Generator().manual_seed(0))
    assert out.shape == (64, 6) and out.min() >= 0 and out.max() <= 1  # sigmoid output
    assert model.hyper["loss"] == "nonsaturating"
    layer_g = classic(g_norm="layer")  # the G norm is a switch (BatchNorm by default)
    assert all(isinstance(b[1], nn.LayerNorm) for b in layer_g.G.body)
    with pytest.raises(ValueError, match="unknown norm 'group'"):
        classic(g_norm="group")


def test_mlp_classic_d_sees_real_and_fake_in_separate_passes(monkeypatch):
    """BatchNorm statistics must never mix real and generated rows; G uses the non-saturating
    loss by default and draws fresh noise every step."""
    model = classic()
    d_calls, g_calls = record_inputs(model.D), record_inputs(model.G)
    g_losses = spy(monkeypatch, "generator_loss")
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(32, 6, generator=g), torch.arange(32) % 3
    ctx = StubContext(model, x, y)
    model.train(True)
    for _ in range(2):
        model.train_step(x, y, ctx)
    assert len(d_calls) == 6  # per step: D(real), D(fake) for D's update, D(fake) for G's
    for step in range(2):
        real_pass, fake_pass, g_pass = d_calls[3 * step : 3 * step + 3]
        assert torch.equal(real_pass, x)  # a pure real batch ...
        assert real_pass.shape == fake_pass.shape == g_pass.shape == (32, 6)
        assert not torch.isin(fake_pass, x).all(1).any()  # ... and a pure generated one
    assert [args[0] for args, _, _ in g_losses] == ["nonsaturating", "nonsaturating"]
    # fresh noise: G's 4 calls (2 per step) never reuse a noise batch
    noises = [z for z in g_calls]
    assert all(z.shape == (32, model.hyper["z_dim"]) for z in noises)
    assert all(not torch.equal(a, b) for i, a in enumerate(noises) for b in noises[i + 1 :])


# ====================================================================== stabiliser switches
def test_spectral_norm_keeps_each_d_layer_at_unit_top_singular_value():
    X, y = blobs()

    def top_singular_values(model) -> list[float]:
        model.D.eval()
        layers = [m for m in model.D.modules() if isinstance(m, nn.Linear)]
        return [float(torch.linalg.matrix_norm(m.weight.detach(), ord=2)) for m in layers]

    on = gan(spectral_norm=True, d_hidden=[64, 32])
    Trainer(epochs=None, max_steps=60, batch_size=64, health_check=False).fit(on, X, y)
    assert all(abs(s - 1) < 0.05 for s in top_singular_values(on)), top_singular_values(on)
    off = gan(spectral_norm=False, d_hidden=[64, 32])
    Trainer(epochs=None, max_steps=60, batch_size=64, health_check=False).fit(off, X, y)
    assert max(abs(s - 1) for s in top_singular_values(off)) > 0.5


def test_spectral_norm_normalises_once_per_update_not_once_per_pass():
    """A stable-style D step passes D three times (real, fake, R1) and G's step once; the
    normalised weights are computed once per update (one power iteration each), as in the
    SN-GAN paper, instead of torch's once per pass."""
    X, y = blobs()
    model = gan(spectral_norm=True, minibatch_std=True, penalty="r1", d_hidden=[16])
    calls = []
    normed = [
        m for m in model.D.modules() if isinstance(m, nn.Linear) and hasattr(m, "parametrizations")
    ]
    for module in normed:
        module.parametrizations.weight[0].register_forward_hook(lambda *_: calls.append(1))
    steps = 5
    Trainer(epochs=None, max_steps=steps, batch_size=64, health_check=False).fit(model, X, y)
    assert len(normed) >= 2
    assert len(calls) == steps * 2 * len(normed)  # one D update + one G update a step


@pytest.mark.parametrize("penalty, name", [("wgan", "gradient_penalty"), ("r1", "r1_penalty")])
def test_gradient_penalty_term_enters_the_d_loss_with_its_weight(monkeypatch, penalty, name):
    """loss_D = base loss + lambda * GP (WGAN-GP) or + gamma / 2 * R1, on every critic step."""
    base, terms = spy(monkeypatch, "discriminator_loss"), spy(monkeypatch, name)
    loss = "wgan-gp" if penalty == "wgan" else "nonsaturating"
    model = gan(loss=loss, penalty=penalty, penalty_weight=4.0, n_critic=2)
    x, y = blobs(64)
    ctx = StubContext(model, x, y)
    model.train_step(x, y, ctx)
    factor = 4.0 if penalty == "wgan" else 2.0
    assert len(terms) == len(base) == len(ctx.losses["D"]) == 2
    for recorded, b, t in zip(ctx.losses["D"], base, terms, strict=True):
        assert t[2].item() > 0
        assert recorded == pytest.approx(b[2].item() + factor * t[2].item(), rel=1e-5)
    # and none without the switch
    terms.clear()
    plain = gan(loss="nonsaturating", penalty="none")
    plain.train_step(x, y, StubContext(plain, x, y))
    assert terms == []


def test_instance_noise_is_annealed_to_zero():
    assert instance_noise_std(0.2, 0.0) == 0.2
    assert instance_noise_std(0.2, 0.5) == pytest.approx(0.1)
    assert instance_noise_std(0.2, 1.0) == 0.0 and instance_noise_std(0.2, 1.5) == 0.0
    x, y = blobs(1024)
    spread = {}
    for progress in (0.0, 0.5, 1.0):
        model = gan(instance_noise=0.2)
        calls = record_inputs(model.D)
        model.train_step(x, y, StubContext(model, x, y, progress=progress))
        spread[progress] = float((calls[0] - x).std())  # D's view of the real batch
    assert spread[0.0] == pytest.approx(0.2, rel=0.1)
    assert spread[0.5] == pytest.approx(0.1, rel=0.1)
    assert spread[1.0] == 0.0
    # in a real run the last step sees noise of at most initial / total steps
    model = gan(instance_noise=0.2)
    calls = record_inputs(model.D)
    Trainer(epochs=None, max_steps=20, batch_size=64, health_check=False).fit(model, x, y)
    # a real run scores real + fake in one D pass (no BatchNorm in D): real rows first
    last_joint = calls[-2]
    last_real = last_joint[: last_joint.shape[0] // 2]
    assert 0 < float(torch.cdist(last_real, x).min(1).values.max()) < 0.2 / 20 * 5


def test_one_sided_label_smoothing_reaches_the_d_loss(monkeypatch):
    real_loss = gan_module.discriminator_loss
    seen = spy(monkeypatch, "discriminator_loss")
    x, y = blobs(32)
    model = gan(label_smoothing=0.1)
    model.train_step(x, y, StubContext(model, x, y))
    assert [args[3] for args, _, _ in seen] == [0.1]
    # one-sided: only the real side moves (smoothing 0.1 vs none, same scores)
    r, f = torch.tensor([2.0]), torch.tensor([-1.0])
    smoothed, sharp = real_loss("nonsaturating", r, f, 0.1), real_loss("nonsaturating", r, f)
    assert smoothed > sharp
    assert real_loss("nonsaturating", r, f + 5, 0.1) - smoothed == pytest.approx(
        real_loss("nonsaturating", r, f + 5) - sharp
    )


def test_pacgan_widens_the_discriminator_input():
    model = gan(data_dim=3, n_classes=2, pac=4)
    assert model.D.body[0][0].in_features == 4 * (3 + 2)
    scores = model.D(torch.randn(12, 3), torch.arange(12) % 2)
    assert scores.shape == (3,)  # one score per pack of 4 rows
    x, y = torch.randn(10, 3), torch.arange(10) % 2
    out = model.train_step(x, y, StubContext(model, x, y))  # 10 rows -> 2 packs of 4
    assert math.isfinite(out["loss_d"])
    with pytest.raises(ValueError, match="smaller than pac=4"):
        model.train_step(x[:3], y[:3], StubContext(model, x[:3], y[:3]))


@pytest.mark.parametrize("penalty", ["wgan", "r1"])
def test_pacgan_penalty_takes_gradients_per_pack(monkeypatch, penalty):
    """D scores packs, so the penalty's gradient norm is over a pack's pac * dim inputs."""
    name = "gradient_penalty" if penalty == "wgan" else "r1_penalty"
    calls = spy(monkeypatch, name)
    model = gan(data_dim=3, n_classes=2, pac=4, penalty=penalty, d_norm="none")
    x, y = torch.randn(16, 3), torch.arange(16) % 2
    model.train_step(x, y, StubContext(model, x, y))
    ((args, _, value),) = calls
    assert args[1].shape == (4, 12) and args[-1].shape == (4, 4)  # packs, their labels
    assert torch.isfinite(value) and value > 0
    # the packed critic gives the same scores as D on the unpacked rows
    assert torch.equal(args[0](x.reshape(4, 12), y.reshape(4, 4)), model.D(x, y))


def test_minibatch_std_feeds_the_batch_spread_to_d():
    on = gan(minibatch_std=True, d_norm="none")
    blocks = list(on.D.body)
    assert isinstance(blocks[-2], MinibatchStd)
    assert blocks[-1][0].in_features == TINY["d_hidden"][0] + 1
    off = gan(minibatch_std=False, d_norm="none")
    x, y = blobs(16)
    for model, depends in ((on, True), (off, False)):
        model.D.eval()
        with torch.no_grad():
            before = model.D(x, y)[0]
            x2 = x.clone()
            x2[1:] *= 5  # the rest of the batch spreads out; row 0 is unchanged
            after = model.D(x2, y)[0]
        assert bool(before != after) is depends


def test_ema_and_clipping_presets_reach_the_trainer():
    for name, recipe in PRESETS.items():
        config = TrainerConfig(**recipe.trainer)  # every trainer switch is a real field
        gan(**{k: v for k, v in recipe.gan.items()})  # and every GAN switch a real setting
        if name != "plain":
            assert config.grad_clip is not None
    assert PRESETS["stable"].trainer["ema"] and PRESETS["hinge-sn"].trainer["ema"]
    x, y = blobs(128)
    history = Trainer(
        epochs=None, max_steps=3, batch_size=32, grad_clip=1.0, ema=0.9, health_check=False
    ).fit(gan(), x, y)
    assert {"grad_norm_D", "grad_norm_G", "d_real", "d_fake"} <= set(history.steps[-1])


# ====================================================================== determinism
@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("loss", GAN_LOSSES)
@pytest.mark.parametrize("architecture", ["mlp-residual", "mlp-classic"])
def test_same_seed_same_gan_other_seed_differs(loss, architecture):
    x, y = blobs(128)
    d_norm = "layer" if architecture == "mlp-classic" and loss == "wgan-gp" else None

    def run(seed: int):
        model = gan(
            loss=loss,
            architecture=architecture,
            d_norm=d_norm,
            g_hidden=[8, 8, 16],
            d_hidden=[16, 8],
        )
        Trainer(epochs=None, max_steps=4, batch_size=32, random_state=seed, health_check=False).fit(
            model, x, y
        )
        return model.state_tensors(), model.generate(y[:20], torch.Generator().manual_seed(1))

    (w1, s1), (w2, s2), (w3, s3) = run(3), run(3), run(4)
    assert all(torch.equal(w1[k], w2[k]) for k in w1) and torch.equal(s1, s2)
    assert not all(torch.equal(w1[k], w3[k]) for k in w1) and not torch.equal(s1, s3)


# ====================================================================== device
def test_device_auto_picks_cuda_only_when_available(monkeypatch):
    monkeypatch.setattr(trainer_module.torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    monkeypatch.setattr(trainer_module.torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    x, y = blobs(64)
    model = gan()
    Trainer(epochs=None, max_steps=2, batch_size=32, health_check=False).fit(model, x, y)
    assert model.device == torch.device("cpu")
    assert all(p.device.type == "cpu" for p in model.G.parameters())


# ====================================================================== one D pass, latent encoder
def test_joint_d_pass_gives_the_scores_of_two_separate_passes():
    """Without BatchNorm or minibatch-std in D, one pass over real + fake is the same as two."""
    model = gan(data_dim=6, n_classes=3)
    assert model.hyper["d_norm"] == "none"
    g = torch.Generator().manual_seed(1)
    real, fake = torch.rand(16, 6, generator=g), torch.rand(16, 6, generator=g)
    y = torch.arange(16) % 3
    model.D.eval()
    joint = model._judge(real, fake, y, plain=True)
    apart = model._judge(real, fake, y, plain=False)
    for a, b in zip(joint, apart, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_latent_encoder_inverts_the_trained_generator():
    """After training, E(G(z, y), y) lands near z, far nearer than a random code does."""
    X, y = blobs()
    model = gan(e_steps=300)
    Trainer(epochs=None, max_steps=200, batch_size=64, health_check=False).fit(model, X, y)
    g = torch.Generator().manual_seed(5)
    z = torch.randn(256, model.hyper["z_dim"], generator=g)
    labels = torch.arange(256) % 2
    with torch.no_grad():
        z_hat, logvar = model.encode(model.decode(z, labels), labels)
    assert torch.equal(logvar, torch.zeros_like(z_hat))
    error = (z_hat - z).square().mean().item()
    baseline = (z[torch.randperm(256, generator=g)] - z).square().mean().item()
    assert error < 0.5 * baseline


def test_gan_without_encoder_refuses_encode_and_old_files_load_without_one():
    model = gan(encoder=False)
    assert model.E is None and "E" not in model.parts()
    with pytest.raises(TypeError, match="encoder=False"):
        model.encode(torch.zeros(2, 2), torch.zeros(2, dtype=torch.long))
    assert not models.get("gan").can_encode({"encoder": False})
    assert models.get("gan").can_encode({})
    # a file written before the encoder existed: G and D weights only
    weights = model.state_tensors()
    fresh = gan()
    fresh.load_state_tensors(weights)
    assert fresh.E is None and fresh.hyper["encoder"] is False
