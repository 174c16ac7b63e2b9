"""Differentially private training (DP-SGD through Opacus) behind the one trainer.

``Trainer(privacy=DPConfig(epsilon=1.0))`` trains the parts of a model that touch real rows
with DP-SGD: every real row's gradient is clipped to ``max_grad_norm`` and Gaussian noise of
``noise_multiplier * max_grad_norm`` is added to the sum (Abadi et al., 2016). Batches of real
rows are drawn by Poisson sampling (each row joins a batch independently with probability
``q = batch_size / n_rows``), which is what the accountant's privacy amplification assumes.
Opacus's RDP accountant (or PRV) tracks the privacy spent, and training stops cleanly before it
would exceed the target epsilon.

What is private, per family (declared by the family as ``dp_parts``):

- **GAN**: only the discriminator is trained with DP-SGD; it is the only network whose loss
  reads real rows. The generator's updates read nothing but the discriminator's (already
  private) weights, fresh noise and class labels drawn uniformly (never the real labels), so
  they are *post-processing* of a DP output and keep the guarantee; so does every sample drawn
  from the generator (Xie et al., 2018, DPGAN; Torkzadehmahani et al., 2019, DP-CGAN). In a
  discriminator step, row ``i``'s real term and the fake row generated for its label are summed
  into one per-sample gradient before clipping, so each real row still moves D by at most
  ``max_grad_norm``.
- **VAE**: the encoder and decoder are both trained with DP-SGD (both see real rows).

Trade-offs and limits, stated plainly:

- Class-balanced batches (the trainer's ``sampling="balanced"``) are replaced by Poisson
  sampling of the whole table, so a rare class is seen only as often as it occurs. Balanced
  sampling would need per-class sampling rates, and the rare classes' rows would then pay a far
  larger privacy cost than the accountant's single rate ``q`` describes. ``class_weight`` is
  ignored for the same reason (weights are computed from the private class counts).
- The guarantee covers the network weights and what is sampled from them. It does *not* cover
  what is fitted outside DP-SGD: the tabular encoder's metadata (column ranges, mixture
  modes, category lists), the per-step metrics in ``History.steps`` (losses and D(x) are
  measured on real batches) and the post-training health report. Treat those as diagnostics,
  not as data that may be published under the DP promise.
- Layers that mix the rows of a batch have no per-sample gradients: BatchNorm in a private
  part is swapped for LayerNorm (with a warning naming the layers, and the model's norm
  setting updated so that the saved file rebuilds the same network). Spectral norm, gradient
  penalties (they need a second backward pass through the per-sample hooks), minibatch-std and
  PacGAN (they mix rows inside the discriminator) are refused with an error naming the setting.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from genbalance.training.state import History

if TYPE_CHECKING:
    from genbalance.models.base import GenerativeModel, StepContext

ACCOUNTANTS = ("rdp", "prv")
# the largest number of private steps searched when working out how far a budget reaches
_MAX_STEPS = 10_000_000


@dataclass(frozen=True)
class DPConfig:
    """The privacy budget of one training run.

    Parameters
    ----------
    epsilon : target epsilon of (epsilon, delta)-differential privacy; training stops before
        the accountant reports more.
    delta : target delta; default ``min(1e-5, 1 / n_rows**1.1)`` (below 1 / n_rows, as it must be).
    max_grad_norm : per-sample gradient clipping bound C.
    noise_multiplier : noise std / C; default: the smallest value that lets the planned number
        of steps fit inside ``epsilon``. Given explicitly, training stops when the budget is spent.
    accountant : "rdp" (Rényi DP, Mironov 2017) or "prv" (privacy random variables, tighter).
    """

    epsilon: float
    delta: float | None = None
    max_grad_norm: float = 1.0
    noise_multiplier: float | None = None
    accountant: str = "rdp"

    def __post_init__(self) -> None:
        if not (
            isinstance(self.epsilon, (int, float))
            and math.isfinite(self.epsilon)
            and self.epsilon > 0
        ):
            raise ValueError(f"privacy epsilon must be a finite number > 0, got {self.epsilon!r}")
        if self.delta is not None and not 0.0 < float(self.delta) < 1.0:
            raise ValueError(f"privacy delta must be in (0, 1), got {self.delta!r}")
        if not self.max_grad_norm > 0:
            raise ValueError(f"privacy max_grad_norm must be > 0, got {self.max_grad_norm!r}")
        if self.noise_multiplier is not None and not self.noise_multiplier > 0:
            raise ValueError(
                f"privacy noise_multiplier must be > 0 or None, got {self.noise_multiplier!r}"
            )
        if self.accountant not in ACCOUNTANTS:
            raise ValueError(
                f"privacy accountant must be one of {', '.join(ACCOUNTANTS)}, "
                f"got {self.accountant!r}"
            )

    @classmethod
    def coerce(cls, value: Any) -> DPConfig | None:
        """A :class:`DPConfig` from a DPConfig, a dict of its fields, or None."""
        if value is None or isinstance(value, DPConfig):
            return value
        if isinstance(value, dict):
            unknown = set(value) - set(cls.__dataclass_fields__)
            if unknown:
                raise ValueError(
                    f"unknown privacy settings {sorted(unknown)}; "
                    f"accepted: {sorted(cls.__dataclass_fields__)}"
                )
            if "epsilon" not in value:
                raise ValueError("privacy settings need an 'epsilon' (the privacy budget)")
            return cls(**value)
        raise TypeError(
            f"privacy must be a DPConfig, a dict like {{'epsilon': 1.0}}, or None; "
            f"got {type(value).__name__}"
        )

    def resolved_delta(self, n_rows: int) -> float:
        if self.delta is not None:
            return float(self.delta)
        return min(1e-5, 1.0 / max(n_rows, 2) ** 1.1)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _require_opacus():
    try:
        import opacus  # noqa: F401
    except ImportError:  # pragma: no cover - opacus is a dependency
        raise ImportError(
            "differentially private training needs Opacus: pip install 'genbalance[privacy]' "
            "(or pip install opacus)"
        ) from None


def _accountant(kind: str):
    from opacus.accountants.utils import create_accountant

    return create_accountant(mechanism=kind)


# RDP orders searched when converting to (epsilon, delta): Opacus's defaults stop at 63, which
# is too low for the large noise multipliers of small budgets (a valid but loose bound, and a
# warning); more orders only ever tighten the bound.
_RDP_ALPHAS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)) + list(range(64, 257, 16))


@functools.lru_cache(maxsize=256)
def _rdp_per_step(noise_multiplier: float, sample_rate: float) -> tuple[float, ...]:
    """RDP of one Poisson-subsampled Gaussian step at every order (it adds up over steps)."""
    from opacus.accountants.analysis.rdp import compute_rdp

    return tuple(
        compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier, steps=1, orders=_RDP_ALPHAS)
    )


def _rdp_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    from opacus.accountants.analysis.rdp import get_privacy_spent

    rdp = np.asarray(_rdp_per_step(float(noise_multiplier), float(sample_rate))) * steps
    with warnings.catch_warnings():  # "optimal order is the largest alpha": still a valid bound
        warnings.simplefilter("ignore")
        eps, _ = get_privacy_spent(orders=_RDP_ALPHAS, rdp=rdp, delta=delta)
    return float(eps)


def epsilon_spent(
    kind: str, noise_multiplier: float, sample_rate: float, steps: int, delta: float
) -> float:
    """Epsilon after ``steps`` Poisson-subsampled Gaussian steps (0 for no steps)."""
    if steps <= 0:
        return 0.0
    if kind == "rdp":
        return _rdp_epsilon(noise_multiplier, sample_rate, int(steps), delta)
    acc = _accountant(kind)
    acc.history = [(noise_multiplier, sample_rate, int(steps))]
    return float(acc.get_epsilon(delta=delta))


def noise_for_budget(
    kind: str, epsilon: float, delta: float, sample_rate: float, steps: int
) -> float:
    """The smallest noise multiplier (to 1%) whose ``steps`` steps spend at most ``epsilon``."""

    def eps(sigma: float) -> float:
        return epsilon_spent(kind, sigma, sample_rate, steps, delta)

    lo, hi = 0.0, 1.0
    while eps(hi) > epsilon:
        lo, hi = hi, hi * 2
        if hi > 1e4:
            raise ValueError(f"no noise multiplier up to 1e4 reaches epsilon={epsilon:g}")
    while hi - lo > 0.01 * hi:  # invariant: eps(hi) <= epsilon
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if eps(mid) <= epsilon else (mid, hi)
    return hi


def max_private_steps(
    kind: str,
    noise_multiplier: float,
    sample_rate: float,
    delta: float,
    epsilon: float,
    hint: int = 1,
) -> int:
    """The largest number of private steps whose epsilon stays <= ``epsilon``."""

    def fits(steps: int) -> bool:
        return epsilon_spent(kind, noise_multiplier, sample_rate, steps, delta) <= epsilon

    if not fits(1):
        return 0
    lo, hi = 1, max(2, int(hint))
    while fits(hi):
        lo, hi = hi, hi * 2
        if hi > _MAX_STEPS:
            return _MAX_STEPS
    while hi - lo > 1:  # invariant: fits(lo), not fits(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


class BudgetSpent(Exception):
    """Raised inside a step when one more private update would exceed the target epsilon;
    the trainer stops cleanly with the model trained so far."""


# ---------------------------------------------------------------------------- model checks
def _incompatible_settings(hyper: dict[str, Any]) -> list[str]:
    problems = []
    if hyper.get("spectral_norm"):
        problems.append(
            "spectral_norm=True (its power iteration shares state across the rows "
            "of a batch; set spectral_norm=False)"
        )
    if hyper.get("penalty", "none") != "none":
        problems.append(
            f"penalty={hyper['penalty']!r} (a gradient penalty needs a second "
            "backward pass that per-sample gradients do not support; use "
            "penalty='none' and a loss other than 'wgan-gp')"
        )
    if hyper.get("minibatch_std"):
        problems.append("minibatch_std=True (it mixes the rows of a batch; set it False)")
    if int(hyper.get("pac", 1)) > 1:
        problems.append(
            f"pac={hyper['pac']} (PacGAN packs several rows into one sample; use pac=1)"
        )
    return problems


def _swap_batchnorm(module: nn.Module, prefix: str) -> list[str]:
    """Replace every BatchNorm1d under ``module`` by a LayerNorm, in place.

    The affine parameters are reused (same Parameter objects), so optimisers keep working.
    Returns the dotted names of the swapped layers.
    """
    swapped = []
    for name, child in list(module.named_children()):
        full = f"{prefix}.{name}"
        if isinstance(child, nn.BatchNorm1d):
            ln = nn.LayerNorm(child.num_features, eps=child.eps, elementwise_affine=child.affine)
            if child.affine:
                ln.weight, ln.bias = child.weight, child.bias
            setattr(module, name, ln)
            swapped.append(f"{full} (BatchNorm1d({child.num_features}))")
        else:
            swapped += _swap_batchnorm(child, full)
    return swapped


def prepare_model(model: GenerativeModel) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Check that ``model`` can be trained privately and make it so (BatchNorm -> LayerNorm).

    Returns the family's ``dp_parts`` (optimiser name -> part names) and the swapped layers.
    """
    _require_opacus()
    from opacus.validators import ModuleValidator

    dp_parts = getattr(model, "dp_parts", None)
    if not dp_parts:
        raise ValueError(
            f"model family {model.family!r} does not support differentially private training; "
            "privacy= is available for the 'gan' and 'vae' families"
        )
    problems = _incompatible_settings(model.hyper)
    if problems:
        raise ValueError(
            "privacy (DP-SGD) cannot be combined with these model settings: "
            + "; ".join(problems)
            + ". Pick preset=None (or 'plain') and change them in model_options."
        )
    parts = model.parts()
    swapped: list[str] = []
    for names in dp_parts.values():
        for name in names:
            swapped += _swap_batchnorm(parts[name], name)
    if swapped:
        key = getattr(model, "dp_norm_setting", None)
        if key is not None and model.hyper.get(key) == "batch":
            model.hyper[key] = "layer"  # the saved configuration rebuilds LayerNorm
        warnings.warn(
            "privacy: BatchNorm mixes the rows of a batch, so per-sample gradients (and DP-SGD) "
            f"do not exist with it; swapped these layers for LayerNorm: {', '.join(swapped)}"
            + (f" (model setting {key} is now 'layer')" if key else ""),
            UserWarning,
            stacklevel=4,
        )
    for opt_name, names in dp_parts.items():
        for name in names:
            errors = ModuleValidator.validate(parts[name], strict=False)
            if errors:
                raise ValueError(
                    f"privacy: part {name!r} has layers without per-sample gradients: "
                    + "; ".join(str(e) for e in errors)
                )
        private = {id(p) for name in names for p in parts[name].parameters()}
        opt = model.optimizers()[opt_name]
        stray = [p for g in opt.param_groups for p in g["params"] if id(p) not in private]
        if stray:
            raise ValueError(
                f"privacy: optimiser {opt_name!r} updates {len(stray)} parameters outside "
                f"the private parts {list(names)}"
            )
    return dict(dp_parts), swapped


