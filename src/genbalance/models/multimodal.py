"""Class-conditional VAE over whole records: table columns and image(s) share one latent code.

An encoded record is ``[table part | image 1 | image 2 ...]``: the table part is what
:class:`~genbalance.encoders.tabular.TabularEncoder` gives (its ``OutputSpan``s come first in
``spans``), each image is its pixels in [0, 1], flattened in ``(C, H, W)`` order (one sigmoid
span per image). A tabular MLP and one convolutional encoder per image read the record with
its class; their features are fused into one Gaussian posterior. From one latent code the
tabular decoder gives the table part (likelihood per span, as in the VAE: squared error for
scalars, cross-entropy for categories, binary cross-entropy for indicators) and the conv
decoders the pixels (binary cross-entropy). Because both parts are decoded from the same
code, a generated record's table and image agree with each other the way real ones do.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genbalance.models.base import GenerativeModel
from genbalance.models.conv_gan import UpsamplingDecoder, check_image_shape, downsampling_body
from genbalance.models.nets import SpanActivation, one_hot
from genbalance.models.optimizers import Adam
from genbalance.spans import OutputSpan

DEFAULTS: dict[str, Any] = {
    "image_shapes": None,  # [[C, H, W], ...], one per image column, required
    "latent_dim": 16,
    "hidden": 128,
    "channels": 16,
    "lr": 2e-3,
    "weight_decay": 0.0,
    "beta": 1.0,
    "scalar_sigma": 0.1,  # fixed std of the Gaussian likelihood on scalar table outputs
    "image_weight": 1.0,  # weight of the pixels' log-likelihood against the table's
}


def table_spans(spans: list[OutputSpan], table_dim: int) -> list[OutputSpan]:
    """The spans of the table part: the leading spans that cover ``table_dim`` values."""
    out, total = [], 0
    for span in spans:
        if total == table_dim:
            break
        out.append(span)
        total += span.size
    if total != table_dim:
        raise ValueError(f"the spans do not split at the table part's {table_dim} values")
    return out


class _FusedEncoder(nn.Module):
    """(table, images, class) -> features of each part, fused -> (mu, logvar)."""

    def __init__(self, table_dim: int, shapes: list[list[int]], n_classes: int, h: dict) -> None:
        super().__init__()
        hidden, channels = h["hidden"], h["channels"]
        self.table = (
            nn.Sequential(nn.Linear(table_dim + n_classes, hidden), nn.ReLU())
            if table_dim
            else None
        )
        bodies = [downsampling_body(s[0], s, channels, spectral=False) for s in shapes]
        self.convs = nn.ModuleList(body for body, _ in bodies)
        fused = (hidden if table_dim else 0) + sum(width for _, width in bodies) + n_classes
        self.fuse = nn.Sequential(nn.Linear(fused, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, h["latent_dim"])
        self.logvar = nn.Linear(hidden, h["latent_dim"])

    def forward(self, table: torch.Tensor, images: list[torch.Tensor], oh: torch.Tensor):
        feats = [] if self.table is None else [self.table(torch.cat([table, oh], dim=1))]
        feats += [conv(img).mean(dim=(2, 3)) for conv, img in zip(self.convs, images, strict=True)]
        h = self.fuse(torch.cat([*feats, oh], dim=1))
        return self.mu(h), self.logvar(h).clamp(-12.0, 8.0)


class _FusedDecoder(nn.Module):
    """(latent, class) -> raw table outputs and pixel logits, flat in the record's layout."""

    def __init__(self, table_dim: int, shapes: list[list[int]], n_classes: int, h: dict) -> None:
        super().__init__()
        n_in = h["latent_dim"] + n_classes
        hidden = h["hidden"]
        self.table = (
            nn.Sequential(
                nn.Linear(n_in, hidden),
                nn.ReLU(),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Linear(hidden, table_dim),
            )
            if table_dim
            else None
        )
        self.images = nn.ModuleList(UpsamplingDecoder(n_in, s, h["channels"]) for s in shapes)

    def forward(self, z: torch.Tensor, oh: torch.Tensor) -> torch.Tensor:
        zc = torch.cat([z, oh], dim=1)
        parts = [] if self.table is None else [self.table(zc)]
        parts += [dec(zc).flatten(1) for dec in self.images]
        return torch.cat(parts, dim=1)


