"""Class-conditional restricted Boltzmann machine with mixed visible units.

Visible units follow the encoded layout:

- ``softmax`` spans are categorical (softmax) units: a one-hot group is sampled as one category;
- ``sigmoid`` spans are Bernoulli units;
- ``tanh`` / ``linear`` spans are Gaussian units with a learned variance per unit (the
  parameterisation of Cho, Ilin & Raiko, 2011: ``E = sum (v - b)^2 / 2 s^2 - v W h / s^2 - c h``),
  or, with ``visible="bernoulli"``, ``tanh`` values are mapped to [0, 1] and treated as Bernoulli
  probabilities. ``visible="gaussian"`` makes sigmoid spans Gaussian too.

Hidden units are Bernoulli. The class is clamped: the one-hot label acts as extra visible units,
which is the same as label-dependent hidden biases ``U[y]``; label-dependent visible biases
``B[y]`` are added too. The model is therefore ``p(v | y)``.

Training descends the surrogate ``mean F(v_data | y) - mean F(v_model | y)`` (free energy
``F``), whose gradient is the log-likelihood gradient, with negative samples from one of:

- ``method="cd"`` (default): CD-k (Hinton, 2002), chains restart at the batch. In a fixed step
  budget it learns the toy patterns of tests/test_rbm.py best (held-out NLL 2.5 nats against
  2.3 for the truth), because its negative phase is correlated with the batch and so has little
  variance. Its known blind spot: chains never cross between distant modes, so the *weights*
  of well separated modes are learnt poorly.
- ``method="pcd"``: persistent CD (Tieleman, 2008): ``chains`` fantasy particles per class live
  in a buffer (saved with the model), each step advances them ``k`` Gibbs sweeps with their
  label clamped; the model term is weighted by the batch's class mix. It learns mode weights
  but its negative phase is noisy: use it with ``lr_decay`` close to 1 (preset "pcd").

The step metrics track ``free_energy_data``, ``free_energy_model`` and ``recon_error``. Sampling
runs ``burn_in`` Gibbs sweeps from noise with the label clamped. ``learn_sigma=False`` keeps
Gaussian units at ``init_sigma`` (standard advice for GRBMs when the variance fit is unstable).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genbalance.models.base import GenerativeModel
from genbalance.models.nets import SpanActivation
from genbalance.models.optimizers import Adam

VISIBLE = ("auto", "bernoulli", "gaussian")
METHODS = ("pcd", "cd")

DEFAULTS: dict[str, Any] = {
    "n_hidden": 128,
    "visible": "auto",
    "method": "cd",  # CD-1 learns the toy patterns best in a fixed step budget (tests/test_rbm.py)
    "k": 1,  # Gibbs sweeps per training step
    "chains": 64,  # persistent chains per class (method="pcd")
    "burn_in": 200,  # Gibbs sweeps before a sample is returned
    "lr": 1e-2,
    "lr_decay": 0.9,  # learning rate falls linearly to lr * (1 - lr_decay) by the last step
    "weight_decay": 1e-5,
    "init_sigma": 0.5,  # initial standard deviation of Gaussian units
    "min_sigma": 0.02,
    "learn_sigma": True,  # False keeps Gaussian units at init_sigma (a more stable fit)
}

#: Recommended settings for tables of 100-5000 rows (``hyper`` for the model, ``trainer`` for
#: :class:`~genbalance.training.trainer.TrainerConfig`). The defaults are the "tabular" preset,
#: so ``GenerativeOverSampler(model="rbm")`` uses it with the synthesizer's step budget.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "tabular": {
        "hyper": {
            "n_hidden": 128,
            "method": "cd",
            "k": 1,
            "burn_in": 200,
            "lr": 1e-2,
            "lr_decay": 0.9,
        },
        "trainer": {"epochs": None, "max_steps": 2000, "batch_size": 128, "grad_clip": 10.0},
    },
    "pcd": {
        "hyper": {
            "n_hidden": 128,
            "method": "pcd",
            "k": 5,
            "chains": 100,
            "burn_in": 500,
            "lr": 1e-2,
            "lr_decay": 0.99,
        },
        "trainer": {"epochs": None, "max_steps": 4000, "batch_size": 128, "grad_clip": 10.0},
    },
}

BERNOULLI, GAUSSIAN, SOFTMAX = 0, 1, 2


class _RBMNet(nn.Module):
    def __init__(self, n_visible: int, n_hidden: int, n_classes: int, init_sigma: float) -> None:
        super().__init__()
        self.W = nn.Parameter(0.01 * torch.randn(n_visible, n_hidden))
        self.b = nn.Parameter(torch.zeros(n_visible))
        self.c = nn.Parameter(torch.zeros(n_hidden))
        self.B = nn.Parameter(torch.zeros(n_classes, n_visible))  # label -> visible biases
        self.U = nn.Parameter(torch.zeros(n_classes, n_hidden))  # label -> hidden biases
        self.log_var = nn.Parameter(
            torch.full((n_visible,), 2.0 * float(torch.tensor(init_sigma).log()))
        )


class _Chains(nn.Module):
    """Persistent fantasy particles and their (fixed) labels; saved with the model."""

    def __init__(self, v: torch.Tensor, y: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("v", v)
        self.register_buffer("y", y)


class RBM(GenerativeModel):
    """Conditional RBM trained with PCD-k or CD-k (family ``"rbm"``)."""

    family = "rbm"
    defaults = DEFAULTS
    display_name = "RBM"
    health_rows = 512  # Gibbs chains with burn-in

    @classmethod
    def validate_hyper(cls, hyper: dict[str, Any]) -> dict[str, Any]:
        h = cls.with_defaults(hyper)
        if h["visible"] not in VISIBLE:
            raise ValueError(f"visible={h['visible']!r} is not one of {', '.join(VISIBLE)}")
        if h["method"] not in METHODS:
            raise ValueError(f"method={h['method']!r} is not one of {', '.join(METHODS)}")
        for key, low in (("n_hidden", 1), ("k", 1), ("chains", 1), ("burn_in", 0)):
            if int(h[key]) != h[key] or int(h[key]) < low:
                raise ValueError(f"{key} must be an integer >= {low}, got {h[key]!r}")
            h[key] = int(h[key])
        for key in ("lr", "init_sigma", "min_sigma"):
            if float(h[key]) <= 0:
                raise ValueError(f"{key} must be > 0, got {h[key]}")
            h[key] = float(h[key])
        if not 0.0 <= float(h["lr_decay"]) < 1.0:
            raise ValueError(f"lr_decay must be in [0, 1), got {h['lr_decay']}")
        h["lr_decay"] = float(h["lr_decay"])
        h["learn_sigma"] = bool(h["learn_sigma"])
        if float(h["weight_decay"]) < 0:
            raise ValueError(f"weight_decay must be >= 0, got {h['weight_decay']}")
        h["weight_decay"] = float(h["weight_decay"])
        return h

    # ------------------------------------------------------------------ structure
    def build(self) -> None:
        h = self.hyper
        self.activation = SpanActivation(self.spans)
        k = self.activation.kinds  # 0 linear, 1 tanh, 2 sigmoid, 3 softmax
        unit = torch.full((self.data_dim,), BERNOULLI, dtype=torch.long)
        unit[k == 3] = SOFTMAX
        if h["visible"] == "auto":
            unit[(k == 0) | (k == 1)] = GAUSSIAN
        elif h["visible"] == "gaussian":
            unit[k != 3] = GAUSSIAN
        elif bool((k == 0).any()):
            raise ValueError(
                "visible='bernoulli' cannot model unbounded 'linear' spans; "
                "use visible='auto' (Gaussian units for them)"
            )
        self.unit = unit
        self.gauss = unit == GAUSSIAN
        self.bern = unit == BERNOULLI
        self.tanh_bern = (k == 1) & self.bern  # tanh values seen as probabilities (x + 1) / 2
        self.net = _RBMNet(self.data_dim, h["n_hidden"], self.n_classes, h["init_sigma"])
        self.net.log_var.requires_grad_(h["learn_sigma"])
        y = torch.arange(self.n_classes).repeat_interleave(h["chains"])
        g = torch.Generator().manual_seed(0)
        self.chains = _Chains(self._noise(y.shape[0], g), y)
        self.opt = Adam(self.net.parameters(), lr=h["lr"], weight_decay=h["weight_decay"])

    def parts(self) -> dict[str, nn.Module]:
        return {"net": self.net, "chains": self.chains}

    def sampling_parts(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"rbm": self.opt}

    def to(self, device):
        super().to(device)
        self.activation.to(self.device)
        for name in ("unit", "gauss", "bern", "tanh_bern"):
            setattr(self, name, getattr(self, name).to(self.device))
        return self

    # ------------------------------------------------------------------ energy and Gibbs
    def _noise(self, n: int, generator) -> torch.Tensor:
        """Starting states: uniform categories, fair coins, standard-normal Gaussians."""
        unit = self.unit
        u = torch.rand(n, self.data_dim, generator=generator).to(self.device)
        v = (u < 0.5).float()
        v = torch.where(
            unit == GAUSSIAN, torch.randn(u.shape, generator=generator).to(self.device) * 0.5, v
        )
        if self.activation.has_softmax:
            seg = self.activation.segment_logits(torch.zeros_like(v))
            v = self._sample_softmax(v, seg, generator)
        return v

    def _sigma2(self) -> torch.Tensor:
        floor = 2.0 * float(torch.tensor(self.hyper["min_sigma"]).log())
        return self.net.log_var.clamp(floor, 4.0).exp()

    def _precision(self) -> torch.Tensor:
        """1 / s^2 for Gaussian units, 1 for the others (scales v in the interaction term)."""
        return torch.where(self.gauss, 1.0 / self._sigma2(), torch.ones_like(self.net.b))

    def to_visible(self, x: torch.Tensor) -> torch.Tensor:
        """Encoded rows -> visible states (tanh values to [0, 1] for Bernoulli units)."""
        return torch.where(self.tanh_bern, (x + 1.0) * 0.5, x)

    def from_visible(self, v: torch.Tensor) -> torch.Tensor:
        out = torch.where(self.tanh_bern, v * 2.0 - 1.0, v)
        k = self.activation.kinds
        out = torch.where(k == 1, out.clamp(-1.0, 1.0), out)
        return torch.where(k == 2, out.clamp(0.0, 1.0), out)

    def free_energy(self, v: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``F(v | y)`` per row, so that ``p(v | y)`` is proportional to ``exp(-F)``."""
        net = self.net
        bias = net.b + net.B[y]
        quad = ((v - bias) ** 2 / (2.0 * self._sigma2()) * self.gauss).sum(1)
        lin = (v * bias * ~self.gauss).sum(1)
        act = (v * self._precision()) @ net.W + net.c + net.U[y]
        return quad - lin - F.softplus(act).sum(1)

    def _hidden(self, v: torch.Tensor, y: torch.Tensor, generator) -> torch.Tensor:
        p = torch.sigmoid((v * self._precision()) @ self.net.W + self.net.c + self.net.U[y])
        return (torch.rand(p.shape, generator=generator).to(p.device) < p).float()

    def _sample_softmax(self, v: torch.Tensor, logits: torch.Tensor, generator) -> torch.Tensor:
        g = torch.rand(logits.shape, generator=generator).to(v.device)
        choice = (logits - torch.log(-torch.log(g.clamp(1e-10, 1.0 - 1e-7)))).argmax(-1)
        return self.activation.scatter_back(v, F.one_hot(choice, logits.shape[-1]).float())

    def _visible(
        self, h: torch.Tensor, y: torch.Tensor, generator, mean: bool = False
    ) -> torch.Tensor:
        net = self.net
        a = h @ net.W.T + net.b + net.B[y]
        p = torch.sigmoid(a)
        if mean:
            v = torch.where(self.bern, p, a)
        else:
            u = torch.rand(a.shape, generator=generator).to(a.device)
            eps = torch.randn(a.shape, generator=generator).to(a.device)
            v = torch.where(self.bern, (u < p).float(), a + self._sigma2().sqrt() * eps)
        if self.activation.has_softmax:
            v = self._sample_softmax(v, self.activation.segment_logits(a), generator)
        return v

    def gibbs(self, v: torch.Tensor, y: torch.Tensor, steps: int, generator) -> torch.Tensor:
        """``steps`` sweeps v -> h -> v with the labels ``y`` clamped."""
        for _ in range(steps):
            v = self._visible(self._hidden(v, y, generator), y, generator)
        return v

    # ------------------------------------------------------------------ training
    def _decay_lr(self, progress: float) -> None:
        """Linear learning-rate decay (PCD needs it: its negative phase is noisy, Tieleman
        2008). Applied as a ratio, so that the trainer's rollback lowering is kept."""
        scale = 1.0 - self.hyper["lr_decay"] * progress
        prev = getattr(self, "_lr_scale", 1.0)
        for group in self.opt.param_groups:
            group["lr"] *= scale / prev
        self._lr_scale = scale

    def train_step(self, x, y, ctx) -> dict[str, float]:
        h = self.hyper
        if h["lr_decay"]:
            self._decay_lr(ctx.progress)
        gen = ctx.generator
        v_data = self.to_visible(x)
        with torch.no_grad():
            if h["method"] == "pcd":
                v_model = self.gibbs(self.chains.v, self.chains.y, h["k"], gen)
                self.chains.v.copy_(v_model)
                y_model = self.chains.y
            else:
                v_model = self.gibbs(v_data, y, h["k"], gen)
                y_model = y
        w = ctx.sample_weight
        w = torch.ones_like(x[:, 0]) if w is None else w
        f_data = self.free_energy(v_data, y)
        f_model = self.free_energy(v_model, y_model)
        data_term = (f_data * w).sum() / w.sum()
        if h["method"] == "pcd":
            # weight each class's chains by that class's share of the batch
            share = torch.zeros(self.n_classes, device=x.device).index_add_(0, y, w) / w.sum()
            per_class = (
                torch.zeros(self.n_classes, device=x.device).index_add_(0, y_model, f_model)
                / h["chains"]
            )
            model_term = (share * per_class).sum()
        else:
            model_term = (f_model * w).sum() / w.sum()
        ctx.update("rbm", data_term - model_term)
        with torch.no_grad():
            recon = self._visible(self._hidden(v_data, y, gen), y, gen, mean=True)
            err = ((recon - v_data) ** 2).sum(1).mean()
        return {
            "loss": float((data_term - model_term).detach()),
            "free_energy_data": float(f_data.detach().mean()),
            "free_energy_model": float(f_model.detach().mean()),
            "recon_error": float(err),
        }

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def generate(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        y = y.to(self.device).long()
        v = self._noise(y.shape[0], generator)
        v = self.gibbs(v, y, self.hyper["burn_in"], generator)
        # last sweep: sampled states, except tanh values under Bernoulli units, which are
        # probabilities (a sampled bit would only give -1 or 1)
        hid = self._hidden(v, y, generator)
        mean = torch.sigmoid(hid @ self.net.W.T + self.net.b + self.net.B[y])
        v = torch.where(self.tanh_bern, mean, self._visible(hid, y, generator))
        return self.from_visible(v)
