"""How to train: :class:`TrainerConfig`, its checks, and the step plan it implies.

Kept apart from the loop so that the rules for how long training runs (epochs, max_steps,
time_budget) are read in one place. Re-exported by :mod:`genbalance.training.trainer`.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import torch

from genbalance.training.optim import LR_SCHEDULES
from genbalance.training.sources import SAMPLING
from genbalance.training.threads import check_threads
from genbalance.utils import user_stacklevel


@dataclass
class TrainerConfig:
    """How to train.

    ``epochs`` counts passes of ``n_rows / batch_size`` steps; ``None`` sets no epoch limit,
    so that ``max_steps`` or ``time_budget`` (one is then required) ends training. With both
    ``epochs`` and ``max_steps``, the smaller number of steps wins.
    """

    epochs: int | None = 100
    batch_size: int = 256
    max_steps: int | None = None
    sampling: str = "balanced"  # balanced | natural | sqrt (how batches draw classes)
    class_weight: str | None = None  # None | "balanced" (loss weights that undo the skew)
    grad_clip: float | None = None  # max global gradient norm per optimiser step
    ema: float | None = None  # decay of the EMA copy of the sampling networks
    time_budget: float | None = None  # seconds; training stops cleanly when spent
    memory_budget: int | str | None = None  # resident bytes ("2GiB"); stops cleanly when passed
    memory_check_every: int = 10  # steps between resident-memory readings
    device: str = "auto"
    random_state: int | None = 0
    progress: bool = False
    log_every: int = 1
    nan_policy: str = "rollback"  # rollback | raise
    max_rollbacks: int = 5
    rollback_lr_factor: float = 0.5
    snapshot_every: int = 25
    checkpoint_path: str | None = None
    checkpoint_every: int = 0  # steps; 0 = only at the end
    resume: bool = False
    health_check: bool = True  # after fit, store a mode-collapse report in history.health
    privacy: Any = None  # DPConfig | dict | None: DP-SGD on the parts that read real rows
    amp: bool | str = False  # bf16 autocast on CUDA ("bf16" or True); a no-op with a warning on CPU
    lr_schedule: str = "constant"  # constant | cosine (annealed to 0 over the planned steps)
    threads: int | str | None = "auto"  # CPU threads: "auto" = 1 for a small model (threads.py)

    def __post_init__(self) -> None:
        self._check_length()
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.nan_policy not in ("rollback", "raise"):
            raise ValueError(f"nan_policy must be 'rollback' or 'raise', got {self.nan_policy!r}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"grad_clip must be > 0, got {self.grad_clip}")
        if self.sampling not in SAMPLING:
            raise ValueError(
                f"sampling must be one of {', '.join(SAMPLING)}, got {self.sampling!r}"
            )
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise ValueError(f"ema must be a decay in (0, 1) or None, got {self.ema}")
        if self.memory_budget is not None:
            from genbalance.training.resources import parse_budget

            self.memory_budget = parse_budget(self.memory_budget)
        for name in ("log_every", "snapshot_every", "memory_check_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_rollbacks < 0:
            raise ValueError(f"max_rollbacks must be >= 0, got {self.max_rollbacks}")
        if not 0.0 < self.rollback_lr_factor < 1.0:
            raise ValueError(f"rollback_lr_factor must be in (0, 1), got {self.rollback_lr_factor}")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")
        check_threads(self.threads)
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}"
            )
        if self.amp not in (False, True, "bf16"):
            raise ValueError(f"amp must be False, True or 'bf16', got {self.amp!r}")
        if self.privacy is not None:
            from genbalance.training.dp import DPConfig

            self.privacy = DPConfig.coerce(self.privacy)

    def _check_length(self) -> None:
        """Check epochs / max_steps / time_budget; warn about the old ``epochs=0`` sentinel.

        ``epochs=0`` next to ``max_steps`` meant "no epoch limit"; for one release it still
        does (and stays 0 in the config, for code that reads it), with a DeprecationWarning.
        """
        if self.epochs is not None:
            if isinstance(self.epochs, bool) or not isinstance(self.epochs, numbers.Integral):
                raise ValueError(f"epochs must be an int >= 0 or None, got {self.epochs!r}")
            if self.epochs < 0:
                raise ValueError(f"epochs must be >= 0, got {self.epochs}")
            self.epochs = int(self.epochs)
        if self.max_steps is not None and self.max_steps < 0:
            raise ValueError(f"max_steps must be >= 0, got {self.max_steps}")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ValueError(f"time_budget must be > 0 seconds, got {self.time_budget}")
        if self.epochs == 0 and self.max_steps is not None:
            warnings.warn(
                "epochs=0 together with max_steps is deprecated as 'no epoch limit'; pass "
                "epochs=None instead (epochs=0 will mean zero passes)",
                DeprecationWarning,
                stacklevel=user_stacklevel(),
            )
        if self.epochs is None and self.max_steps is None and self.time_budget is None:
            raise ValueError(
                "epochs=None sets no epoch limit, so max_steps or time_budget must end "
                "training; give one of them, or an int epochs"
            )

    def total_steps(self, steps_per_epoch: int) -> int | None:
        """Planned optimiser steps, or None when only ``time_budget`` ends training."""
        if self.epochs is None or (self.epochs == 0 and self.max_steps is not None):
            return self.max_steps  # epochs=0 here: the deprecated sentinel, for one release
        total = self.epochs * steps_per_epoch
        return total if self.max_steps is None else min(total, self.max_steps)


def resolve_device(device: str) -> torch.device:
    """The torch device for a ``device`` setting: "auto" is CUDA when there is one."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available; use 'cpu'")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; accepted: auto, cpu, cuda, cuda:N") from None
