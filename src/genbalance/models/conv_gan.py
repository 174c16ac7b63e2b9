"""Class-conditional convolutional GAN for small images (family ``"dcgan"``).

- Generator: DCGAN-style (Radford et al., 2016): (noise, class embedding) -> dense projection ->
  reshape to a small feature map -> ConvTranspose(4, stride 2) + BatchNorm + ReLU blocks ->
  3x3 conv -> sigmoid. The number of up-sampling blocks is chosen from ``image_shape`` so that
  the first map is at most 7x7 (8x8 images: 4 -> 8; 28x28: 7 -> 14 -> 28); odd sizes are
  produced one pixel larger and centre-cropped.
- Discriminator: spectrally normalised conv net with a projection head (Miyato & Koyama, 2018):
  ``D(x, y) = w . phi(x) + <embed(y), phi(x)>``.
- Hinge loss; DiffAugment (Zhao et al., 2020): the same differentiable random translation
  (the default) and, optionally, cutout are applied to real and generated images before D
  (``augment=True``), so that D cannot memorise the few images of a rare class. EMA of G comes
  from ``TrainerConfig(ema=...)``.
- Warm start (``warm_start_steps``, on by default; BAGAN's idea, Mariani et al., 2018: start
  the adversarial game from an autoencoder trained on every class): before the first
  adversarial step, G is trained as the decoder of a conditional VAE on class-balanced
  batches, so that ``G(z, y)`` with ``z ~ N(0, I)`` already draws each class with the stroke
  and slant learnt from all of them. A class of a few images then starts from the frequent
  classes' style instead of from noise (long-tailed digits, r = 100: +0.05-0.06 balanced
  accuracy on every seed, docs/gan-cures.md). The VAE's encoder is dropped afterwards (it is
  not part of the model file), unless ``recon_weight`` > 0: then it stays, and G's
  adversarial loss adds ``recon_weight`` times the VAE's loss on the real batch (VAE-GAN,
  Larsen et al., 2016). The dcgan family has no DP-SGD training; under it, this warm start
  would need its own privacy accounting.

Models see flat ``(n, C*H*W)`` tensors in [0, 1] (channels first), like every family.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from genbalance.models.base import GenerativeModel
from genbalance.models.losses import discriminator_loss, generator_loss
from genbalance.models.nets import evaluating, one_hot
from genbalance.models.optimizers import Adam

if TYPE_CHECKING:
    from genbalance.models.base import StepContext

AUG_OPS = ("translation", "cutout")
WARM_START_MAX = 500  # "auto" warm start: +0.05-0.06 balanced accuracy at r = 100 on digits

DEFAULTS: dict[str, Any] = {
    "image_shape": None,  # [C, H, W], required
    "z_dim": 64,
    "embed_dim": 32,
    "g_channels": 32,  # width of the last generator block (doubles towards the input)
    "d_channels": 32,  # width of the first discriminator block (doubles with depth)
    "lr_g": 2e-4,
    "lr_d": 2e-4,
    "betas": (0.0, 0.9),
    "n_critic": 1,
    "augment": True,
    # translation only: the 4x4 cutout blanks a quarter of an 8x8 digit, and translation alone
    # was level or better on long-tailed digits (docs/gan-cures.md)
    "aug_policy": "translation",
    "translation_ratio": 0.125,
    "cutout_ratio": 0.5,
    # conditional-VAE steps that train G as a decoder first: "auto" = half the planned
    # adversarial steps, at most WARM_START_MAX (that many under a time budget); 0 = off
    "warm_start_steps": "auto",
    "warm_start_lr": 1e-3,
    "warm_start_beta": 1.0,  # weight of the VAE's KL term
    # VAE-GAN anchor: G's loss adds this weight times the conditional VAE's loss on the real
    # batch (the encoder kept and trained with G), so adversarial steps sharpen G without
    # leaving the decoder the warm start found (0 = off)
    "recon_weight": 0.0,
    # D steps against the warm-started G before G's first adversarial step, so that G's first
    # updates come from a D that has learnt something (BAGAN also starts D from a trained
    # network); 0 = off
    "d_warmup_steps": 0,
}


# ---------------------------------------------------------------------- shared helpers
def check_image_shape(value: Any) -> list[int]:
    """``image_shape`` as ``[C, H, W]`` of positive ints, with a clear error otherwise."""
    if value is None:
        raise ValueError("image_shape=[C, H, W] is required for convolutional models")
    try:
        shape = [int(v) for v in value]
    except (TypeError, ValueError):
        raise ValueError(f"image_shape must be [C, H, W], got {value!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be [C, H, W] of positive ints, got {value!r}")
    return shape


def plan_upsampling(height: int, width: int, max_start: int = 7) -> tuple[int, int, int]:
    """``(n_blocks, h0, w0)``: halve the larger side until it is <= ``max_start``."""
    n, s = 0, max(height, width)
    while s > max_start:
        s = math.ceil(s / 2)
        n += 1
    return n, math.ceil(height / 2**n), math.ceil(width / 2**n)


def center_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    top = (x.shape[2] - height) // 2
    left = (x.shape[3] - width) // 2
    return x[:, :, top : top + height, left : left + width]


def check_steps(key: str, value: Any, auto: bool = False) -> int | str:
    """A number of steps: an int >= 0 (or "auto" where ``auto``), a clear error otherwise."""
    if auto and value == "auto":
        return value
    try:
        steps = int(value)
    except (TypeError, ValueError):
        steps = -1
    if steps < 0 or isinstance(value, bool) or steps != value:
        accepted = "'auto' or an int >= 0" if auto else "an int >= 0"
        raise ValueError(f"{key} must be {accepted}, got {value!r}")
    return steps


def warm_start_plan(setting: int | str, planned: int | None) -> int:
    """Warm-start steps for ``planned`` adversarial steps (None: a time budget decides)."""
    if setting != "auto":
        return int(setting)
    return WARM_START_MAX if planned is None else min(WARM_START_MAX, planned // 2)


def check_shape_fits(data_dim: int, shape: list[int]) -> None:
    c, h, w = shape
    if c * h * w != data_dim:
        raise ValueError(f"image_shape {shape} has {c * h * w} pixels but data_dim={data_dim}")


class UpsamplingDecoder(nn.Module):
    """(vector) -> dense -> (ch, h0, w0) -> [ConvT(4, 2, 1) + BN + ReLU] x n -> conv3x3 -> logits.

    Returns raw logits of shape ``(n, C, H, W)`` (centre-cropped to the image size).
    """

    def __init__(self, n_in: int, image_shape: list[int], channels: int) -> None:
        super().__init__()
        c, h, w = image_shape
        n, h0, w0 = plan_upsampling(h, w)
        self.shape0 = (channels * 2**n, h0, w0)
        self.size = (h, w)
        width = channels * 2**n
        self.project = nn.Sequential(
            nn.Linear(n_in, width * h0 * w0), nn.BatchNorm1d(width * h0 * w0), nn.ReLU()
        )
        blocks: list[nn.Module] = []
        for _ in range(n):
            blocks += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(),
            ]
            width //= 2
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(width, c, 3, 1, 1)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        h = self.project(v).reshape(v.shape[0], *self.shape0)
        return center_crop(self.head(self.blocks(h)), *self.size)


def downsampling_body(
    c_in: int, image_shape: list[int], channels: int, spectral: bool, norm: bool = False
) -> tuple[nn.Sequential, int]:
    """conv3x3 then conv4x4-stride-2 blocks down to <= 7x7 (at least one); LeakyReLU(0.1)."""
    n, _, _ = plan_upsampling(image_shape[1], image_shape[2])

    def conv(a: int, b: int, k: int, s: int) -> nn.Module:
        layer = nn.Conv2d(a, b, k, s, (k - 1) // 2 if k == 3 else 1)
        return spectral_norm(layer) if spectral else layer

    layers: list[nn.Module] = [conv(c_in, channels, 3, 1), nn.LeakyReLU(0.1)]
    width = channels
    for _ in range(max(n, 1)):
        layers += [conv(width, width * 2, 4, 2)]
        if norm:
            layers.append(nn.BatchNorm2d(width * 2))
        layers.append(nn.LeakyReLU(0.1))
        width *= 2
    return nn.Sequential(*layers), width


class ConvEncoder(nn.Module):
    """Gaussian posterior ``q(z | x, y)`` of a conditional VAE: the class one-hot enters as
    extra image planes and again before the dense layer."""

    def __init__(
        self, n_classes: int, image_shape: list[int], channels: int, hidden: int, latent: int
    ) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.body, width = downsampling_body(
            image_shape[0] + n_classes, image_shape, channels, spectral=False, norm=True
        )
        self.fc = nn.Sequential(nn.Linear(width + n_classes, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)

    def forward(self, imgs: torch.Tensor, y: torch.Tensor):
        oh = one_hot(y, self.n_classes)
        planes = oh[:, :, None, None].expand(-1, -1, imgs.shape[2], imgs.shape[3])
        phi = self.body(torch.cat([imgs, planes], dim=1)).mean(dim=(2, 3))
        h = self.fc(torch.cat([phi, oh], dim=1))
        return self.mu(h), self.logvar(h).clamp(-12.0, 8.0)


def pixel_elbo(
    logits: torch.Tensor, imgs: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per image: binary cross-entropy of the pixels (summed) + ``beta`` * KL(q || N(0, I));
    returns ``(loss, rec, kl)``, each of shape ``(n,)``."""
    rec = F.binary_cross_entropy_with_logits(logits, imgs.clamp(0, 1), reduction="none")
    rec = rec.flatten(1).sum(1)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
    return rec + beta * kl, rec, kl


