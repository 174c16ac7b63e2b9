"""dcgan and conv-vae families: shapes, a few training steps, class-conditional sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genbalance import models
from genbalance.data.images import load_digits_8x8
from genbalance.encoders.images import ImageEncoder
from genbalance.models.conv_gan import diff_augment, parse_policy, plan_upsampling
from genbalance.training.trainer import Trainer, TrainerConfig


def _digits(n_per_class: int = 12, n_classes: int = 3):
    X, y = load_digits_8x8()
    idx = np.concatenate([np.flatnonzero(y == c)[:n_per_class] for c in range(n_classes)])
    enc = ImageEncoder().fit(X[idx])
    return enc, enc.transform(X[idx]), torch.as_tensor(y[idx])


@pytest.mark.parametrize(
    ("h", "w", "expected"),
    [(8, 8, (1, 4, 4)), (28, 28, (2, 7, 7)), (7, 7, (0, 7, 7)), (9, 5, (1, 5, 3))],
)
def test_plan_upsampling(h, w, expected) -> None:
    assert plan_upsampling(h, w) == expected


@pytest.mark.parametrize("family", ["dcgan", "conv-vae"])
@pytest.mark.parametrize("shape", [[1, 8, 8], [3, 9, 5], [1, 28, 28]])
def test_generate_shapes_any_image_size(family: str, shape: list[int]) -> None:
    dim = int(np.prod(shape))
    torch.manual_seed(0)
    model = models.get(family)(dim, 4, image_shape=shape)
    y = torch.tensor([0, 1, 2, 3, 3])
    out = model.generate(y, torch.Generator().manual_seed(0))
    assert out.shape == (5, dim)
    assert float(out.min()) >= 0 and float(out.max()) <= 1


@pytest.mark.parametrize("family", ["dcgan", "conv-vae"])
def test_train_few_steps_and_sample_requested_classes(family: str) -> None:
    enc, data, y = _digits()
    torch.manual_seed(0)
    model = models.get(family)(enc.data_dim, 3, enc.spans, image_shape=enc.image_shape)
    before = {k: v.clone() for k, v in model.state_tensors().items()}
    hist = Trainer(TrainerConfig(epochs=3, batch_size=12, random_state=0, health_check=False)).fit(
        model, data, y
    )
    assert len(hist.steps) == 9
    assert all(np.isfinite(v) for s in hist.steps for v in s.values())
    after = model.state_tensors()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # weights moved
    labels = torch.tensor([2, 2, 0, 1])
    out = model.generate(labels, torch.Generator().manual_seed(1))
    imgs = enc.inverse_transform(out)
    assert imgs.shape == (4, 8, 8) and imgs.dtype == np.float32
    again = model.generate(labels, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)  # same generator, same images


def test_conv_vae_learns_class_means() -> None:
    """After a short fit, samples of class c are closer to the real mean of c than of others."""
    enc, data, y = _digits(n_per_class=30)
    torch.manual_seed(0)
    model = models.get("conv-vae")(enc.data_dim, 3, enc.spans, image_shape=enc.image_shape)
    Trainer(TrainerConfig(epochs=40, batch_size=32, random_state=0, health_check=False)).fit(
        model, data, y
    )
    means = torch.stack([data[y == c].mean(0) for c in range(3)])
    for c in range(3):
        fake = model.generate(torch.full((50,), c), torch.Generator().manual_seed(c)).mean(0)
        dist = ((means - fake) ** 2).sum(1)
        assert int(dist.argmin()) == c, (c, dist)


def test_conv_vae_transfer_renders_target_class() -> None:
    enc, data, y = _digits()
    model = models.get("conv-vae")(enc.data_dim, 3, enc.spans, image_shape=enc.image_shape)
    out = model.transfer(
        data[:4], y[:4], torch.tensor([1, 1, 2, 2]), torch.Generator().manual_seed(0)
    )
    assert out.shape == (4, 64) and float(out.min()) >= 0 and float(out.max()) <= 1


def test_dcgan_hyper_validation() -> None:
    cls = models.get("dcgan")
    with pytest.raises(ValueError, match="image_shape=\\[C, H, W\\] is required"):
        cls(64, 3)
    with pytest.raises(ValueError, match="unknown dcgan settings \\['zdim'\\]"):
        cls(64, 3, image_shape=[1, 8, 8], zdim=3)
    with pytest.raises(ValueError, match="has 81 pixels but data_dim=64"):
        cls(64, 3, image_shape=[1, 9, 9])
    with pytest.raises(ValueError, match="unknown augmentation \\['flip'\\]"):
        cls(64, 3, image_shape=[1, 8, 8], aug_policy="translation,flip")
    with pytest.raises(ValueError, match="unknown conv-vae settings"):
        models.get("conv-vae")(64, 3, image_shape=[1, 8, 8], z_dim=3)


def test_diff_augment_is_differentiable_and_random_per_image() -> None:
    x = torch.rand(6, 1, 8, 8, requires_grad=True)
    gen = torch.Generator().manual_seed(0)
    out = diff_augment(x, parse_policy("translation,cutout"), gen)
    assert out.shape == x.shape
    out.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    # cutout zeroes a 4x4 square (partly outside the border at most): some pixels, never all
    zeroed = (out.detach() == 0) & (x.detach() > 0)
    per_image = zeroed.flatten(1).sum(1)
    assert (per_image > 0).all() and (per_image < 64).all()
    assert parse_policy("none") == () and parse_policy(False) == ()
    # translation alone keeps the content, only moved (sum can only drop at the border)
    moved = diff_augment(x.detach(), ("translation",), torch.Generator().manual_seed(1))
    assert (moved.flatten(1).sum(1) <= x.detach().flatten(1).sum(1) + 1e-5).all()


def test_dcgan_projection_discriminator_uses_label() -> None:
    torch.manual_seed(0)
    model = models.get("dcgan")(64, 3, image_shape=[1, 8, 8])
    x = torch.rand(4, 1, 8, 8)
    a = model.D(x, torch.tensor([0, 0, 0, 0]))
    b = model.D(x, torch.tensor([1, 1, 1, 1]))
    assert not torch.allclose(a, b)
    # spectral norm on every conv and on the projection head
    convs = [m for m in model.D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(hasattr(m, "parametrizations") for m in convs)


# ---------------------------------------------------------------------- dcgan warm start
def _dcgan(enc, **options):
    torch.manual_seed(0)
    return models.get("dcgan")(enc.data_dim, 3, enc.spans, image_shape=enc.image_shape, **options)


def _fit(model, data, y, **config):
    opts = {"epochs": None, "max_steps": 2, "batch_size": 12, "random_state": 0}
    return Trainer(TrainerConfig(health_check=False, **{**opts, **config})).fit(model, data, y)


def test_dcgan_warm_start_trains_g_as_a_decoder_first() -> None:
    """With warm_start_steps, G is a conditional VAE's decoder before the first adversarial
    step: its reconstruction loss falls, the history says so, and the generator then draws
    each class closer to that class's real mean than a cold start of the same length."""
    enc, data, y = _digits(n_per_class=30)
    warm = _dcgan(enc, warm_start_steps=150)
    history = _fit(warm, data, y, batch_size=30)
    event = next(e for e in history.events if e.startswith("warm start"))
    first, last = (float(v) for v in event.split("loss ")[1].split(" per")[0].split(" -> "))
    assert last < 0.8 * first, event
    cold = _dcgan(enc, warm_start_steps=0)
    assert not any("warm start" in e for e in _fit(cold, data, y, batch_size=30).events)
    means = torch.stack([data[y == c].mean(0) for c in range(3)])

    def error(model) -> float:
        labels = torch.arange(3).repeat_interleave(40)
        fake = model.generate(labels, torch.Generator().manual_seed(0))
        per_class = torch.stack([fake[labels == c].mean(0) for c in range(3)])
        return float(((per_class - means) ** 2).sum())

    assert error(warm) < 0.5 * error(cold)


