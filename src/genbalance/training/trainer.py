"""The one training loop every generative family runs through.

The trainer owns what is common to all families: class-balanced batches, seeding, device,
gradient clipping, EMA, a time budget, progress, checkpoints, and training health (a NaN or inf
never silently poisons the model: the last good state is restored and the learning rate
lowered, or training stops with a clear message). A family only writes ``train_step``.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from genbalance.models.base import GenerativeModel
from genbalance.training.dp import BudgetSpent
from genbalance.training.sources import SAMPLING, ClassBatchSampler
from genbalance.training.stabilizers import EMA
from genbalance.training.state import History


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

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if self.max_steps is not None and self.max_steps < 0:
            raise ValueError(f"max_steps must be >= 0, got {self.max_steps}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.nan_policy not in ("rollback", "raise"):
            raise ValueError(f"nan_policy must be 'rollback' or 'raise', got {self.nan_policy!r}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"grad_clip must be > 0, got {self.grad_clip}")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ValueError(f"time_budget must be > 0 seconds, got {self.time_budget}")
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
        if self.amp not in (False, True, "bf16"):
            raise ValueError(f"amp must be False, True or 'bf16', got {self.amp!r}")
        if self.privacy is not None:
            from genbalance.training.dp import DPConfig

            self.privacy = DPConfig.coerce(self.privacy)


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

    def generator_labels(self, y: torch.Tensor, weight: torch.Tensor | None):
        """Labels (and loss weights) for a generator update: ``y`` itself, except under
        privacy, where they are drawn uniformly so the update never reads real rows."""
        dp = self._trainer._dp
        if dp is None:
            return y, weight
        return dp.generator_labels(self._model.n_classes).to(y.device), None

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh batch (e.g. for extra critic steps); sets ``sample_weight`` too."""
        return self._trainer._next_batch(self)

    def update(self, name: str, loss: torch.Tensor, retain_graph: bool = False) -> float:
        """Backward, clip, check, step the optimiser ``name``; returns the gradient norm."""
        dist = self._trainer.dist
        if dist is None and not torch.isfinite(loss):  # distributed: NaN spreads, all ranks see it
            raise NonFiniteError(f"loss of {name!r} is {loss.item()} at step {self.step}")
        dp = self._trainer._dp
        opt = (
            dp.optimizers[name] if dp and name in dp.optimizers else self._model.optimizers()[name]
        )
        opt.zero_grad(set_to_none=True)
        loss.backward(retain_graph=retain_graph)
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        if dist is not None:
            dist.all_reduce_grads(params)  # data-parallel: every rank steps on the mean gradient
        clip = self._trainer.config.grad_clip
        norm = torch.nn.utils.clip_grad_norm_(params, clip if clip else float("inf"))
        if not torch.isfinite(norm):
            raise NonFiniteError(f"gradient norm of {name!r} is {norm.item()} at step {self.step}")
        opt.step()
        gnorm = float(norm)
        self.metrics[f"grad_norm_{name}"] = gnorm
        return gnorm


def _all_finite(X: torch.Tensor) -> bool:
    """Whether every value of ``X`` is finite, in one reduction for the common case.

    A NaN or inf anywhere makes the sum non-finite; only then (or when finite values overflow
    the sum) is the element-wise check run. ``torch.isfinite(X).all()`` on a 1M x 600 table
    took 13 s on one thread, the sum 0.3 s.
    """
    if X.numel() == 0 or not X.is_floating_point():
        return True
    return bool(torch.isfinite(X.sum())) or bool(torch.isfinite(X).all())