class MultimodalVAE(GenerativeModel):
    """Conditional VAE of records with table and image parts (see the module docstring)."""

    family = "multimodal-vae"
    defaults = DEFAULTS
    display_name = "multimodal VAE"
    has_encoder = True

    @classmethod
    def validate_hyper(cls, hyper: dict[str, Any]) -> dict[str, Any]:
        h = cls.with_defaults(hyper)
        shapes = h["image_shapes"]
        if not isinstance(shapes, (list, tuple)) or not shapes:
            raise ValueError("image_shapes=[[C, H, W], ...] (one per image column) is required")
        h["image_shapes"] = [check_image_shape(s) for s in shapes]
        for key in ("latent_dim", "hidden", "channels"):
            if int(h[key]) < 1:
                raise ValueError(f"{key} must be >= 1, got {h[key]}")
            h[key] = int(h[key])
        for key in ("beta", "image_weight", "scalar_sigma"):
            if not float(h[key]) >= 0:
                raise ValueError(f"{key} must be >= 0, got {h[key]}")
        return h

    def build(self) -> None:
        h = self.hyper
        self.image_sizes = [math.prod(s) for s in h["image_shapes"]]
        self.table_dim = self.data_dim - sum(self.image_sizes)
        if self.table_dim < 0:
            raise ValueError(
                f"image_shapes hold {sum(self.image_sizes)} pixels, more than data_dim="
                f"{self.data_dim}"
            )
        spans = table_spans(self.spans, self.table_dim) if self.table_dim else []
        self.table_activation = SpanActivation(spans or [OutputSpan(1, "linear")])
        shapes = h["image_shapes"]
        self.encoder = _FusedEncoder(self.table_dim, shapes, self.n_classes, h)
        self.decoder = _FusedDecoder(self.table_dim, shapes, self.n_classes, h)
        params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        self.opt = Adam(params, lr=h["lr"], weight_decay=h["weight_decay"])

    def parts(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder}

    def sampling_parts(self) -> dict[str, nn.Module]:
        return {"decoder": self.decoder}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"vae": self.opt}

    # ----------------------------------------------------------------- layout
    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """A flat record batch as its table part and its images ``(n, C, H, W)``."""
        pieces = torch.split(x, [self.table_dim, *self.image_sizes], dim=1)
        images = [
            p.reshape(x.shape[0], *s)
            for p, s in zip(pieces[1:], self.hyper["image_shapes"], strict=True)
        ]
        return pieces[0], images

    def table_loss(self, raw: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood per row of the table part, summed over its spans."""
        if not self.table_dim:
            return raw.new_zeros(raw.shape[0])
        act = self.table_activation
        k = act.kinds
        sigma = self.hyper["scalar_sigma"]
        pred = torch.where(k == 1, torch.tanh(raw), raw)
        loss = (((pred - x) ** 2) / (2 * sigma**2) * ((k == 0) | (k == 1))).sum(1)
        if act.sigmoid_pos.numel():
            bce = F.binary_cross_entropy_with_logits(raw, x.clamp(0, 1), reduction="none")
            loss = loss + (bce * (k == 2)).sum(1)
        return loss + act.categorical_nll(raw, x)

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        table, images = self.split(x)
        return self.encoder(table, images, one_hot(y, self.n_classes))

    # ----------------------------------------------------------------- training
    def train_step(self, x, y, ctx) -> dict[str, float]:
        oh = one_hot(y, self.n_classes)
        table, images = self.split(x)
        mu, logvar = self.encoder(table, images, oh)
        eps = torch.randn(mu.shape, generator=ctx.generator).to(mu.device)
        raw = self.decoder(mu + eps * torch.exp(0.5 * logvar), oh)
        raw_table, raw_images = self.split(raw)
        rec_table = self.table_loss(raw_table, table)
        rec_image = sum(
            F.binary_cross_entropy_with_logits(r, t.clamp(0, 1), reduction="none").flatten(1).sum(1)
            for r, t in zip(raw_images, images, strict=True)
        )
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
        per_row = rec_table + self.hyper["image_weight"] * rec_image + self.hyper["beta"] * kl
        w = ctx.sample_weight
        loss = per_row.mean() if w is None else (per_row * w).sum() / w.sum()
        ctx.update("vae", loss)
        return {
            "loss": float(loss.detach()),
            "loss_table": float(rec_table.detach().mean()),
            "loss_image": float(rec_image.detach().mean()),
            "loss_kl": float(kl.detach().mean()),
        }

    # ----------------------------------------------------------------- generation
    @contextmanager
    def evaluating(self) -> Iterator[None]:
        """Eval mode (batch norms on running statistics) for a block, then as it was."""
        was = self.decoder.training
        self.train(False)
        try:
            yield
        finally:
            self.train(was)

    def _outputs(
        self, raw: torch.Tensor, draw: bool, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Activated outputs: the table part drawn (``draw``) or as means, then the pixels."""
        raw_table, raw_images = self.split(raw)
        parts = []
        if self.table_dim:
            act = self.table_activation
            parts.append(act.sample(raw_table, generator) if draw else act(raw_table))
        parts += [torch.sigmoid(r).flatten(1) for r in raw_images]
        return torch.cat(parts, dim=1)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean record (activations applied) for latent codes ``z``."""
        with self.evaluating():
            return self._outputs(self.decoder(z, one_hot(y, self.n_classes)), draw=False)

    @torch.no_grad()
    def generate(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        y = y.to(self.device)
        z = torch.randn(y.shape[0], self.hyper["latent_dim"], generator=generator).to(self.device)
        with self.evaluating():
            raw = self.decoder(z, one_hot(y, self.n_classes))
            return self._outputs(raw, draw=True, generator=generator)