# ---------------------------------------------------------------------------- the hook
class PrivateTraining:
    """What the trainer does differently under a :class:`DPConfig`.

    Used as a context manager around the training loop: on entry it installs Opacus's
    per-sample gradient hooks on the private parts and wraps their optimisers in
    ``DPOptimizer``; on exit it removes the hooks, leaving plain modules (same state dict).
    """

    def __init__(
        self,
        config: DPConfig,
        model: GenerativeModel,
        n_rows: int,
        batch_size: int,
        total_steps: int,
        generator: torch.Generator,
    ) -> None:
        self.config = config
        self.model = model
        self.n_rows = int(n_rows)
        self.batch_size = int(batch_size)
        self.sample_rate = min(1.0, batch_size / n_rows)
        self.expected_batch = max(1, round(self.sample_rate * n_rows))
        self.delta = config.resolved_delta(n_rows)
        self.generator = generator
        self.dp_parts, self.swapped = prepare_model(model)
        # private optimiser steps per trainer step (GAN: n_critic discriminator updates)
        self.per_step = int(model.hyper.get("n_critic", 1)) if "D" in self.dp_parts else 1
        # an empty Poisson draw costs a noise-only step too: plan for the expected number
        p_empty = (1.0 - self.sample_rate) ** self.n_rows
        self.planned = math.ceil(max(1, total_steps) * self.per_step / (1.0 - p_empty))
        if config.noise_multiplier is not None:
            self.noise_multiplier = float(config.noise_multiplier)
        else:
            try:
                self.noise_multiplier = noise_for_budget(
                    config.accountant, config.epsilon, self.delta, self.sample_rate, self.planned
                )
            except ValueError as exc:
                raise ValueError(
                    f"privacy: epsilon={config.epsilon} is too small for {self.planned} steps "
                    f"at sampling rate {self.sample_rate:.3g} ({exc}); raise epsilon, or train "
                    "fewer steps / larger tables"
                ) from None
        self.max_steps = max_private_steps(
            config.accountant,
            self.noise_multiplier,
            self.sample_rate,
            self.delta,
            config.epsilon,
            hint=self.planned,
        )
        if self.max_steps < self.per_step:
            raise ValueError(
                f"privacy: with noise_multiplier={self.noise_multiplier:g} at sampling rate "
                f"{self.sample_rate:.3g}, even one training step spends more than "
                f"epsilon={config.epsilon:g} (delta {self.delta:.2g}); raise noise_multiplier "
                "or epsilon, or leave noise_multiplier=None to have it chosen"
            )
        self._steps = 0  # noisy optimiser steps taken (each one accounted)
        self.optimizers: dict[str, Any] = {}
        self._modules: list[Any] = []
        self._quiet: contextlib.ExitStack | None = None

    # -------------------------------------------------------------- accounting
    @property
    def steps(self) -> int:
        return self._steps

    def epsilon(self) -> float:
        return epsilon_spent(
            self.config.accountant, self.noise_multiplier, self.sample_rate, self.steps, self.delta
        )

    def exhausted(self) -> bool:
        """True when one more trainer step would push epsilon past the target."""
        return self.steps + self.per_step > self.max_steps

    def stop_message(self, step: int) -> str:
        return (
            f"privacy budget reached at step {step}: epsilon {self.epsilon():.3f} spent of "
            f"{self.config.epsilon:g} (delta {self.delta:.2g}); one more step would exceed it"
        )

    def resume(self, history: History) -> None:
        """Continue the accounting of a resumed run (its spent steps are in the history)."""
        done = int(history.privacy.get("steps", 0) or 0)
        if done:
            if not math.isclose(
                history.privacy.get("noise_multiplier", -1.0), self.noise_multiplier, rel_tol=1e-9
            ):
                raise ValueError(
                    "privacy: the checkpoint was trained with another noise "
                    "multiplier; resume with the same privacy settings"
                )
            self._steps = done

    def summary(self) -> dict[str, Any]:
        return {
            "epsilon": self.epsilon(),
            "target_epsilon": float(self.config.epsilon),
            "delta": self.delta,
            "noise_multiplier": self.noise_multiplier,
            "max_grad_norm": float(self.config.max_grad_norm),
            "sample_rate": self.sample_rate,
            "expected_batch_size": self.expected_batch,
            "steps": self.steps,
            "accountant": self.config.accountant,
            "private_parts": sorted(n for names in self.dp_parts.values() for n in names),
            "swapped_layers": list(self.swapped),
            "sampling": "poisson",
        }

    # -------------------------------------------------------------- batches and labels
    def next_batch(
        self, X: torch.Tensor, y: torch.Tensor, device: torch.device, ctx: StepContext
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A Poisson-sampled batch of the rows ``X``, ``y`` (each row in with probability q),
        moved to ``device``.

        An empty draw still costs a private step: the private optimisers take a noise-only
        step (as Opacus does for empty batches), then a new batch is drawn.
        """
        ctx.sample_weight = None
        while True:
            mask = torch.rand(self.n_rows, generator=self.generator) < self.sample_rate
            idx = mask.nonzero().squeeze(1)
            if idx.numel() > 0:
                return X[idx].to(device), y[idx].to(device)
            # the noise step plus the rest of this trainer step (at most per_step updates)
            # must still fit in the budget; the trainer checked only the step's own updates
            if self.steps + 1 + self.per_step > self.max_steps:
                raise BudgetSpent(self.stop_message(ctx.step))
            self._noise_only_step()

    def _noise_only_step(self) -> None:
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
            for p in opt.params:
                p.grad_sample = p.new_zeros((0, *p.shape))
            opt.step()

    def generator_labels(self, n_classes: int) -> torch.Tensor:
        """Labels for a generator update: uniform over classes, never read from real rows."""
        return torch.randint(n_classes, (self.expected_batch,), generator=self.generator)

    # -------------------------------------------------------------- hooks on / off
    def __enter__(self) -> PrivateTraining:
        from opacus import GradSampleModule
        from opacus.optimizers import DPOptimizer

        self._quiet = contextlib.ExitStack()
        self._quiet.enter_context(warnings.catch_warnings())
        # Opacus's backward hooks fire on module outputs when inputs need no gradient (real rows)
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        parts = self.model.parts()
        noise_gen = torch.Generator(device=self.model.device)
        noise_gen.manual_seed(int(torch.randint(2**62, (1,), generator=self.generator)))
        try:
            for names in self.dp_parts.values():
                for name in names:
                    # hooks go on the part's own layers; the part itself stays unwrapped, so
                    # state dicts, snapshots and saved files are exactly as without privacy
                    self._modules.append(
                        GradSampleModule(
                            parts[name], batch_first=True, loss_reduction="mean", strict=True
                        )
                    )
            for opt_name in self.dp_parts:
                opt = DPOptimizer(
                    self.model.optimizers()[opt_name],
                    noise_multiplier=self.noise_multiplier,
                    max_grad_norm=self.config.max_grad_norm,
                    expected_batch_size=self.expected_batch,
                    loss_reduction="mean",
                    generator=noise_gen,
                )
                opt.attach_step_hook(self._count)  # every noisy step is accounted
                self.optimizers[opt_name] = opt
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _count(self, optim) -> None:
        """Step hook of every DPOptimizer: one noisy update at ``noise_multiplier``, rate q."""
        self._steps += 1

    def __exit__(self, *exc) -> None:
        for gsm in self._modules:
            gsm._close()
        self._modules = []
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        if self._quiet is not None:
            self._quiet.close()
            self._quiet = None
