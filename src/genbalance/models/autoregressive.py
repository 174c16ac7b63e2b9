"""Class-conditional MADE: a masked autoregressive network over the encoded columns.

MADE (Germain et al., 2015) turns one feed-forward network into an autoregressive model by
masking its weights, so that the output for variable ``v`` only sees the inputs of variables
``< v``. Here the class label is variable 0 (always visible: the model is ``p(x | y)``) and every
*variable* of the encoded row is one autoregressive step:

- a ``softmax`` span (one-hot group) is one categorical variable (exact discrete likelihood);
- every column of a ``sigmoid`` span is one Bernoulli variable (exact for 0/1 indicators; for
  fractional values in [0, 1] the loss is the usual binary cross-entropy);
- every column of a ``tanh`` / ``linear`` span is one continuous variable with a mixture of
  ``n_mixtures`` Gaussians (a density; samples of ``tanh`` columns are clipped to [-1, 1]).

The masks are built once (buffers), the negative log-likelihood of a batch is a handful of
vectorised tensor ops and :meth:`MADE.log_likelihood` gives the exact ``log p(x | y)`` per row
(nats; categorical terms are probabilities, Gaussian-mixture terms densities). Sampling runs one
network pass per variable, vectorised over rows.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genbalance.models.base import GenerativeModel
from genbalance.models.nets import SpanActivation, one_hot
from genbalance.models.optimizers import Adam

DEFAULTS: dict[str, Any] = {
    "hidden": [256, 256],
    "n_mixtures": 5,  # Gaussian components per continuous column
    "direct": True,  # masked direct input -> output connection (MADE paper, sec. 4)
    "dropout": 0.0,
    "lr": 1e-3,
    "weight_decay": 1e-6,
    "min_log_scale": -6.0,  # floor of each mixture component's log standard deviation
}

#: Recommended settings for tables of 100-5000 rows: ``hyper`` for the model, ``trainer`` for
#: :class:`~genbalance.training.trainer.TrainerConfig`.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "tabular": {
        "hyper": {"hidden": [256, 256], "n_mixtures": 5, "dropout": 0.1, "lr": 1e-3},
        "trainer": {"epochs": 300, "batch_size": 256, "grad_clip": 10.0},
    },
    "fast": {
        "hyper": {"hidden": [128, 128], "n_mixtures": 3, "lr": 2e-3},
        "trainer": {"epochs": 100, "batch_size": 256, "grad_clip": 10.0},
    },
}


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 connectivity mask."""

    def __init__(self, n_in: int, n_out: int, mask: torch.Tensor, bias: bool = True) -> None:
        super().__init__(n_in, n_out, bias=bias)
        self.register_buffer("mask", mask.float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class _MADENet(nn.Module):
    def __init__(
        self,
        in_degrees: torch.Tensor,
        out_degrees: torch.Tensor,
        hidden: list[int],
        n_variables: int,
        direct: bool,
        dropout: float,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_degrees
        # hidden degrees spread evenly over [0, V-1]: a unit of degree d sees variables <= d
        for width in hidden:
            deg = torch.arange(width) % max(n_variables, 1)
            layers.append(MaskedLinear(len(prev), width, deg[:, None] >= prev[None, :]))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            prev = deg
        self.body = nn.Sequential(*layers)
        self.head = MaskedLinear(len(prev), len(out_degrees), out_degrees[:, None] > prev[None, :])
        self.skip = (
            MaskedLinear(
                len(in_degrees),
                len(out_degrees),
                out_degrees[:, None] > in_degrees[None, :],
                bias=False,
            )
            if direct
            else None
        )

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        out = self.head(self.body(inp))
        return out + self.skip(inp) if self.skip is not None else out


class MADE(GenerativeModel):
    """Masked autoregressive density estimator conditioned on the class (family ``"made"``)."""

    family = "made"
    defaults = DEFAULTS
    display_name = "MADE"
    has_likelihood = True
    health_rows = 512  # one network pass per encoded column

    @classmethod
    def validate_hyper(cls, hyper: dict[str, Any]) -> dict[str, Any]:
        h = cls.with_defaults(hyper)
        h["hidden"] = [int(w) for w in h["hidden"]]
        if not h["hidden"] or min(h["hidden"]) < 1:
            raise ValueError(f"hidden must be a non-empty list of widths >= 1, got {h['hidden']}")
        if int(h["n_mixtures"]) < 1:
            raise ValueError(f"n_mixtures must be >= 1, got {h['n_mixtures']}")
        if not 0.0 <= float(h["dropout"]) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {h['dropout']}")
        if float(h["lr"]) <= 0:
            raise ValueError(f"lr must be > 0, got {h['lr']}")
        if float(h["weight_decay"]) < 0:
            raise ValueError(f"weight_decay must be >= 0, got {h['weight_decay']}")
        h["n_mixtures"] = int(h["n_mixtures"])
        h["direct"] = bool(h["direct"])
        for key in ("dropout", "lr", "weight_decay", "min_log_scale"):
            h[key] = float(h[key])
        return h

    # ------------------------------------------------------------------ structure
    def build(self) -> None:
        h = self.hyper
        K = h["n_mixtures"]
        # variable index (1-based) of every encoded column; the label is variable 0
        col_var: list[int] = []
        scalar_cols: list[int] = []
        v = 0
        col = 0
        for span in self.spans:
            if span.activation == "softmax":
                v += 1
                col_var += [v] * span.size
            else:
                for j in range(span.size):
                    v += 1
                    col_var.append(v)
                    if span.activation in ("tanh", "linear"):
                        scalar_cols.append(col + j)
            col += span.size
        self.n_variables = v
        col_var_t = torch.tensor(col_var, dtype=torch.long)
        scalar_t = torch.tensor(scalar_cols, dtype=torch.long)
        in_deg = torch.cat([torch.zeros(self.n_classes, dtype=torch.long), col_var_t])
        # outputs: one logit per column (used by softmax / sigmoid columns) followed by the
        # (weight logit, mean, log-scale) of K mixture components per continuous column
        mix_deg = col_var_t[scalar_t].repeat_interleave(3 * K)
        out_deg = torch.cat([col_var_t, mix_deg])
        self.net = _MADENet(in_deg, out_deg, h["hidden"], v, h["direct"], h["dropout"])
        self.activation = SpanActivation(self.spans)
        self.layout = _Layout(col_var_t, scalar_t)
        self.opt = Adam(self.net.parameters(), lr=h["lr"], weight_decay=h["weight_decay"])

    def parts(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"made": self.opt}

    def to(self, device):
        super().to(device)
        self.activation.to(self.device)
        self.layout.to(self.device)
        return self

    # ------------------------------------------------------------------ likelihood
    def _forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([one_hot(y, self.n_classes), x], dim=1))

    def _mixture(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logit weights, means, log-scales), each (batch, n_scalar, K)."""
        K = self.hyper["n_mixtures"]
        n_s = self.layout.scalar.numel()
        mix = out[:, self.data_dim :].reshape(out.shape[0], n_s, 3, K)
        log_scale = mix[:, :, 2].clamp(self.hyper["min_log_scale"], 3.0)
        return mix[:, :, 0], mix[:, :, 1], log_scale

    def _column_terms(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood per row, summed over variables."""
        act = self.activation
        k = act.kinds
        logits = out[:, : self.data_dim]
        bce = F.binary_cross_entropy_with_logits(logits, x.clamp(0, 1), reduction="none")
        nll = (bce * (k == 2)).sum(1)
        nll = nll + act.categorical_nll(logits, x)
        if self.layout.scalar.numel():
            w, mu, log_s = self._mixture(out)
            xs = x[:, self.layout.scalar].unsqueeze(-1)
            z = (xs - mu) * torch.exp(-log_s)
            comp = -0.5 * z**2 - log_s - 0.5 * math.log(2 * math.pi)
            ll = torch.logsumexp(torch.log_softmax(w, dim=-1) + comp, dim=-1)
            nll = nll - ll.sum(1)
        return nll

    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Exact ``log p(x | y)`` of every row (nats), in evaluation mode and without gradients."""
        was = self.net.training
        self.net.eval()
        try:
            with torch.no_grad():
                x = torch.as_tensor(x, dtype=torch.float32).to(self.device)
                y = torch.as_tensor(y, dtype=torch.long).to(self.device)
                return -self._column_terms(self._forward(x, y), x)
        finally:
            self.net.train(was)

    def train_step(self, x, y, ctx) -> dict[str, float]:
        nll = self._column_terms(self._forward(x, y), x)
        w = ctx.sample_weight
        loss = nll.mean() if w is None else (nll * w).sum() / w.sum()
        ctx.update("made", loss)
        return {"loss": float(loss.detach()), "nll": float(nll.detach().mean())}

    # ------------------------------------------------------------------ sampling
    def _draw_all(self, out: torch.Tensor, generator) -> torch.Tensor:
        """A candidate value for every column from the network output (vectorised)."""
        act = self.activation
        k = act.kinds
        logits = out[:, : self.data_dim]
        u = torch.rand(logits.shape, generator=generator).to(out.device)
        cand = (u < torch.sigmoid(logits)).float()
        if act.has_softmax:
            seg = act.segment_logits(logits)
            g = torch.rand(seg.shape, generator=generator).to(out.device)
            gumbel = -torch.log(-torch.log(g.clamp(1e-10, 1.0 - 1e-7)))
            choice = (seg + gumbel).argmax(-1)
            onehot = F.one_hot(choice, seg.shape[-1]).float()
            cand = act.scatter_back(cand, onehot)
        if self.layout.scalar.numel():
            w, mu, log_s = self._mixture(out)
            g = torch.rand(w.shape, generator=generator).to(out.device)
            comp = (w - torch.log(-torch.log(g.clamp(1e-10, 1.0 - 1e-7)))).argmax(-1, keepdim=True)
            m = mu.gather(-1, comp).squeeze(-1)
            s = log_s.gather(-1, comp).squeeze(-1).exp()
            eps = torch.randn(m.shape, generator=generator).to(out.device)
            val = m + s * eps
            cand = cand.index_copy(1, self.layout.scalar, val)
        cand = torch.where(k == 1, cand.clamp(-1.0, 1.0), cand)
        return cand

    @torch.no_grad()
    def generate(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        was = self.net.training
        self.net.eval()
        y = y.to(self.device).long()
        x = torch.zeros(y.shape[0], self.data_dim, device=self.device)
        col_var = self.layout.col_var
        for v in range(1, self.n_variables + 1):
            cand = self._draw_all(self._forward(x, y), generator)
            x = torch.where(col_var == v, cand, x)
        self.net.train(was)
        return x


class _Layout(nn.Module):
    """Index buffers (variable of each column, continuous columns) that move with the model."""

    def __init__(self, col_var: torch.Tensor, scalar: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("col_var", col_var, persistent=False)
        self.register_buffer("scalar", scalar, persistent=False)