class Trainer:
    """Trains any :class:`GenerativeModel` on encoded tensors ``X`` with labels ``y``."""

    def __init__(self, config: TrainerConfig | None = None, **overrides: Any) -> None:
        base = asdict(config) if config is not None else {}
        base.update(overrides)
        self.config = TrainerConfig(**base)
        self.generator = torch.Generator()
        self.emas: dict[str, EMA] = {}
        self._dp = None  # PrivateTraining while a private fit runs
        self.dist = None  # distributed.DistContext when data-parallel (set by the caller)
        self._source = (
            None  # a streaming batch source (genbalance.synthesis.streaming) instead of X
        )

    # ------------------------------------------------------------------ batches
    def _next_batch(self, ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor]:
        if self._dp is not None:
            return self._dp.next_batch(
                self._X, self._y, self._device, ctx
            )  # Poisson sampling of the whole table
        if self._source is not None:
            xb, classes = self._source.next_batch(self._batch_size, self.generator)
            weight = self._source.class_weight
            ctx.sample_weight = None if weight is None else weight[classes].to(self._device)
            return xb.to(self._device, non_blocking=True), classes.to(self._device)
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

    def _restore_lowered(self, model: GenerativeModel, snap: dict[str, Any]) -> None:
        """Restore ``snap`` but keep lowering the learning rates *in use*.

        The snapshot's optimiser state carries the learning rates of when it was taken; restoring
        it alone would undo earlier lowerings, so repeated rollbacks between two snapshots would
        never get below ``lr * factor``.
        """
        lrs = {k: [g["lr"] for g in o.param_groups] for k, o in model.optimizers().items()}
        self._restore(model, snap)
        for k, opt in model.optimizers().items():
            for group, lr in zip(opt.param_groups, lrs[k], strict=True):
                group["lr"] = lr * self.config.rollback_lr_factor

    @staticmethod
    def _weights_finite(model: GenerativeModel) -> bool:
        # buffers too: a BatchNorm running variance of inf poisons every sample in eval mode
        return all(
            bool(torch.isfinite(t).all())
            for m in model.parts().values()
            for t in (*m.parameters(), *m.buffers())
            if t.is_floating_point()
        )

    # ------------------------------------------------------------------ main loop
    def fit(self, model: GenerativeModel, X: torch.Tensor, y: torch.Tensor) -> History:
        """Train ``model`` in place and return its :class:`History`.

        ``X`` may also be a streaming batch source
        (``genbalance.synthesis.streaming.StreamingSource``, with ``y=None``): batches then
        come from it and only a bounded sample is held.
        """
        cfg = self.config
        self._source = X if hasattr(X, "next_batch") else None
        if self._source is not None:
            if cfg.privacy is not None:
                raise ValueError("privacy (DP-SGD) needs the whole table in memory, not a stream")
            X, y = self._source.health_data()
        X = torch.as_tensor(X, dtype=torch.float32)
        y = torch.as_tensor(y, dtype=torch.long)
        if X.ndim < 2 or X.shape[0] == 0:
            raise ValueError(
                f"X must have shape (n_rows, ...) with n_rows > 0, got {tuple(X.shape)}"
            )
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},), got {tuple(y.shape)}")
        if int(y.min()) < 0 or int(y.max()) >= model.n_classes:
            raise ValueError(
                f"labels must lie in [0, {model.n_classes}), got {int(y.min())}..{int(y.max())}"
            )
        if not _all_finite(X):
            raise ValueError("X contains NaN or inf; encode missing values before training")

        self._device = resolve_device(cfg.device)
        model.to(self._device)
        self._X, self._y = X, y
        self._sampler = ClassBatchSampler(y, model.n_classes, cfg.sampling, cfg.class_weight)
        n_rows = self._source.n_rows if self._source is not None else X.shape[0]
        world = self.dist.world_size if self.dist is not None else 1
        rank = self.dist.rank if self.dist is not None else 0
        # data-parallel: each rank takes its share of the batch, so the global batch is unchanged
        self._batch_size = min(max(1, math.ceil(cfg.batch_size / world)), max(2, n_rows))
        steps_per_epoch = max(1, math.ceil(n_rows / (self._batch_size * world)))
        total = cfg.epochs * steps_per_epoch
        if cfg.max_steps is not None:
            total = min(total, cfg.max_steps) if cfg.epochs else cfg.max_steps
        history = History()
        seed = cfg.random_state if cfg.random_state is not None else int(torch.seed() % 2**31)
        self.generator.manual_seed(seed + 7919 * rank)  # each rank its own batches and noise
        self._dp = None
        if cfg.privacy is not None:  # before EMA: it may swap layers of the sampling parts
            from genbalance.training.dp import PrivateTraining

            self._dp = PrivateTraining(
                cfg.privacy, model, X.shape[0], self._batch_size, total, self.generator
            )
        if cfg.ema:
            self.emas = {k: EMA(m, cfg.ema) for k, m in model.sampling_parts().items()}
        start_step = 0
        torch_rng: torch.Tensor | None = None
        if cfg.resume and cfg.checkpoint_path and Path(cfg.checkpoint_path).exists():
            from genbalance.training.checkpoint import load_checkpoint

            with torch.random.fork_rng(devices=[]):  # keep the caller's global RNG untouched
                start_step, history = load_checkpoint(cfg.checkpoint_path, model, self)
                torch_rng = torch.get_rng_state()
            history.events.append(f"resumed from {cfg.checkpoint_path} at step {start_step}")
            if self._dp is not None:
                self._dp.resume(history)

        if self.dist is not None:
            self.dist.broadcast_model(model)  # every rank starts from rank 0's weights
        _check_memory_before(cfg.memory_budget)
        autocast = _autocast(cfg.amp, self._device, history)
        t0 = time.perf_counter() - history.seconds
        ctx = StepContext(self, model)
        for opt in model.optimizers().values():
            for group in opt.param_groups:
                if "foreach" in group and group["foreach"] is None:
                    group["foreach"] = True  # one multi-tensor update, not a Python loop (CPU too)
        snap = self._snapshot(model)
        model.train(True)
        progress = _progress_bar(cfg.progress, total, start_step)
        private = self._dp if self._dp is not None else contextlib.nullcontext()
        with torch.random.fork_rng(devices=[]), progress as bar, private:
            if torch_rng is not None:
                torch.set_rng_state(torch_rng)  # resume exactly where the checkpoint stopped
            else:
                torch.manual_seed(seed + 7919 * rank)
            task = bar.add_task("training", total=total, completed=start_step) if bar else None
            step = start_step
            while step < total:
                spent = bool(cfg.time_budget) and time.perf_counter() - t0 > cfg.time_budget
                if self.dist is not None and cfg.time_budget:
                    spent = self.dist.any_flag(spent)  # ranks stop at the same step
                if spent:
                    history.stopped_early = (
                        f"time budget of {cfg.time_budget:g} s spent at step {step}"
                    )
                    history.events.append(history.stopped_early)
                    break
                if cfg.memory_budget and step > start_step and step % cfg.memory_check_every == 0:
                    over = _memory_over(cfg.memory_budget, step, self.dist)
                    if over:
                        history.stopped_early = over
                        history.events.append(over)
                        break
                if self._dp is not None and self._dp.exhausted():
                    history.stopped_early = self._dp.stop_message(step)
                    history.events.append(history.stopped_early)
                    break
                ctx.step, ctx.progress, ctx.metrics = step, step / max(total, 1), {}
                try:
                    xb, yb = self._next_batch(ctx)
                    with autocast:
                        out = model.train_step(xb, yb, ctx)
                    # the weights are scanned only before they are kept (snapshot, checkpoint,
                    # end): finite losses and gradient norms are checked every step, and a
                    # finite Adam step cannot make them non-finite; the scan is ~10% of a step
                    nxt = step + 1
                    keep = (
                        nxt % cfg.snapshot_every == 0
                        or nxt >= total
                        or bool(cfg.checkpoint_every and nxt % cfg.checkpoint_every == 0)
                    )
                    if not all(math.isfinite(v) for v in out.values()) or (
                        keep and not self._weights_finite(model)
                    ):
                        raise NonFiniteError(f"non-finite metrics or weights at step {step}: {out}")
                except BudgetSpent as exc:  # DP: an empty Poisson draw used the last step
                    history.stopped_early = str(exc)
                    history.events.append(history.stopped_early)
                    break
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
                    self._restore_lowered(model, snap)
                    history.events.append(
                        msg + f" and multiplied learning rates by {cfg.rollback_lr_factor}"
                    )
                    continue
                for name, ema in self.emas.items():
                    ema.update(model.sampling_parts()[name])
                step += 1
                if step % cfg.snapshot_every == 0:
                    snap = self._snapshot(model)
                if step % cfg.log_every == 0:
                    history.steps.append({"step": step, **out, **ctx.metrics})
                if (
                    cfg.checkpoint_path
                    and cfg.checkpoint_every
                    and step % cfg.checkpoint_every == 0
                ):
                    self._checkpoint(model, step, history, t0)
                if bar is not None:
                    bar.update(task, advance=1, description=_describe(out))
            if step > start_step and not self._weights_finite(model):
                self._restore(model, snap)  # stopped early between scans: keep the good state
                history.events.append(
                    f"non-finite weights at step {step}; restored last good state"
                )
            # the final checkpoint holds the raw training state (weights that match the Adam
            # moments, EMA shadows apart) and the training RNG, so a resume continues exactly
            if cfg.checkpoint_path:
                self._checkpoint(model, step, history, t0)
        model.train(False)
        if self.dist is not None:
            self.dist.sync_buffers(model)  # e.g. BatchNorm running stats: rank 0's everywhere
        if self._dp is not None:
            history.privacy = self._dp.summary()
            self._dp = None
        for name, ema in self.emas.items():
            model.sampling_parts()[name].load_state_dict(ema.shadow.state_dict())
        history.seconds = time.perf_counter() - t0
        if cfg.health_check and step > start_step and (self.dist is None or self.dist.is_writer):
            history.health = _health(model, X, y, seed)
            if history.health.get("any_collapsed"):
                history.events.append(
                    "possible mode collapse in classes "
                    f"{history.health['collapsed_classes']} (see history.health)"
                )
        self.steps_done = step
        return history

    def _checkpoint(self, model: GenerativeModel, step: int, history: History, t0: float) -> None:
        from genbalance.training.checkpoint import save_checkpoint

        if self.dist is not None and not self.dist.is_writer:
            return  # rank 0 alone writes checkpoints
        history.seconds = time.perf_counter() - t0
        if self._dp is not None:
            history.privacy = self._dp.summary()  # a resume continues the accounting
        save_checkpoint(self.config.checkpoint_path, model, self, step, history)


