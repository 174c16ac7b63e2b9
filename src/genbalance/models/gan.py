"""Class-conditional GAN: the generator maps (noise, class) to a row, the discriminator
judges (row, class) pairs. Losses, architecture presets and stabilisers are hyper-parameters.

Architecture presets:
- ``mlp-classic``: G z -> 128 -> 128 -> 1024 -> out, D in -> 1024 -> 128 -> 1, each hidden
  layer Dense + BatchNorm + LeakyReLU(0.2) (the classic MLP GAN);
- ``mlp-residual``: CTGAN-style residual generator and a dropout discriminator, for tables;
  128 units a layer (256 cost twice as much and was not better on the benchmark's development
  subset, docs/gan-tables.md).

Latent encoder (``encoder=True``, the default): a small network ``E(x, y) -> z`` learns to
invert the generator on its own samples (``E(G(z, y), y) ~ z``, the latent regression of
BicycleGAN's cLR branch and of iGAN's learned inversion). It is fitted once training has ended
(``after_training``: ``e_steps`` steps on fresh batches from the final, EMA, generator), so it
inverts the generator that samples and costs no adversarial step. It gives the GAN the
``encode``/``decode`` pair that latent-neighbour generation (SMOTE's idea on the learned
manifold, ``generation="hybrid"``) needs; it never reads a real row.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.utils import parametrize

from genbalance.models.base import GenerativeModel
from genbalance.models.losses import (
    GAN_LOSSES,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    instance_noise_std,
    r1_penalty,
)
from genbalance.models.nets import (
    DenseBlock,
    MinibatchStd,
    ResidualBlock,
    SpanActivation,
    evaluating,
    linear,
    one_hot,
    pack,
)
from genbalance.models.optimizers import Adam
from genbalance.utils import user_stacklevel

ARCHITECTURES = ("mlp-classic", "mlp-residual")
PENALTIES = ("none", "wgan", "r1")

DEFAULTS: dict[str, Any] = {
    "architecture": "mlp-residual",
    "loss": "nonsaturating",
    "z_dim": 64,
    "g_hidden": None,  # None = the architecture's own widths
    "d_hidden": None,
    "d_norm": None,  # None = the architecture's own (batch for classic, none for residual)
    "g_norm": "batch",  # norm of G's hidden layers: batch | layer | none
    "dropout": 0.0,
    "lr_g": 2e-4,
    "lr_d": 2e-4,  # TTUR: give D a larger rate than G (Heusel et al., 2017)
    "betas": (0.5, 0.999),
    "weight_decay": 1e-6,
    "n_critic": 1,
    "penalty": "none",
    "penalty_weight": 10.0,
    "spectral_norm": False,
    "pac": 1,
    "minibatch_std": False,
    "instance_noise": 0.0,
    "label_smoothing": 0.0,
    "gumbel_tau": 0.2,
    "encoder": True,  # learn E(x, y) -> z on generated rows (latent-neighbour generation)
    "e_hidden": [128, 128],
    "e_steps": 200,
    "e_batch": 128,
}


class Generator(nn.Module):
    def __init__(
        self,
        z_dim: int,
        n_classes: int,
        hidden: list[int],
        out: SpanActivation,
        residual: bool,
        norm: str,
    ) -> None:
        super().__init__()
        self.n_classes = n_classes
        layers: list[nn.Module] = []
        width = z_dim + n_classes
        for h in hidden:
            if residual:
                layers.append(ResidualBlock(width, h, norm))
                width += h
            else:
                layers.append(DenseBlock(width, h, norm))
                width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, out.dim)
        self.out = out

    def hidden(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's activations (the output layer's input)."""
        return self.body(torch.cat([z, one_hot(y, self.n_classes)], dim=1))

    def raw(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Network outputs before the span activations."""
        return self.head(self.hidden(z, y))

    def forward(self, z, y, tau=None, generator=None):
        return self.out(self.raw(z, y), tau=tau, generator=generator)

    def sample(self, z, y, generator=None):
        """Outputs with one hard category per softmax span (see SpanActivation.sample)."""
        return self.out.sample_head(self.head, self.hidden(z, y), generator)


class Discriminator(nn.Module):
    def __init__(
        self,
        data_dim: int,
        n_classes: int,
        hidden: list[int],
        norm: str,
        dropout: float,
        spectral: bool,
        pac: int,
        minibatch_std: bool,
    ) -> None:
        super().__init__()
        self.n_classes, self.pac = n_classes, pac
        width = (data_dim + n_classes) * pac
        layers: list[nn.Module] = []
        for i, h in enumerate(hidden):
            if minibatch_std and i == len(hidden) - 1:
                layers.append(MinibatchStd())
                width += 1
            layers.append(DenseBlock(width, h, norm, 0.2, dropout, spectral))
            width = h
        self.body = nn.Sequential(*layers)
        self.head = linear(width, 1, spectral)

    def forward(self, x, y):
        h = pack(torch.cat([x, one_hot(y, self.n_classes)], dim=1), self.pac)
        return self.head(self.body(h)).squeeze(1)


class LatentEncoder(nn.Module):
    """``E(x, y) -> z``: inverts the generator, trained on its samples only."""

    def __init__(self, data_dim: int, n_classes: int, hidden: list[int], z_dim: int) -> None:
        super().__init__()
        self.n_classes = n_classes
        layers: list[nn.Module] = []
        width = data_dim + n_classes
        for h in hidden:
            layers.append(DenseBlock(width, h, "none", 0.2))
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, z_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(torch.cat([x, one_hot(y, self.n_classes)], dim=1)))


class GAN(GenerativeModel):
    family = "gan"
    defaults = DEFAULTS
    display_name = "GAN"
    auto_batch_max = 128  # as the VAE: larger batches cost in proportion on big tables
    has_encoder = True  # with encoder=False, encode() raises: see can_encode

    @classmethod
    def can_encode(cls, options: dict[str, Any]) -> bool:
        return bool(options.get("encoder", DEFAULTS["encoder"]))

    # DP-SGD (training/privacy.py): only D reads real rows; G's updates are post-processing
    dp_parts: ClassVar[dict[str, tuple[str, ...]]] = {"D": ("D",)}
    dp_norm_setting: ClassVar[str] = "d_norm"

    @classmethod
    def validate_hyper(cls, hyper: dict[str, Any]) -> dict[str, Any]:
        h = cls.with_defaults(hyper)
        for key, allowed in (
            ("architecture", ARCHITECTURES),
            ("loss", GAN_LOSSES),
            ("penalty", PENALTIES),
        ):
            if h[key] not in allowed:
                raise ValueError(f"{key}={h[key]!r} is not one of {', '.join(allowed)}")
        for key in ("z_dim", "n_critic", "pac"):
            if int(h[key]) < 1:
                raise ValueError(f"{key} must be >= 1, got {h[key]}")
        if h["loss"] == "wgan-gp" and h["penalty"] == "none":
            h["penalty"] = "wgan"
        classic = h["architecture"] == "mlp-classic"
        if h["d_norm"] is None:
            h["d_norm"] = "batch" if classic else "none"
        if h["penalty"] != "none" and h["d_norm"] == "batch":
            # a gradient penalty needs per-sample gradients; BatchNorm mixes samples
            warnings.warn(
                "gradient penalty with BatchNorm in D: switching D to LayerNorm",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
            h["d_norm"] = "layer"
        if h["g_hidden"] is None:
            h["g_hidden"] = [128, 128, 1024] if classic else [128, 128]
        if h["d_hidden"] is None:
            h["d_hidden"] = [1024, 128] if classic else [128, 128]
        h["betas"] = list(h["betas"])
        h["g_hidden"], h["d_hidden"] = list(h["g_hidden"]), list(h["d_hidden"])
        h["encoder"] = bool(h["encoder"])
        h["e_hidden"] = [int(v) for v in h["e_hidden"]]
        for key in ("e_steps", "e_batch"):
            if int(h[key]) < 1:
                raise ValueError(f"{key} must be >= 1, got {h[key]}")
            h[key] = int(h[key])
        return h

    def build(self) -> None:
        h = self.hyper
        classic = h["architecture"] == "mlp-classic"
        self.G = Generator(
            h["z_dim"],
            self.n_classes,
            h["g_hidden"],
            SpanActivation(self.spans),
            residual=not classic,
            norm=h["g_norm"],
        )
        self.D = Discriminator(
            self.data_dim,
            self.n_classes,
            h["d_hidden"],
            h["d_norm"],
            h["dropout"] if not classic else 0.0,
            h["spectral_norm"],
            h["pac"],
            h["minibatch_std"],
        )
        betas = tuple(h["betas"])
        self.opt_g = Adam(
            self.G.parameters(), lr=h["lr_g"], betas=betas, weight_decay=h["weight_decay"]
        )
        self.opt_d = Adam(
            self.D.parameters(), lr=h["lr_d"], betas=betas, weight_decay=h["weight_decay"]
        )
        self.E: LatentEncoder | None = None
        if h["encoder"]:
            self.E = LatentEncoder(self.data_dim, self.n_classes, h["e_hidden"], h["z_dim"])
            self.opt_e = Adam(self.E.parameters(), lr=1e-3, fused=True)

    def parts(self) -> dict[str, nn.Module]:
        if self.E is None:
            return {"G": self.G, "D": self.D}
        return {"G": self.G, "D": self.D, "E": self.E}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Model files written before the GAN had a latent encoder load without one."""
        if self.E is not None and not any(k.startswith("E.") for k in tensors):
            self.E = None
            self.hyper["encoder"] = False
        super().load_state_tensors(tensors)

    def sampling_parts(self) -> dict[str, nn.Module]:
        return {"G": self.G}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        # E's optimiser is not here: E is fitted after training (after_training)
        return {"G": self.opt_g, "D": self.opt_d}

    def _noise(self, n: int, generator) -> torch.Tensor:
        return torch.randn(n, self.hyper["z_dim"], generator=generator).to(self.device)

    def _with_noise(self, x: torch.Tensor, std: float, generator) -> torch.Tensor:
        if std <= 0:
            return x
        return x + std * torch.randn(x.shape, generator=generator).to(x.device)

    def _penalty(self, kind: str, real, fake, y, gen) -> torch.Tensor:
        """Gradient penalty on D's actual input. Under PacGAN, D scores packs of ``pac`` rows,
        so the gradient norm is taken over each pack (and WGAN-GP interpolates pack-wise), as
        in the PacGAN/CTGAN critic; per-row norms would aim the pack's slope at sqrt(pac)."""
        pac, dim = self.hyper["pac"], self.data_dim

        def critic(packed: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            return self.D(packed.reshape(-1, dim), labels.reshape(-1))

        packed_y = y.reshape(-1, pac)
        if kind == "wgan":
            return gradient_penalty(
                critic,
                real.reshape(-1, pac * dim),
                fake.reshape(-1, pac * dim),
                packed_y,
                generator=gen,
            )
        return r1_penalty(critic, real.reshape(-1, pac * dim), packed_y)

    def _judge(self, real, fake, y, plain: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """D's scores of the real and the generated batch. One pass over both when no layer
        of D mixes rows (no BatchNorm, no minibatch-std) and no DP engine needs per-batch
        calls: the same scores, one graph instead of two (a cheaper step)."""
        h = self.hyper
        if plain and h["d_norm"] != "batch" and not h["minibatch_std"]:
            scores = self.D(torch.cat([real, fake]), torch.cat([y, y]))
            return scores[: scores.shape[0] // 2], scores[scores.shape[0] // 2 :]
        return self.D(real, y), self.D(fake, y)

    def _normalised_once(self, ctx) -> contextlib.AbstractContextManager:
        """With spectral norm, D's normalised weights computed once for a whole D update:
        torch's parametrization otherwise runs a power iteration (and its bookkeeping) on
        each of D's passes, three in a ``stable`` step (real, fake, R1): ~1.8 s of the
        README's GAN example went to them. One iteration per update is the SN-GAN paper's
        own schedule. Not under DP, whose per-sample hooks see every pass."""
        if self.hyper["spectral_norm"] and ctx.plain:
            return parametrize.cached()
        return contextlib.nullcontext()

    def train_step(self, x, y, ctx) -> dict[str, float]:
        h, gen = self.hyper, ctx.generator
        tau = h["gumbel_tau"]
        noise = instance_noise_std(h["instance_noise"], ctx.progress)
        pac = h["pac"]
        for i in range(h["n_critic"]):
            if i > 0:
                x, y = ctx.next_batch()
            n = (x.shape[0] // pac) * pac
            if n == 0:
                raise ValueError(f"batch of {x.shape[0]} rows is smaller than pac={pac}")
            x, y = x[:n], y[:n]
            weight = None if ctx.sample_weight is None else ctx.sample_weight[:n]
            if weight is not None and pac > 1:
                weight = weight.reshape(-1, pac).mean(1)
            # the last critic step's fake batch also serves G's update (one G pass, not two)
            # where G sees the same labels: not under DP (ctx.generator_labels)
            reuse = ctx.plain and i == h["n_critic"] - 1
            with torch.set_grad_enabled(reuse):
                fake_g = self.G(self._noise(n, gen), y, tau=tau, generator=gen)
            fake = fake_g.detach()
            real_in = self._with_noise(x, noise, gen)
            fake_in = self._with_noise(fake, noise, gen)
            with self._normalised_once(ctx):
                d_real, d_fake = self._judge(real_in, fake_in, y, ctx.plain)
                loss_d = discriminator_loss(h["loss"], d_real, d_fake, h["label_smoothing"], weight)
                if h["penalty"] == "wgan":
                    gp = self._penalty("wgan", real_in, fake_in, y, gen)
                    loss_d = loss_d + h["penalty_weight"] * gp
                elif h["penalty"] == "r1":
                    r1 = self._penalty("r1", real_in, None, y, gen)
                    loss_d = loss_d + 0.5 * h["penalty_weight"] * r1
                ctx.update("D", loss_d)
        # under privacy: uniform labels, never the real batch's (ctx.generator_labels)
        if not reuse:
            y, weight = ctx.generator_labels(y, weight)
            fake_g = self.G(self._noise(y.shape[0], gen), y, tau=tau, generator=gen)
        loss_g = generator_loss(h["loss"], self.D(self._with_noise(fake_g, noise, gen), y), weight)
        ctx.update("G", loss_g)
        return {
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "d_real": d_real.mean().item(),
            "d_fake": d_fake.mean().item(),
        }

    def after_training(self, generator: torch.Generator) -> None:
        """Fit the latent encoder to the final generator: ``E(G(z, y), y) ~ z`` on fresh
        generated batches, classes drawn uniformly. Generated rows only, so it is
        post-processing of a private model too."""
        if self.E is None:
            return
        h = self.hyper
        self.E.train()
        with evaluating(self.G):
            for _ in range(h["e_steps"]):
                y = torch.randint(self.n_classes, (h["e_batch"],), generator=generator)
                y = y.to(self.device)
                z = self._noise(h["e_batch"], generator)
                with torch.no_grad():
                    fake = self.G(z, y, tau=h["gumbel_tau"], generator=generator)
                loss = (self.E(fake, y) - z).square().mean()
                self.opt_e.zero_grad(set_to_none=True)
                loss.backward()
                self.opt_e.step()
        self.E.eval()

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The latent code whose generated row is closest to ``x`` (the encoder's estimate),
        and a zero log-variance (a point estimate, not a posterior)."""
        if self.E is None:
            raise TypeError("this GAN was trained with encoder=False: it has no encode()")
        z = self.E(x, y.long())
        return z, torch.zeros_like(z)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The generator's mean output (category probabilities, no Gumbel noise) for ``z``."""
        with evaluating(self.G):  # BatchNorm's running statistics, as in generate()
            return self.G(z, y.long())

    @torch.no_grad()
    def generate(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        y = y.to(self.device)
        # Gumbel noise at sampling time draws categories from the generator's softmax
        # instead of always taking its argmax, which would shrink category diversity
        noise = self._noise(y.shape[0], generator)
        with evaluating(self.G):
            return self.G.sample(noise, y, generator)