def test_dcgan_warm_start_is_reproducible_and_the_ema_starts_from_it() -> None:
    enc, data, y = _digits()
    a, b, c = (_dcgan(enc, warm_start_steps=5) for _ in range(3))
    _fit(a, data, y, ema=0.5)
    _fit(b, data, y, ema=0.5)
    _fit(c, data, y, ema=0.5, random_state=1)
    sa, sb, sc = (m.state_tensors() for m in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # same seed, same weights
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)
    # an EMA that started from the random weights would still hold a quarter of them after
    # two steps at decay 0.5; the shadow must be close to the warm-started G instead
    cold = _dcgan(enc, warm_start_steps=0)
    _fit(cold, data, y, ema=0.5, max_steps=0)
    rand_w = cold.G.decoder.head.weight
    assert not torch.allclose(a.G.decoder.head.weight, rand_w, atol=1e-3)


def test_dcgan_warm_start_options_are_checked() -> None:
    bads = [{"warm_start_steps": v} for v in (-1, 2.5, "many", True)]
    bads += [{"warm_start_lr": -1e-3}, {"warm_start_beta": "x"}, {"recon_weight": -1}]
    for bad in bads:
        with pytest.raises(ValueError, match=next(iter(bad))):
            models.get("dcgan").validate_hyper({"image_shape": [1, 8, 8], **bad})


