"""Class-conditional tabular denoising diffusion (family ``"diffusion"``), as in TabDDPM.

TabDDPM (Kotelnikov et al., 2023) diffuses the two kinds of columns of a table differently:

- numeric columns (``tanh``, ``linear`` and ``sigmoid`` spans, one scalar per column) with
  Gaussian diffusion (Ho et al., 2020): ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``; the
  network predicts ``eps`` and is trained with the mean squared error;
- categorical columns (``softmax`` spans, one-hot groups) with multinomial diffusion (Hoogeboom
  et al., 2021): ``q(x_t | x_0) = Cat(abar_t x_0 + (1 - abar_t) / K)``; the network predicts
  ``x_0``'s probabilities and is trained with ``KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))``
  (at ``t = 0`` this is ``-log p(x_0 | x_1)``), averaged over the categorical groups.

One MLP denoises both: its input is the noisy numeric values and the noisy one-hot groups, plus
a sinusoidal timestep embedding and a learned class embedding (the model is ``p(x | y)``). All
groups are handled at once in a padded ``(batch, groups, width)`` tensor, never one by one.
Sampling runs the ``timesteps`` reverse steps (100 by default) vectorised over rows; predicted
``x_0`` of bounded spans is clipped to their range, and samples are clipped at the end.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genbalance.models.base import GenerativeModel
from genbalance.models.nets import SpanActivation
from genbalance.models.optimizers import AdamW

SCHEDULES = ("cosine", "linear")

DEFAULTS: dict[str, Any] = {
    "timesteps": 100,
    "schedule": "cosine",
    "hidden": [256, 256],
    "embed_dim": 128,  # width of the input projection and of the time / class embeddings
    "dropout": 0.0,
    "lr": 1e-3,
    "weight_decay": 1e-5,
    "cat_weight": 1.0,  # weight of the multinomial loss against the Gaussian one
}

#: Recommended settings for tables of 100-5000 rows (``hyper`` for the model, ``trainer`` for
#: :class:`~genbalance.training.trainer.TrainerConfig`). The defaults are the "tabular" preset,
#: so ``GenerativeOverSampler(model="diffusion")`` uses it with the synthesizer's step budget.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "tabular": {
        "hyper": {"timesteps": 100, "hidden": [256, 256], "lr": 1e-3},
        "trainer": {"epochs": None, "max_steps": 4000, "batch_size": 256},
    },
    "fast": {
        "hyper": {"timesteps": 50, "hidden": [128, 128], "embed_dim": 64, "lr": 2e-3},
        "trainer": {"epochs": None, "max_steps": 1000, "batch_size": 256},
    },
}

_EPS = 1e-30


def _alphas_cumprod(schedule: str, timesteps: int) -> torch.Tensor:
    """``abar_t`` for t = 0..T-1, in float64 (cosine: Nichol & Dhariwal, 2021)."""
    if schedule == "cosine":
        s = 0.008
        steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    else:
        scale = 1000 / timesteps
        betas = torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)
    return torch.cumprod(1 - betas, 0)


class _Schedule(nn.Module):
    """Schedule constants as buffers (not saved: rebuilt from the hyper-parameters)."""

    def __init__(self, schedule: str, timesteps: int) -> None:
        super().__init__()
        abar = _alphas_cumprod(schedule, timesteps)
        abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
        alpha = abar / abar_prev
        post_var = (1 - alpha) * (1 - abar_prev) / (1 - abar)
        post_var[0] = post_var[1] if timesteps > 1 else 0.0  # log of 0 avoided; unused at t=0
        values = {
            "abar": abar,
            "abar_prev": abar_prev,
            "alpha": alpha,
            "sqrt_abar": abar.sqrt(),
            "sqrt_1m_abar": (1 - abar).sqrt(),
            "post_c0": abar_prev.sqrt() * (1 - alpha) / (1 - abar),  # weight of x_0
            "post_ct": alpha.sqrt() * (1 - abar_prev) / (1 - abar),  # weight of x_t
            "post_std": post_var.sqrt(),
        }
        for name, value in values.items():
            self.register_buffer(name, value.float(), persistent=False)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (Vaswani et al., 2017), shape (n, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device) / max(half, 1))
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, dim - emb.shape[1]))


class _Denoiser(nn.Module):
    """MLP on (noisy row projected + time embedding + class embedding), as in TabDDPM."""

    def __init__(
        self, dim: int, n_classes: int, hidden: list[int], embed: int, dropout: float
    ) -> None:
        super().__init__()
        self.embed = embed
        self.proj = nn.Linear(dim, embed)
        self.time = nn.Sequential(nn.Linear(embed, embed), nn.SiLU(), nn.Linear(embed, embed))
        self.label = nn.Embedding(n_classes, embed)
        layers: list[nn.Module] = []
        prev = embed
        for width in hidden:
            layers += [nn.Linear(prev, width), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            prev = width
        layers.append(nn.Linear(prev, dim))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``t`` has one timestep per row, or a single one shared by all rows."""
        cond = self.time(timestep_embedding(t, self.embed)) + self.label(y)
        return self.mlp(self.proj(x) + cond)