def _check_memory_before(budget: int | None) -> None:
    """A budget already spent before the first step is a setting error, not a training event."""
    if not budget:
        return
    from genbalance.training.resources import format_bytes, rss_bytes

    rss = rss_bytes()
    if rss > budget:
        raise ValueError(
            f"memory_budget of {format_bytes(budget)} is below the {format_bytes(rss)} this "
            "process already holds before training; raise it (e.g. '4GiB') or leave it None"
        )


def _memory_over(budget: int, step: int, dist: Any) -> str | None:
    """The stop message when resident memory passed ``budget`` (on any rank), else None."""
    from genbalance.training.resources import format_bytes, rss_bytes

    rss = rss_bytes()
    over = rss > budget
    if dist is not None:
        over = dist.any_flag(over)  # ranks stop at the same step
    if not over:
        return None
    return (
        f"memory budget of {format_bytes(budget)} passed at step {step} (resident "
        f"{format_bytes(rss)}); stopped with the model trained so far"
    )


def _autocast(amp: bool | str, device: torch.device, history: History):
    """bf16 autocast on CUDA when asked and supported; otherwise a no-op (noted in history).

    bf16 keeps float32's exponent range, so no loss scaling is needed and the NaN rollback
    logic stays valid; fp16 is not offered for that reason.
    """
    if not amp:
        return contextlib.nullcontext()
    if device.type != "cuda":
        msg = f"amp={amp!r} ignored: mixed precision runs on CUDA only (device is {device})"
        warnings.warn(msg, UserWarning, stacklevel=3)
        history.events.append(msg)
        return contextlib.nullcontext()
    if not torch.cuda.is_bf16_supported():
        msg = "amp ignored: this GPU has no bf16 support (fp16 without loss scaling is unsafe)"
        warnings.warn(msg, UserWarning, stacklevel=3)
        history.events.append(msg)
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16)


def _health(model: GenerativeModel, X: torch.Tensor, y: torch.Tensor, seed: int) -> dict:
    """Mode-collapse report with a bounded cost: at most the family's ``health_rows``
    generated rows in all (2048; fewer for sequential samplers), 16 to 256 a class."""
    from genbalance.training.health import diversity_report

    n_classes = int(torch.unique(y).numel())
    n_per_class = max(16, min(256, model.health_rows // max(n_classes, 1)))
    gen = torch.Generator().manual_seed(seed)
    return diversity_report(model, X, y, n_per_class=n_per_class, generator=gen)


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
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        transient=False,
    )