def weighted_mean(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    return values.mean() if weight is None else (values * weight).sum() / weight.sum()


def conditional_vae_pass(
    encoder: ConvEncoder,
    decode: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    imgs: torch.Tensor,
    y: torch.Tensor,
    generator: torch.Generator | None,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One pass of a conditional VAE over ``imgs`` of classes ``y``: posterior, one
    reparameterised draw, ``decode(z, y)`` to pixel logits, and :func:`pixel_elbo`."""
    mu, logvar = encoder(imgs, y)
    eps = torch.randn(mu.shape, generator=generator).to(mu.device)
    logits = decode(mu + eps * torch.exp(0.5 * logvar), y)
    return pixel_elbo(logits, imgs, mu, logvar, beta)


# ---------------------------------------------------------------------- DiffAugment
def diff_augment(
    x: torch.Tensor,
    policy: tuple[str, ...],
    generator: torch.Generator | None,
    translation_ratio: float = 0.125,
    cutout_ratio: float = 0.5,
) -> torch.Tensor:
    """Differentiable random translation (zero padded) and cutout, one draw per image."""
    n, _, h, w = x.shape
    dev = x.device
    if "translation" in policy:
        rh, rw = int(h * translation_ratio + 0.5), int(w * translation_ratio + 0.5)
        if rh or rw:
            sy = torch.randint(-rh, rh + 1, (n, 1), generator=generator).to(dev)
            sx = torch.randint(-rw, rw + 1, (n, 1), generator=generator).to(dev)
            padded = F.pad(x, [rw, rw, rh, rh])
            iy = torch.arange(h, device=dev)[None, :] + rh - sy  # (n, h)
            ix = torch.arange(w, device=dev)[None, :] + rw - sx  # (n, w)
            b = torch.arange(n, device=dev)[:, None, None]
            x = padded[b, :, iy[:, :, None], ix[:, None, :]].permute(0, 3, 1, 2)
    if "cutout" in policy:
        ch, cw = int(h * cutout_ratio + 0.5), int(w * cutout_ratio + 0.5)
        if ch and cw:
            cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=generator).to(dev)
            cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=generator).to(dev)
            gy = torch.arange(h, device=dev)[None, :, None]
            gx = torch.arange(w, device=dev)[None, None, :]
            inside = ((gy - cy + ch // 2) >= 0) & ((gy - cy + ch // 2) < ch)
            inside = inside & ((gx - cx + cw // 2) >= 0) & ((gx - cx + cw // 2) < cw)
            x = x * (~inside).unsqueeze(1).to(x.dtype)
    return x


def parse_policy(policy: str | bool | None) -> tuple[str, ...]:
    if policy in (None, False, "", "none"):
        return ()
    ops = tuple(p.strip() for p in str(policy).split(",") if p.strip())
    bad = [p for p in ops if p not in AUG_OPS]
    if bad:
        raise ValueError(f"unknown augmentation {bad}; accepted: {', '.join(AUG_OPS)}")
    return ops


# ---------------------------------------------------------------------- networks
class ConvGenerator(nn.Module):
    def __init__(
        self, z_dim: int, n_classes: int, embed_dim: int, image_shape: list[int], channels: int
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(n_classes, embed_dim)
        self.decoder = UpsamplingDecoder(z_dim + embed_dim, image_shape, channels)

    def logits(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, self.embed(y.long())], dim=1))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(z, y))  # (n, C, H, W)


class ProjectionDiscriminator(nn.Module):
    """Spectrally normalised conv features ``phi``; score ``w.phi + <embed(y), phi>``."""

    def __init__(self, n_classes: int, image_shape: list[int], channels: int) -> None:
        super().__init__()
        self.body, width = downsampling_body(image_shape[0], image_shape, channels, True)
        self.linear = spectral_norm(nn.Linear(width, 1))
        self.embed = spectral_norm(nn.Embedding(n_classes, width))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        phi = self.body(x).sum(dim=(2, 3))  # global sum pooling
        return self.linear(phi).squeeze(1) + (self.embed(y.long()) * phi).sum(1)


class ConvGAN(GenerativeModel):
    family = "dcgan"
    defaults = DEFAULTS
    copied_weights_settings: ClassVar[dict[str, Any]] = {"warm_start_steps": 0}  # G is trained
    display_name = "dcgan"

    @classmethod
    def validate_hyper(cls, hyper: dict[str, Any]) -> dict[str, Any]:
        h = cls.with_defaults(hyper)
        h["image_shape"] = check_image_shape(h["image_shape"])
        for key in ("z_dim", "embed_dim", "g_channels", "d_channels", "n_critic"):
            if int(h[key]) < 1:
                raise ValueError(f"{key} must be >= 1, got {h[key]}")
            h[key] = int(h[key])
        parse_policy(h["aug_policy"])
        h["warm_start_steps"] = check_steps("warm_start_steps", h["warm_start_steps"], auto=True)
        h["d_warmup_steps"] = check_steps("d_warmup_steps", h["d_warmup_steps"])
        for key in ("warm_start_lr", "warm_start_beta", "recon_weight"):
            try:
                value = float(h[key])
            except (TypeError, ValueError):
                value = math.nan
            if not value >= 0:
                raise ValueError(f"{key} must be a number >= 0, got {h[key]!r}")
            h[key] = value
        h["betas"] = [float(b) for b in h["betas"]]
        h["augment"] = bool(h["augment"])
        return h

    def build(self) -> None:
        h = self.hyper
        check_shape_fits(self.data_dim, h["image_shape"])
        self.G = ConvGenerator(
            h["z_dim"], self.n_classes, h["embed_dim"], h["image_shape"], h["g_channels"]
        )
        self.D = ProjectionDiscriminator(self.n_classes, h["image_shape"], h["d_channels"])
        betas = tuple(h["betas"])
        self.E: ConvEncoder | None = None
        g_params = list(self.G.parameters())
        if h["recon_weight"] > 0:  # the anchor's encoder, trained with G by G's optimiser
            self.E = self._new_encoder()
            g_params += list(self.E.parameters())
        self.opt_g = Adam(g_params, lr=h["lr_g"], betas=betas)
        self.opt_d = Adam(self.D.parameters(), lr=h["lr_d"], betas=betas)
        self._policy = parse_policy(h["aug_policy"]) if h["augment"] else ()

    def _new_encoder(self) -> ConvEncoder:
        h = self.hyper
        return ConvEncoder(self.n_classes, h["image_shape"], h["g_channels"], 256, h["z_dim"])

    def parts(self) -> dict[str, nn.Module]:
        if self.E is None:
            return {"G": self.G, "D": self.D}
        return {"G": self.G, "D": self.D, "E": self.E}

    def sampling_parts(self) -> dict[str, nn.Module]:
        return {"G": self.G}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    # ------------------------------------------------------------------ warm start
    def has_work_before_training(self, total_steps: int | None) -> bool:
        """A warm start or D's warm-up is planned (with both off, no progress task flashes)."""
        h = self.hyper
        return bool(warm_start_plan(h["warm_start_steps"], total_steps) or h["d_warmup_steps"])

    def before_training(self, ctx: StepContext) -> str | None:
        """The warm start (``warm_start_steps``: G trained as a conditional VAE's decoder,
        module docstring), then ``d_warmup_steps`` updates of D alone against that G."""
        h = self.hyper
        steps = warm_start_plan(h["warm_start_steps"], ctx.total_steps)
        events = [self._warm_start_g(steps, ctx)] if steps else []
        for _ in range(h["d_warmup_steps"]):
            self._critic_step(*ctx.next_batch(), ctx)
        if h["d_warmup_steps"]:
            events.append(f"D trained alone for {h['d_warmup_steps']} steps before the game")
        return "; ".join(events) or None

    def _warm_start_g(self, steps: int, ctx: StepContext) -> str:
        """``steps`` conditional-VAE steps with G as the decoder. The encoder is kept only as
        the anchor's (``recon_weight``); this optimiser is dropped either way."""
        h = self.hyper
        encoder = self.E if self.E is not None else self._new_encoder().to(self.device)
        opt = Adam([*encoder.parameters(), *self.G.parameters()], lr=h["warm_start_lr"])
        losses = []
        for _ in range(steps):
            x, y = ctx.next_batch()
            loss = self._vae_loss(encoder, x, y, ctx)
            if not math.isfinite(value := float(loss.detach())):
                raise FloatingPointError(
                    f"the dcgan's warm start diverged (loss {value}); lower warm_start_lr "
                    "or set warm_start_steps=0"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(value)
        self.G.zero_grad(set_to_none=True)
        tail = losses[-max(1, steps // 10) :]
        return (
            f"warm start: G trained as a conditional VAE decoder for {steps} steps "
            f"(loss {losses[0]:.1f} -> {sum(tail) / len(tail):.1f} per image)"
        )

    def _vae_loss(self, encoder: ConvEncoder, x, y, ctx: StepContext) -> torch.Tensor:
        """The conditional VAE's loss on a real batch, G as its decoder (mean per image)."""
        per_image, _, _ = conditional_vae_pass(
            encoder, self.G.logits, self._images(x), y, ctx.generator, self.hyper["warm_start_beta"]
        )
        return weighted_mean(per_image, ctx.sample_weight)

    # ------------------------------------------------------------------ helpers
    def _images(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.hyper["image_shape"])

    def _noise(self, n: int, generator) -> torch.Tensor:
        return torch.randn(n, self.hyper["z_dim"], generator=generator).to(self.device)

    def _aug(self, imgs: torch.Tensor, generator) -> torch.Tensor:
        if not self._policy:
            return imgs
        h = self.hyper
        return diff_augment(
            imgs, self._policy, generator, h["translation_ratio"], h["cutout_ratio"]
        )

    def train_step(self, x, y, ctx) -> dict[str, float]:
        gen = ctx.generator
        for i in range(self.hyper["n_critic"]):
            if i > 0:
                x, y = ctx.next_batch()
            loss_d, d_real, d_fake = self._critic_step(x, y, ctx)
        n = x.shape[0]
        fake = self.G(self._noise(n, gen), y)
        loss_g = generator_loss("hinge", self.D(self._aug(fake, gen), y))
        out = {
            "loss_d": float(loss_d.detach()),
            "loss_g": float(loss_g.detach()),
            "d_real": float(d_real.detach().mean()),
            "d_fake": float(d_fake.detach().mean()),
        }
        if self.E is not None:  # the VAE-GAN anchor (recon_weight)
            loss_vae = self._vae_loss(self.E, x, y, ctx)
            loss_g = loss_g + self.hyper["recon_weight"] * loss_vae
            out["loss_vae"] = float(loss_vae.detach())
        ctx.update("G", loss_g)
        return out

    def _critic_step(self, x, y, ctx: StepContext) -> tuple[torch.Tensor, ...]:
        """One update of D on a real batch and G's images of the same classes; returns D's
        loss and its scores of the real and the generated images."""
        gen = ctx.generator
        with torch.no_grad():
            fake = self.G(self._noise(x.shape[0], gen), y)
        d_real = self.D(self._aug(self._images(x), gen), y)
        d_fake = self.D(self._aug(fake, gen), y)
        loss_d = discriminator_loss("hinge", d_real, d_fake, 0.0, ctx.sample_weight)
        ctx.update("D", loss_d)
        return loss_d, d_real, d_fake

    @torch.no_grad()
    def generate(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        y = y.to(self.device)
        with evaluating(self.G):
            return self.G(self._noise(y.shape[0], generator), y).reshape(y.shape[0], -1)