class TabDDPM(GenerativeModel):
    """Gaussian + multinomial diffusion conditioned on the class (family ``"diffusion"``)."""

    family = "diffusion"
    defaults = DEFAULTS
    display_name = "diffusion"

    @classmethod
    def validate_hyper(cls, hyper: dict[str, Any]) -> dict[str, Any]:
        h = cls.with_defaults(hyper)
        if int(h["timesteps"]) != h["timesteps"] or int(h["timesteps"]) < 2:
            raise ValueError(f"timesteps must be an integer >= 2, got {h['timesteps']!r}")
        h["timesteps"] = int(h["timesteps"])
        if h["schedule"] not in SCHEDULES:
            raise ValueError(f"schedule={h['schedule']!r} is not one of {', '.join(SCHEDULES)}")
        h["hidden"] = [int(w) for w in h["hidden"]]
        if not h["hidden"] or min(h["hidden"]) < 1:
            raise ValueError(f"hidden must be a non-empty list of widths >= 1, got {h['hidden']}")
        if int(h["embed_dim"]) < 2:
            raise ValueError(f"embed_dim must be >= 2, got {h['embed_dim']}")
        h["embed_dim"] = int(h["embed_dim"])
        if not 0.0 <= float(h["dropout"]) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {h['dropout']}")
        for key in ("lr",):
            if float(h[key]) <= 0:
                raise ValueError(f"{key} must be > 0, got {h[key]}")
        for key in ("weight_decay", "cat_weight"):
            if float(h[key]) < 0:
                raise ValueError(f"{key} must be >= 0, got {h[key]}")
        for key in ("dropout", "lr", "weight_decay", "cat_weight"):
            h[key] = float(h[key])
        return h

    # ------------------------------------------------------------------ structure
    def build(self) -> None:
        h = self.hyper
        self.activation = SpanActivation(self.spans)
        kinds = self.activation.kinds
        self.num_idx = torch.nonzero(kinds != 3).flatten()
        # bounds of numeric columns: tanh [-1, 1], sigmoid [0, 1], linear unbounded
        nk = kinds[self.num_idx]
        self.num_low = torch.where(nk == 1, -1.0, torch.where(nk == 2, 0.0, -math.inf))
        self.num_high = torch.where(nk == 0, math.inf, 1.0)
        valid = self.activation.index < self.data_dim  # (groups, width) real categories
        self.cat_valid = valid
        self.cat_k = valid.sum(1).clamp(min=1).float()  # categories per group
        self.schedule = _Schedule(h["schedule"], h["timesteps"])
        self.net = _Denoiser(
            self.data_dim, self.n_classes, h["hidden"], h["embed_dim"], h["dropout"]
        )
        self.opt = AdamW(self.net.parameters(), lr=h["lr"], weight_decay=h["weight_decay"])

    def parts(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"diffusion": self.opt}

    def to(self, device):
        super().to(device)
        self.activation.to(self.device)
        self.schedule.to(self.device)
        for name in ("num_idx", "num_low", "num_high", "cat_valid", "cat_k"):
            setattr(self, name, getattr(self, name).to(self.device))
        return self

    @property
    def n_groups(self) -> int:
        return int(self.activation.index.shape[0])

    # ------------------------------------------------------------------ categorical helpers
    def _groups(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot groups of ``x`` as (batch, groups, width), padding 0."""
        return self.activation.segment_logits(x).nan_to_num(0.0, neginf=0.0) * self.cat_valid

    def _mix(self, probs: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """``keep * probs + (1 - keep) / K`` per group (``keep`` of shape (batch,))."""
        keep = keep[:, None, None]
        return (keep * probs + (1 - keep) / self.cat_k[None, :, None]) * self.cat_valid

    def _posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``q(x_{t-1} | x_t, x_0)`` for multinomial diffusion; ``x0`` may be probabilities.

        At ``t = 0`` (abar_prev = 1) it is ``x0`` itself: the last step decodes the data.
        """
        s = self.schedule
        fact_t = self._mix(xt, s.alpha[t])  # q(x_t | x_{t-1} = k) as a function of k
        fact_0 = self._mix(x0, s.abar_prev[t])  # q(x_{t-1} | x_0)
        unnorm = fact_t * fact_0
        return unnorm / unnorm.sum(-1, keepdim=True).clamp_min(_EPS)

    def _predict_x0(self, raw: torch.Tensor) -> torch.Tensor:
        """Predicted category probabilities of ``x_0`` from the network output."""
        return torch.softmax(self.activation.segment_logits(raw), dim=-1).nan_to_num(0.0)

    def _sample_groups(self, probs: torch.Tensor, generator) -> torch.Tensor:
        g = torch.rand(probs.shape, generator=generator).to(probs.device)
        gumbel = -torch.log(-torch.log(g.clamp(1e-10, 1.0 - 1e-7)))
        logits = torch.log(probs.clamp_min(_EPS)).masked_fill(~self.cat_valid, -math.inf)
        return F.one_hot((logits + gumbel).argmax(-1), probs.shape[-1]).float()

    def _assemble(self, num: torch.Tensor, groups: torch.Tensor | None) -> torch.Tensor:
        """Numeric values and one-hot groups back into the encoded layout."""
        out = torch.zeros(num.shape[0], self.data_dim, device=num.device)
        out = out.index_copy(1, self.num_idx, num)
        if groups is not None:
            out = self.activation.scatter_back(out, groups)
        return out

    # ------------------------------------------------------------------ training
    def _losses(self, x: torch.Tensor, y: torch.Tensor, generator) -> torch.Tensor:
        """Per-row loss: Gaussian MSE on eps + mean multinomial KL over groups."""
        n = x.shape[0]
        s = self.schedule
        t = torch.randint(0, self.hyper["timesteps"], (n,), generator=generator).to(x.device)
        num0 = x[:, self.num_idx]
        eps = torch.randn(num0.shape, generator=generator).to(x.device)
        num_t = s.sqrt_abar[t, None] * num0 + s.sqrt_1m_abar[t, None] * eps
        groups_t = None
        if self.n_groups:
            groups0 = self._groups(x)
            groups_t = self._sample_groups(self._mix(groups0, s.abar[t]), generator)
        raw = self.net(self._assemble(num_t, groups_t), t, y)
        loss = x.new_zeros(n)
        if self.num_idx.numel():
            loss = loss + ((raw[:, self.num_idx] - eps) ** 2).mean(1)
        if self.n_groups:
            q = self._posterior(groups0, groups_t, t)
            p = self._posterior(self._predict_x0(raw), groups_t, t)
            kl = (q * (torch.log(q.clamp_min(_EPS)) - torch.log(p.clamp_min(_EPS)))).sum(-1)
            loss = loss + self.hyper["cat_weight"] * kl.mean(1)
        return loss

    def train_step(self, x, y, ctx) -> dict[str, float]:
        per_row = self._losses(x, y, ctx.generator)
        w = ctx.sample_weight
        loss = per_row.mean() if w is None else (per_row * w).sum() / w.sum()
        ctx.update("diffusion", loss)
        return {"loss": float(loss.detach())}

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def generate(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        was = self.net.training
        self.net.eval()
        s = self.schedule
        y = y.to(self.device).long()
        n = y.shape[0]
        num = torch.randn(n, self.num_idx.numel(), generator=generator).to(self.device)
        groups = None
        if self.n_groups:
            uniform = self._mix(
                torch.zeros(n, *self.cat_valid.shape, device=self.device),
                torch.zeros(n, device=self.device),
            )
            groups = self._sample_groups(uniform, generator)
        for step in reversed(range(self.hyper["timesteps"])):
            t = torch.full((n,), step, dtype=torch.long, device=self.device)
            raw = self.net(self._assemble(num, groups), t[:1], y)  # one time embedding, broadcast
            if self.num_idx.numel():
                eps = raw[:, self.num_idx]
                x0 = (num - s.sqrt_1m_abar[step] * eps) / s.sqrt_abar[step]
                x0 = torch.maximum(torch.minimum(x0, self.num_high), self.num_low)
                mean = s.post_c0[step] * x0 + s.post_ct[step] * num
                if step > 0:
                    noise = torch.randn(num.shape, generator=generator).to(self.device)
                    num = mean + s.post_std[step] * noise
                else:
                    num = x0
            if self.n_groups:
                probs = self._posterior(self._predict_x0(raw), groups, t)
                groups = self._sample_groups(probs, generator)
        self.net.train(was)
        return self._assemble(num, groups)