def test_dcgan_auto_warm_start_is_half_the_planned_steps_at_most_500() -> None:
    """warm_start_steps="auto" (the default) scales with the run: a 6-step fit gets 3 warm
    steps, a 1,000-step one 500 (the measured setting), a fit under a time budget only 500."""
    from genbalance.models.conv_gan import warm_start_plan

    enc, data, y = _digits()
    history = _fit(_dcgan(enc), data, y, max_steps=6)
    assert any(e.startswith("warm start") and "for 3 steps" in e for e in history.events)
    assert [warm_start_plan("auto", n) for n in (1, 6, 1000, 5000, None)] == [0, 3, 500, 500, 500]
    assert warm_start_plan(0, 1000) == 0 and warm_start_plan(40, 2) == 40
    # the trainer's "before training" progress task shows only where there is such work
    assert _dcgan(enc).has_work_before_training(6) and _dcgan(enc).has_work_before_training(None)
    assert not _dcgan(enc).has_work_before_training(1)  # "auto" plans no step for one
    assert not _dcgan(enc, warm_start_steps=0).has_work_before_training(1000)
    assert _dcgan(enc, warm_start_steps=0, d_warmup_steps=3).has_work_before_training(1000)


def test_dcgan_recon_anchor_keeps_and_trains_the_encoder() -> None:
    """recon_weight > 0 (VAE-GAN): the warm start's encoder stays, is a part of the model (so
    checkpoints and model files hold it), G's update trains it, and the history logs the
    VAE loss of each step. Off (the default), the model has G and D only."""
    enc, data, y = _digits()
    assert set(_dcgan(enc).parts()) == {"G", "D"}  # the default warm start keeps no encoder
    model = _dcgan(enc, warm_start_steps=3, recon_weight=0.5)
    assert set(model.parts()) == {"G", "D", "E"}
    before = {k: v.clone() for k, v in model.E.state_dict().items()}
    history = _fit(model, data, y, max_steps=3)
    assert all("loss_vae" in s and np.isfinite(s["loss_vae"]) for s in history.steps)
    moved = model.E.state_dict()
    assert any(not torch.equal(before[k], moved[k]) for k in before)
    again = models.get("dcgan").from_config(model.get_config())
    again.load_state_tensors(model.state_tensors())
    assert torch.equal(again.E.mu.weight, model.E.mu.weight)


def test_dcgan_d_warmup_trains_d_alone_before_the_game() -> None:
    """d_warmup_steps: D learns against the (warm-started) G before G's first adversarial
    step; G's weights do not move in that phase, and the history says it ran."""
    enc, data, y = _digits()
    model = _dcgan(enc, warm_start_steps=0, d_warmup_steps=3)

    class Ctx:
        generator = torch.Generator().manual_seed(0)
        sample_weight = None
        total_steps = 10
        updates: list[str] = []

        def next_batch(self):
            return data[:12], y[:12]

        def update(self, name, loss, retain_graph=False):
            self.updates.append(name)
            opt = model.optimizers()[name]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    g_before = {k: v.detach().clone() for k, v in model.G.named_parameters()}
    d_before = {k: v.clone() for k, v in model.D.state_dict().items()}
    ctx = Ctx()
    assert model.before_training(ctx) == "D trained alone for 3 steps before the game"
    assert ctx.updates == ["D", "D", "D"]
    # G's weights stay (its BatchNorm running statistics follow the batches it draws)
    assert all(torch.equal(g_before[k], v) for k, v in model.G.named_parameters())
    assert any(not torch.equal(d_before[k], v) for k, v in model.D.state_dict().items())
    assert _dcgan(enc, warm_start_steps=0).before_training(Ctx()) is None
    with pytest.raises(ValueError, match="d_warmup_steps must be an int >= 0"):
        models.get("dcgan").validate_hyper({"image_shape": [1, 8, 8], "d_warmup_steps": -2})
