"""The one training loop every generative family runs through.

The trainer owns what is common to all families: class-balanced batches, seeding, device,
gradient clipping, EMA, a time budget, progress, checkpoints, and training health (a NaN or inf
never silently poisons the model: the last good state is restored and the learning rate
lowered, or training stops with a clear message). A family only writes ``train_step``.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from genbalance.models.base import GenerativeModel
from genbalance.training.batches import ClassBatchSampler
from genbalance.training.stabilizers import EMA


class NonFiniteError(FloatingPointError):
    """A loss, gradient norm or weight became NaN or inf."""


class TrainingDiverged(RuntimeError):
    """Training kept producing NaN/inf after every rollback allowed."""


@dataclass
class TrainerConfig:
    """How to train. ``epochs`` counts passes of ``n_rows / batch_size`` steps."""

    epochs: int = 100
    batch_size: int = 256
    max_steps: int | None = None
    sampling: str = "balanced"  # balanced | natural | sqrt (how batches draw classes)
    class_weight: str | None = None  # None | "balanced" (loss weights that undo the skew)
    grad_clip: float | None = None  # max global gradient norm per optimiser step
    ema: float | None = None  # decay of the EMA copy of the sampling networks
    time_budget: float | None = None  # seconds; training stops cleanly when spent
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

    def __post_init__(self) -> None:
        if self.epochs < 0 or (self.max_steps is not None and self.max_steps < 0):
            raise ValueError("epochs and max_steps must be >= 0")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.nan_policy not in ("rollback", "raise"):
            raise ValueError(f"nan_policy must be 'rollback' or 'raise', got {self.nan_policy!r}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"grad_clip must be > 0, got {self.grad_clip}")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ValueError(f"time_budget must be > 0 seconds, got {self.time_budget}")


@dataclass
class History:
    """Per-step metrics (losses, grad norms, D(x)/D(G(z))) and training events."""

    steps: list[dict[str, float]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    rollbacks: int = 0
    stopped_early: str | None = None
    seconds: float = 0.0
    health: dict[str, Any] = field(default_factory=dict)

    def series(self, key: str) -> list[float]:
        return [s[key] for s in self.steps if key in s]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> History:
        return cls(**d)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available; use 'cpu'")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; accepted: auto, cpu, cuda, cuda:N") from None


class StepContext:
    """What a family's ``train_step`` may use: optimiser updates, noise, fresh batches."""

    def __init__(self, trainer: Trainer, model: GenerativeModel) -> None:
        self._trainer = trainer
        self._model = model
        self.generator: torch.Generator = trainer.generator
        self.step = 0
        self.progress = 0.0  # fraction of the planned steps done, for annealing
        self.sample_weight: torch.Tensor | None = None
        self.metrics: dict[str, float] = {}

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh batch (e.g. for extra critic steps); sets ``sample_weight`` too."""
        return self._trainer._next_batch(self)

    def update(self, name: str, loss: torch.Tensor, retain_graph: bool = False) -> float:
        """Backward, clip, check, step the optimiser ``name``; returns the gradient norm."""
        if not torch.isfinite(loss):
            raise NonFiniteError(f"loss of {name!r} is {loss.item()} at step {self.step}")
        opt = self._model.optimizers()[name]
        opt.zero_grad(set_to_none=True)
        loss.backward(retain_graph=retain_graph)
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        clip = self._trainer.config.grad_clip
        norm = torch.nn.utils.clip_grad_norm_(params, clip if clip else float("inf"))
        if not torch.isfinite(norm):
            raise NonFiniteError(f"gradient norm of {name!r} is {norm.item()} at step {self.step}")
        opt.step()
        gnorm = float(norm)
        self.metrics[f"grad_norm_{name}"] = gnorm
        return gnorm


class Trainer:
    """Trains any :class:`GenerativeModel` on encoded tensors ``X`` with labels ``y``."""

    def __init__(self, config: TrainerConfig | None = None, **overrides: Any) -> None:
        base = asdict(config) if config is not None else {}
        base.update(overrides)
        self.config = TrainerConfig(**base)
        self.generator = torch.Generator()
        self.emas: dict[str, EMA] = {}

    # ------------------------------------------------------------------ batches
    def _next_batch(self, ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor]:
        idx, classes = self._sampler.sample(self._batch_size, self.generator)
        weight = self._sampler.class_weight
        ctx.sample_weight = None if weight is None else weight[classes].to(self._device)
        return self._X[idx].to(self._device, non_blocking=True), classes.to(self._device)

    # ------------------------------------------------------------------ state
    def _snapshot(self, model: GenerativeModel) -> dict[str, Any]:
        return {
            "parts": {k: copy.deepcopy(m.state_dict()) for k, m in model.parts().items()},
            "opts": {k: copy.deepcopy(o.state_dict()) for k, o in model.optimizers().items()},
            "emas": {k: copy.deepcopy(e.shadow.state_dict()) for k, e in self.emas.items()},
        }

    def _restore(self, model: GenerativeModel, snap: dict[str, Any]) -> None:
        for k, m in model.parts().items():
            m.load_state_dict(snap["parts"][k])
        for k, o in model.optimizers().items():
            o.load_state_dict(snap["opts"][k])
        for k, e in self.emas.items():
            e.shadow.load_state_dict(snap["emas"][k])

    def _lower_lr(self, model: GenerativeModel) -> None:
        for opt in model.optimizers().values():
            for group in opt.param_groups:
                group["lr"] *= self.config.rollback_lr_factor

    @staticmethod
    def _weights_finite(model: GenerativeModel) -> bool:
        return all(
            bool(torch.isfinite(p).all()) for m in model.parts().values() for p in m.parameters()
        )

    # ------------------------------------------------------------------ main loop
    def fit(self, model: GenerativeModel, X: torch.Tensor, y: torch.Tensor) -> History:
        """Train ``model`` in place and return its :class:`History`."""
        cfg = self.config
        X = torch.as_tensor(X, dtype=torch.float32)
        y = torch.as_tensor(y, dtype=torch.long)
        if X.ndim < 2 or X.shape[0] == 0:
            raise ValueError(f"X must have shape (n_rows, ...) with n_rows > 0, got {tuple(X.shape)}")
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},), got {tuple(y.shape)}")
        if int(y.min()) < 0 or int(y.max()) >= model.n_classes:
            raise ValueError(f"labels must lie in [0, {model.n_classes}), got {int(y.min())}..{int(y.max())}")
        if not torch.isfinite(X).all():
            raise ValueError("X contains NaN or inf; encode missing values before training")

        self._device = resolve_device(cfg.device)
        model.to(self._device)
        self._X = X
        self._sampler = ClassBatchSampler(y, model.n_classes, cfg.sampling, cfg.class_weight)
        self._batch_size = min(cfg.batch_size, max(2, X.shape[0]))
        steps_per_epoch = max(1, math.ceil(X.shape[0] / self._batch_size))
        total = cfg.epochs * steps_per_epoch
        if cfg.max_steps is not None:
            total = min(total, cfg.max_steps) if cfg.epochs else cfg.max_steps
        history = History()
        seed = cfg.random_state if cfg.random_state is not None else int(torch.seed() % 2**31)
        self.generator.manual_seed(seed)
        if cfg.ema:
            self.emas = {k: EMA(m, cfg.ema) for k, m in model.sampling_parts().items()}
        start_step = 0
        if cfg.resume and cfg.checkpoint_path and Path(cfg.checkpoint_path).exists():
            from genbalance.training.checkpoint import load_checkpoint

            start_step, history = load_checkpoint(cfg.checkpoint_path, model, self)
            history.events.append(f"resumed from {cfg.checkpoint_path} at step {start_step}")

        t0 = time.perf_counter() - history.seconds
        ctx = StepContext(self, model)
        snap = self._snapshot(model)
        model.train(True)
        progress = _progress_bar(cfg.progress, total, start_step)
        with torch.random.fork_rng(devices=[]), progress as bar:
            torch.manual_seed(seed + start_step)
            task = bar.add_task("training", total=total, completed=start_step) if bar else None
            step = start_step
            while step < total:
                if cfg.time_budget and time.perf_counter() - t0 > cfg.time_budget:
                    history.stopped_early = f"time budget of {cfg.time_budget:g} s spent at step {step}"
                    history.events.append(history.stopped_early)
                    break
                ctx.step, ctx.progress, ctx.metrics = step, step / max(total, 1), {}
                try:
                    xb, yb = self._next_batch(ctx)
                    out = model.train_step(xb, yb, ctx)
                    if not all(math.isfinite(v) for v in out.values()) or not self._weights_finite(model):
                        raise NonFiniteError(f"non-finite metrics or weights at step {step}: {out}")
                except NonFiniteError as exc:
                    history.rollbacks += 1
                    msg = f"step {step}: {exc}; restored last good state"
                    if cfg.nan_policy == "raise" or history.rollbacks > cfg.max_rollbacks:
                        self._restore(model, snap)
                        raise TrainingDiverged(
                            f"training diverged ({exc}) after {history.rollbacks - 1} rollbacks; "
                            "the model was restored to its last good state. Lower the learning "
                            "rate, enable grad_clip, or use the 'stable' preset."
                        ) from None
                    self._restore(model, snap)
                    self._lower_lr(model)
                    history.events.append(msg + f" and multiplied learning rates by {cfg.rollback_lr_factor}")
                    continue
                for name, ema in self.emas.items():
                    ema.update(model.sampling_parts()[name])
                step += 1
                if step % cfg.snapshot_every == 0:
                    snap = self._snapshot(model)
                if step % cfg.log_every == 0:
                    history.steps.append({"step": step, **out, **ctx.metrics})
                if cfg.checkpoint_path and cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                    self._checkpoint(model, step, history, t0)
                if bar is not None:
                    bar.update(task, advance=1, description=_describe(out))
        model.train(False)
        for name, ema in self.emas.items():
            model.sampling_parts()[name].load_state_dict(ema.shadow.state_dict())
        history.seconds = time.perf_counter() - t0
        if cfg.checkpoint_path:
            self._checkpoint(model, step, history, t0)
        self.steps_done = step
        return history

    def _checkpoint(self, model: GenerativeModel, step: int, history: History, t0: float) -> None:
        from genbalance.training.checkpoint import save_checkpoint

        history.seconds = time.perf_counter() - t0
        save_checkpoint(self.config.checkpoint_path, model, self, step, history)


def _describe(out: dict[str, float]) -> str:
    keys = [k for k in out if k.startswith("loss")][:2]
    return "training " + " ".join(f"{k}={out[k]:.3f}" for k in keys)


class _NullBar:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _progress_bar(enabled: bool, total: int, done: int):
    if not enabled:
        return _NullBar()
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(), transient=False,
    )

