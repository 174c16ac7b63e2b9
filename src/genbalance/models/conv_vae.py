"""Convolutional conditional VAE for small images (family ``"conv-vae"``).

The encoder sees the image with its class one-hot broadcast as extra channels and returns a
Gaussian posterior; the decoder maps (latent, class) through the same DCGAN-style up-sampling
stack as the ``dcgan`` generator to pixel logits. Loss per image: binary cross-entropy of the
pixels (summed) + ``beta`` * KL(q(z|x,y) || N(0, I)). Samples are the decoder's mean pixels for
``z ~ N(0, I)``, so the latent carries the style (thickness, slant, position) and the label
the class: rare classes borrow the style variation learnt from frequent ones.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from genbalance.models.base import GenerativeModel
from genbalance.models.conv_gan import (
    ConvEncoder,
    UpsamplingDecoder,
    check_image_shape,
    check_shape_fits,
    conditional_vae_pass,
    weighted_mean,
)
from genbalance.models.nets import one_hot
from genbalance.models.optimizers import Adam

DEFAULTS: dict[str, Any] = {
    "image_shape": None,  # [C, H, W], required
    "latent_dim": 16,
    "channels": 32,
    "hidden": 256,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "beta": 1.0,
}


class _ConvDecoder(nn.Module):
    def __init__(self, n_classes: int, image_shape: list[int], channels: int, latent: int) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.net = UpsamplingDecoder(latent + n_classes, image_shape, channels)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, one_hot(y, self.n_classes)], dim=1))  # logits (n, C, H, W)


class ConvVAE(GenerativeModel):
    family = "conv-vae"
    defaults = DEFAULTS
    display_name = "conv-vae"

    @classmethod
    def validate_hyper(cls, hyper: dict[str, Any]) -> dict[str, Any]:
        h = cls.with_defaults(hyper)
        h["image_shape"] = check_image_shape(h["image_shape"])
        for key in ("latent_dim", "channels", "hidden"):
            if int(h[key]) < 1:
                raise ValueError(f"{key} must be >= 1, got {h[key]}")
            h[key] = int(h[key])
        if float(h["beta"]) < 0:
            raise ValueError(f"beta must be >= 0, got {h['beta']}")
        return h

    def build(self) -> None:
        h = self.hyper
        check_shape_fits(self.data_dim, h["image_shape"])
        self.encoder = ConvEncoder(
            self.n_classes, h["image_shape"], h["channels"], h["hidden"], h["latent_dim"]
        )
        self.decoder = _ConvDecoder(
            self.n_classes, h["image_shape"], h["channels"], h["latent_dim"]
        )
        params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        self.opt = Adam(params, lr=h["lr"], weight_decay=h["weight_decay"])

    def parts(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder}

    def sampling_parts(self) -> dict[str, nn.Module]:
        return {"decoder": self.decoder}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"vae": self.opt}

    def _images(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.hyper["image_shape"])

    def train_step(self, x, y, ctx) -> dict[str, float]:
        per_image, rec, kl = conditional_vae_pass(
            self.encoder, self.decoder, self._images(x), y, ctx.generator, self.hyper["beta"]
        )
        loss = weighted_mean(per_image, ctx.sample_weight)
        ctx.update("vae", loss)
        return {
            "loss": float(loss.detach()),
            "loss_rec": float(rec.detach().mean()),
            "loss_kl": float(kl.detach().mean()),
        }

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Pixels decoded from the posterior mean (flat, in [0, 1])."""
        was = self.decoder.training
        self.encoder.eval()
        self.decoder.eval()
        x, y = x.to(self.device), y.to(self.device)
        mu, _ = self.encoder(self._images(x), y)
        out = torch.sigmoid(self.decoder(mu, y)).reshape(x.shape[0], -1)
        self.encoder.train(was)
        self.decoder.train(was)
        return out

    @torch.no_grad()
    def transfer(
        self,
        x: torch.Tensor,
        y_source: torch.Tensor,
        y: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Decode the style of images ``x`` (of classes ``y_source``) as classes ``y``.

        ``z`` is drawn from the posterior q(z | x, y_source) instead of the prior: the decoder
        then renders class ``y`` with that image's stroke, slant and position. Sampling from
        this aggregate posterior gives sharper, more varied images than N(0, I).
        """
        enc_was, dec_was = self.encoder.training, self.decoder.training
        self.encoder.eval()
        self.decoder.eval()
        x, y_source, y = x.to(self.device), y_source.to(self.device), y.to(self.device)
        mu, logvar = self.encoder(self._images(x), y_source)
        eps = torch.randn(mu.shape, generator=generator).to(self.device)
        z = mu + eps * torch.exp(0.5 * logvar)
        out = torch.sigmoid(self.decoder(z, y)).reshape(y.shape[0], -1)
        self.encoder.train(enc_was)
        self.decoder.train(dec_was)
        return out

    @torch.no_grad()
    def generate(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        was = self.decoder.training
        self.decoder.eval()
        y = y.to(self.device)
        z = torch.randn(y.shape[0], self.hyper["latent_dim"], generator=generator).to(self.device)
        out = torch.sigmoid(self.decoder(z, y)).reshape(y.shape[0], -1)
        self.decoder.train(was)
        return out
