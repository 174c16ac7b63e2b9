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
import math
import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch

from genbalance.training.accountant import (
    ACCOUNTANTS,
    epsilon_spent,
    max_private_steps,
    noise_for_budget,
)
from genbalance.training.dp_model import prepare_model
from genbalance.training.sources import epoch_steps
from genbalance.training.state import History

if TYPE_CHECKING:
    from genbalance.models.base import GenerativeModel

# the accountant and the model checks live in their own modules; their names stay here too
__all__ = [
    "ACCOUNTANTS",
    "BudgetSpent",
    "DPConfig",
    "PoissonSource",
    "PrivateTraining",
    "epsilon_spent",
    "max_private_steps",
    "noise_for_budget",
    "prepare_model",
]


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


class BudgetSpent(Exception):
    """Raised inside a step when one more private update would exceed the target epsilon;
    the trainer stops cleanly with the model trained so far."""


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
        total_steps: int | None,
        generator: torch.Generator,
    ) -> None:
        if total_steps is None and config.noise_multiplier is None:
            raise ValueError(
                "privacy: with no step limit (epochs=None and max_steps=None) the noise cannot "
                "be fitted to the budget; give max_steps or epochs, or set noise_multiplier"
            )
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
        planned = 1 if total_steps is None else max(1, total_steps)  # None: a search hint
        self.planned = math.ceil(planned * self.per_step / (1.0 - p_empty))
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
    def draw(self, step: int) -> torch.Tensor:
        """Row indices of one Poisson-sampled batch (each row in with probability q).

        An empty draw still costs a private step: the private optimisers take a noise-only
        step (as Opacus does for empty batches), then a new batch is drawn. ``step`` is the
        trainer step, for the message when that noise step would overspend the budget.
        """
        while True:
            mask = torch.rand(self.n_rows, generator=self.generator) < self.sample_rate
            idx = mask.nonzero().squeeze(1)
            if idx.numel() > 0:
                return idx
            # the noise step plus the rest of this trainer step (at most per_step updates)
            # must still fit in the budget; the trainer checked only the step's own updates
            if self.steps + 1 + self.per_step > self.max_steps:
                raise BudgetSpent(self.stop_message(step))
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


class PoissonSource:
    """The trainer's batch source under DP-SGD: Poisson sampling of the whole table.

    A :class:`~genbalance.training.sources.BatchSource`. Class-balanced batches and class
    weights are not offered (see the module docstring): the accountant's single sampling rate
    ``q`` must describe every row. Draws come from the :class:`PrivateTraining` generator (the
    trainer's own), so the ``generator`` argument of :meth:`next_batch` is that same object.
    """

    class_weight: torch.Tensor | None = None

    def __init__(self, private: PrivateTraining, X: torch.Tensor, y: torch.Tensor) -> None:
        self.private = private
        self.X, self.y = X, y
        self.n_rows = int(X.shape[0])

    def steps_per_epoch(self, batch_size: int, world_size: int = 1) -> int:
        """Expected batches per pass: the expected Poisson batch is ``batch_size`` rows."""
        return epoch_steps(self.n_rows, batch_size, world_size)

    def next_batch(
        self, batch_size: int, generator: torch.Generator, step: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows and labels of one Poisson draw (its size varies around ``batch_size``)."""
        idx = self.private.draw(step)
        return self.X[idx], self.y[idx]

    def health_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.X, self.y
