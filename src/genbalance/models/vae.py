"""(Conditional) variational autoencoder behind the same interface as the GAN.

The encoder maps (row, class) to a Gaussian posterior, the decoder maps (latent, class) back
to raw outputs. Reconstruction uses the right likelihood per span, vectorised: squared error
for tanh/linear scalars, cross-entropy for one-hot groups, binary cross-entropy for sigmoid
indicators. ``conditional=False`` gives a plain VAE that ignores labels.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from genbalance.models.base import GenerativeModel
from genbalance.models.nets import SpanActivation, norm_layer
from genbalance.models.optimizers import Adam
from genbalance.models.vae_grad import closed_form_step, runs_here, supported

DEFAULTS: dict[str, Any] = {
    "latent_dim": 32,
    # half the time per step of 256 on small tables (docs/benchmark.md); the decoder runs them
    # in reverse, the encoder in order where ``encoder_hidden`` is None
    "hidden": [128, 128],
    # the encoder's own widths. One layer: ~12 % less time per fit and level on every keel100
    # metric; a one-layer decoder lost minority F1 (docs/scale.md)
    "encoder_hidden": [128],
    "norm": "none",
    "lr": 1e-3,
    "weight_decay": 1e-5,
    "beta": 1.0,  # weight of the KL term (beta-VAE)
    "conditional": True,
    "scalar_sigma": 0.1,  # fixed std of the Gaussian likelihood on scalar outputs
}


def _mlp(n_in: int, hidden: list[int], norm: str) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(n_in, h), norm_layer(norm, h), nn.ReLU()]
        n_in = h
    return nn.Sequential(*layers), n_in


def _joined(t: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
    """``t`` with the one-hot class rows ``cond`` appended (unchanged without them)."""
    return t if cond is None else torch.cat([t, cond], dim=1)


class _Encoder(nn.Module):
    def __init__(self, n_in: int, hidden: list[int], latent: int, norm: str) -> None:
        super().__init__()
        self.body, width = _mlp(n_in, hidden, norm)
        self.mu = nn.Linear(width, latent)
        self.logvar = nn.Linear(width, latent)

    def forward(self, x):
        h = self.body(x)
        return self.mu(h), self.logvar(h).clamp(-12.0, 8.0)


class _Decoder(nn.Module):
    def __init__(self, n_in: int, hidden: list[int], n_out: int, norm: str) -> None:
        super().__init__()
        self.body, width = _mlp(n_in, list(reversed(hidden)), norm)
        self.head = nn.Linear(width, n_out)

    def forward(self, z):
        return self.head(self.body(z))


class VAE(GenerativeModel):
    family = "vae"
    defaults = DEFAULTS
    display_name = "VAE"
    auto_batch_max = 128  # as good on the dev subset as 512, and 2-4x cheaper on big tables
    has_encoder = True
    # DP-SGD (training/privacy.py): both networks read real rows, so both are private
    dp_parts: ClassVar[dict[str, tuple[str, ...]]] = {"vae": ("encoder", "decoder")}
    dp_norm_setting: ClassVar[str] = "norm"

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GenerativeModel:
        """Model files written before ``encoder_hidden`` existed have an encoder as deep as
        the decoder: they load as they were saved."""
        hyper = config.get("hyper", {})
        if "encoder_hidden" not in hyper:
            config = {**config, "hyper": {**hyper, "encoder_hidden": None}}
        return super().from_config(config)

    @classmethod
    def validate_hyper(cls, hyper: dict[str, Any]) -> dict[str, Any]:
        h = cls.with_defaults(hyper)
        if int(h["latent_dim"]) < 1:
            raise ValueError(f"latent_dim must be >= 1, got {h['latent_dim']}")
        if float(h["beta"]) < 0:
            raise ValueError(f"beta must be >= 0, got {h['beta']}")
        h["hidden"] = list(h["hidden"])
        if h["encoder_hidden"] is not None:
            h["encoder_hidden"] = list(h["encoder_hidden"])
        return h

    def build(self) -> None:
        h = self.hyper
        c = self.n_classes if h["conditional"] else 0
        enc_hidden = h["hidden"] if h["encoder_hidden"] is None else h["encoder_hidden"]
        self.encoder = _Encoder(self.data_dim + c, enc_hidden, h["latent_dim"], h["norm"])
        self.decoder = _Decoder(h["latent_dim"] + c, h["hidden"], self.data_dim, h["norm"])
        self.activation = SpanActivation(self.spans)
        params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        self.opt = Adam(params, lr=h["lr"], weight_decay=h["weight_decay"])
        # Linear + ReLU stacks (norm="none", the default) train without autograd's graph
        self._closed_form = supported(self.encoder, self.decoder)

    def parts(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder, "activation": self.activation}

    def sampling_parts(self) -> dict[str, nn.Module]:
        return {"decoder": self.decoder}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"vae": self.opt}

    def _cond(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if not self.hyper["conditional"]:
            return t
        return _joined(t, self._class_rows(y))

    def _class_rows(self, y: torch.Tensor) -> torch.Tensor:
        """One-hot class rows by indexing an identity matrix: ``F.one_hot`` checks its range
        with two reductions and a sync on every call, a noticeable share of a small step."""
        eye = getattr(self, "_eye", None)
        if eye is None or eye.device != y.device or eye.shape[0] != self.n_classes:
            eye = self._eye = torch.eye(self.n_classes, device=y.device)
        return eye[y.long()]

    def reconstruction_loss(self, raw: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood per row (up to constants), summed over spans."""
        act = self.activation
        sigma = self.hyper["scalar_sigma"]
        pred = torch.where(act.tanh_mask, torch.tanh(raw), raw)
        loss = ((pred - x).square() @ act.scalar_mask) * (0.5 / sigma**2)
        if act.sigmoid_pos.numel():  # Bernoulli columns; without any the term is exactly 0
            bce = F.binary_cross_entropy_with_logits(raw, x.clamp(0, 1), reduction="none")
            loss = loss + bce @ act.sigmoid_mask
        return loss + act.categorical_nll(raw, x)

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(self._cond(x, y))

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean output (activations applied) for latent codes ``z``."""
        return self.activation(self.decoder(self._cond(z, y)))

    def train_step(self, x, y, ctx) -> dict[str, float]:
        cond = self._class_rows(y) if self.hyper["conditional"] else None
        w = ctx.sample_weight
        if ctx.plain and self._closed_form and runs_here(x):  # gradients written out
            eps = torch.randn((x.shape[0], self.hyper["latent_dim"]), generator=ctx.generator)
            parts = closed_form_step(self, x, cond, eps, w)  # NumPy, see vae_grad.py
            ctx.apply_gradients("vae", parts.loss, norm=parts.grad_norm)
            return {"loss": parts.loss, "loss_rec": parts.rec, "loss_kl": parts.kl}
        mu, logvar = self.encoder(_joined(x, cond))
        eps = torch.randn(mu.shape, generator=ctx.generator).to(mu.device)
        z = torch.addcmul(mu, eps, torch.exp(0.5 * logvar))
        raw = self.decoder(_joined(z, cond))
        rec = self.reconstruction_loss(raw, x)
        kl = -0.5 * (1 + logvar - mu.square() - logvar.exp()).sum(1)
        per_row = rec + self.hyper["beta"] * kl
        loss = per_row.mean() if w is None else (per_row * w).sum() / w.sum()
        ctx.update("vae", loss)
        rec_mean, kl_mean = rec.detach().mean(), kl.detach().mean()
        # one conversion for the three metrics: each .item() is a kernel and a sync
        values = torch.stack([loss.detach(), rec_mean, kl_mean]).tolist()
        return dict(zip(("loss", "loss_rec", "loss_kl"), values, strict=True))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Deterministic reconstruction through the posterior mean (for evaluation)."""
        mu, _ = self.encode(x.to(self.device), y.to(self.device))
        return self.decode(mu, y.to(self.device))

    @torch.no_grad()
    def generate(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        y = y.to(self.device)
        z = torch.randn(y.shape[0], self.hyper["latent_dim"], generator=generator).to(self.device)
        hidden = self.decoder.body(self._cond(z, y))
        return self.activation.sample_head(self.decoder.head, hidden, generator)
