"""The one training loop every generative family runs through.

The trainer owns what is common to all families: class-balanced batches, seeding, device,
gradient clipping, EMA, a time budget, progress, checkpoints, and training health (a NaN or inf
never silently poisons the model: the last good state is restored and the learning rate
lowered, or training stops with a clear message). A family only writes ``train_step``.

Batches come from a :class:`~genbalance.training.sources.BatchSource` (a table in memory, a
stream, or Poisson sampling under DP-SGD); :meth:`Trainer.fit` is set-up, a loop of guarded
steps, and a finish, each its own method.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from genbalance.models.base import GenerativeModel
from genbalance.training.config import TrainerConfig, resolve_device
from genbalance.training.dp import BudgetSpent, PoissonSource, PrivateTraining
from genbalance.training.guards import (
    BarTicker,
    autocast_for,
    check_memory_before,
    check_table,
    memory_over,
    progress_bar,
    record_health,
    weights_finite,
)
from genbalance.training.optim import (
    clear_gradients,
    fastest_updates,
    gradient_norm,
    lr_scale,
    optimizer_step,
    scale_learning_rates,
)
from genbalance.training.snapshots import restore, restore_lowered, snapshot
from genbalance.training.sources import (
    BatchSource,
    ClassSampledSource,
    StreamLike,
    StreamSource,
    is_stream,
)
from genbalance.training.stabilizers import EMA
from genbalance.training.state import History
from genbalance.training.threads import training_threads

__all__ = [
    "History",
    "NonFiniteError",
    "StepContext",
    "Trainer",
    "TrainerConfig",
    "TrainingDiverged",
    "resolve_device",
]


class NonFiniteError(FloatingPointError):
    """A loss, gradient norm or weight became NaN or inf."""


class TrainingDiverged(RuntimeError):
    """Training kept producing NaN/inf after every rollback allowed."""


class StepContext:
    """What a family's ``train_step`` may use: optimiser updates, noise, fresh batches."""

    def __init__(self, trainer: Trainer, model: GenerativeModel) -> None:
        self._trainer = trainer
        self._model = model
        self.generator: torch.Generator = trainer.generator
        self.step = 0
        self.progress = 0.0  # fraction done (of the planned steps or time budget), for annealing
        self.total_steps: int | None = None  # the planned steps (None: a time budget decides)
        self.sample_weight: torch.Tensor | None = None
        self.metrics: dict[str, float] = {}
        # no DP-SGD and no autocast: a family may compute its gradients in closed form and
        # hand them over with apply_gradients (set by the trainer's set-up)
        self.plain = False

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
        """Backward, clip, check, step the optimiser ``name``; returns the gradient norm.

        Where ``plain`` (no DP engine hooked into the backward pass), the backward pass fills
        only this optimiser's parameters: a GAN's generator loss then skips the
        discriminator's weight gradients, which the next critic update would discard anyway.
        """
        self._check_loss(name, loss)
        opt = self._optimizer(name)
        clear_gradients(opt)
        if self.plain:
            params = [p for g in opt.param_groups for p in g["params"] if p.requires_grad]
            loss.backward(retain_graph=retain_graph, inputs=params)
        else:
            loss.backward(retain_graph=retain_graph)
        return self._step(name, opt)

    def apply_gradients(
        self, name: str, loss: torch.Tensor | float, norm: float | None = None
    ) -> float:
        """Clip, check, step the optimiser ``name`` whose parameters' ``.grad`` the family set
        itself (closed-form gradients of ``loss``, only where ``plain``); returns the
        gradient norm. ``norm``, the family's own global norm of those gradients, saves
        computing it again where nothing changes them first (no all-reduce, no clipping)."""
        self._check_loss(name, loss)
        return self._step(name, self._optimizer(name), norm)

    def _check_loss(self, name: str, loss: torch.Tensor | float) -> None:
        # distributed: a NaN spreads through the all-reduce, so every rank sees it there
        if isinstance(loss, torch.Tensor):
            loss = loss.detach()  # float() of a tensor that requires grad warns
        if self._trainer.dist is None and not math.isfinite(value := float(loss)):
            raise NonFiniteError(f"loss of {name!r} is {value} at step {self.step}")

    def _optimizer(self, name: str) -> torch.optim.Optimizer:
        dp = self._trainer._dp
        return (
            dp.optimizers[name] if dp and name in dp.optimizers else self._model.optimizers()[name]
        )

    def _step(
        self, name: str, opt: torch.optim.Optimizer, known_norm: float | None = None
    ) -> float:
        """Average over ranks, clip, check and take the step of gradients already in place
        (``known_norm``: their norm as the family computed it, used where it still holds)."""
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        dist = self._trainer.dist
        if dist is not None:
            dist.all_reduce_grads(params)  # data-parallel: every rank steps on the mean gradient
        clip = self._trainer.config.grad_clip
        if clip:
            norm = torch.nn.utils.clip_grad_norm_(params, clip)
        elif known_norm is not None and dist is None:
            norm = known_norm
        else:  # the norm only (the NaN check and the metric): no rescaling of every gradient
            norm = gradient_norm([p.grad for p in params])
        gnorm = float(norm)  # one conversion serves the check and the metric
        if not math.isfinite(gnorm):
            raise NonFiniteError(f"gradient norm of {name!r} is {gnorm} at step {self.step}")
        optimizer_step(opt)
        self.metrics[f"grad_norm_{name}"] = gnorm
        return gnorm


@dataclass
class _Run:
    """The state of one ``fit``: what the set-up decided and what the loop moves forward."""

    model: GenerativeModel
    X: torch.Tensor  # the table (or a stream's sample) for the health report
    y: torch.Tensor
    total: int | None  # planned steps; None: the time budget decides
    seed: int
    rank: int
    history: History
    start_step: int
    torch_rng: torch.Tensor | None  # a resumed run's global RNG state
    autocast: contextlib.AbstractContextManager
    t0: float
    ctx: StepContext
    snap: dict[str, Any]
    step: int = 0


class Trainer:
    """Trains any :class:`GenerativeModel` on encoded tensors ``X`` with labels ``y``."""

    def __init__(self, config: TrainerConfig | None = None, **overrides: Any) -> None:
        base = asdict(config) if config is not None else {}
        base.update(overrides)
        with warnings.catch_warnings():
            if config is not None and config.epochs == 0 and config.max_steps is not None:
                # the given config already warned about the epochs=0 sentinel; once is enough
                warnings.simplefilter("ignore", DeprecationWarning)
            self.config = TrainerConfig(**base)
        self.generator = torch.Generator()
        self.emas: dict[str, EMA] = {}
        self._dp: PrivateTraining | None = None  # the DP-SGD hook while a private fit runs
        self.dist = None  # distributed.DistContext when data-parallel (set by the caller)
        self._source: BatchSource | None = None  # where the running fit draws its batches
        self._batch_size = 0  # rows a step on this rank (set by the running fit)
        self.data_fingerprint: str | None = None  # of the running fit's table, for checkpoints
        self.class_labels: list[Any] | None = None  # labels by class code, for messages
        self._device = torch.device("cpu")

    # ------------------------------------------------------------------ batches
    def _next_batch(self, ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch on the device; every source's rows get their loss weights here."""
        xb, yb = self._source.next_batch(self._batch_size, self.generator, ctx.step)
        weight = self._source.class_weight
        ctx.sample_weight = None if weight is None else weight[yb].to(self._device)
        return xb.to(self._device, non_blocking=True), yb.to(self._device)

    # ------------------------------------------------------------------ main loop
    def fit(
        self, model: GenerativeModel, X: torch.Tensor | StreamLike, y: torch.Tensor | None
    ) -> History:
        """Train ``model`` in place and return its :class:`History`.

        ``X`` may also be a streaming batch source
        (``genbalance.synthesis.streaming.StreamingSource``, with ``y=None``): batches then
        come from it and only a bounded sample is held.
        """
        run = self._set_up(model, X, y)
        bar_cm = progress_bar(self.config.progress)
        private = self._dp if self._dp is not None else contextlib.nullcontext()
        # the threads cover the post-training work too (EMA, a family's after_training fit,
        # the health check): a small model's second thread next to a busy process made the
        # GAN's 200-step encoder fit take ~40 s instead of ~1 s
        with training_threads(self.config.threads, model, self._batch_size, self._device):
            with torch.random.fork_rng(devices=[]), bar_cm as bar, private:
                if run.torch_rng is not None:
                    torch.set_rng_state(run.torch_rng)  # resume where the checkpoint stopped
                else:
                    torch.manual_seed(run.seed + 7919 * run.rank)
                self._warm_start(run, bar)
                self._loop(run, bar)
                self._end_loop(run)
            return self._finish(run)

    # ------------------------------------------------------------------ set-up
    def _source_for(
        self, model: GenerativeModel, X: Any, y: Any
    ) -> tuple[BatchSource, torch.Tensor, torch.Tensor]:
        """The batch source for what ``fit`` was given, and the checked table it holds."""
        cfg = self.config
        stream = StreamSource(X) if is_stream(X) else None
        if stream is not None:
            if cfg.privacy is not None:
                raise ValueError("privacy (DP-SGD) needs the whole table in memory, not a stream")
            X, y = stream.health_data()
        X = torch.as_tensor(X, dtype=torch.float32)
        y = torch.as_tensor(y, dtype=torch.long)
        check_table(X, y, model.n_classes)
        if stream is not None:
            return stream, X, y
        return ClassSampledSource(X, y, model.n_classes, cfg.sampling, cfg.class_weight), X, y

    def _set_up(self, model: GenerativeModel, X: Any, y: Any) -> _Run:
        """Everything before the first step: source, device, step plan, seeds, privacy, EMA,
        resume, and the first good-state snapshot."""
        cfg = self.config
        source, X, y = self._source_for(model, X, y)
        if cfg.checkpoint_path:  # a checkpoint of a run on other data is refused on resume
            from genbalance.training.checkpoint import data_fingerprint

            self.data_fingerprint = data_fingerprint(X, y)
        self._device = resolve_device(cfg.device)
        model.to(self._device)
        world = self.dist.world_size if self.dist is not None else 1
        rank = self.dist.rank if self.dist is not None else 0
        # data-parallel: each rank takes its share of the batch, so the global batch is unchanged
        self._batch_size = min(max(1, math.ceil(cfg.batch_size / world)), max(2, source.n_rows))
        total = cfg.total_steps(source.steps_per_epoch(self._batch_size, world))
        seed = cfg.random_state if cfg.random_state is not None else int(torch.seed() % 2**31)
        self.generator.manual_seed(seed + 7919 * rank)  # each rank its own batches and noise
        self._dp = None
        if cfg.privacy is not None:  # before EMA: it may swap layers of the sampling parts
            source = self._private_source(model, X, y, total)
        self._source = source
        self._start_emas(model)
        start_step, history, torch_rng = self._resume(model)
        if self.dist is not None:
            self.dist.broadcast_model(model)  # every rank starts from rank 0's weights
        check_memory_before(cfg.memory_budget)
        autocast = autocast_for(cfg.amp, self._device, history)
        t0 = time.perf_counter() - history.seconds
        ctx = StepContext(self, model)
        ctx.plain = self._dp is None and isinstance(autocast, contextlib.nullcontext)
        ctx.total_steps = total
        fastest_updates(model, fused=cfg.privacy is None)
        snap = snapshot(model, self.emas)
        model.train(True)
        return _Run(
            model=model,
            X=X,
            y=y,
            total=total,
            seed=seed,
            rank=rank,
            history=history,
            start_step=start_step,
            torch_rng=torch_rng,
            autocast=autocast,
            t0=t0,
            ctx=ctx,
            snap=snap,
            step=start_step,
        )

    def _private_source(
        self, model: GenerativeModel, X: torch.Tensor, y: torch.Tensor, total: int | None
    ) -> PoissonSource:
        """Start the DP-SGD hook (``self._dp``) and draw batches by Poisson sampling."""
        self._dp = PrivateTraining(
            self.config.privacy, model, X.shape[0], self._batch_size, total, self.generator
        )
        return PoissonSource(self._dp, X, y)

    def _resume(self, model: GenerativeModel) -> tuple[int, History, torch.Tensor | None]:
        """Start step, history and global RNG state of a resumed run (0, a new history, None
        when there is no checkpoint to resume)."""
        cfg = self.config
        if not (cfg.resume and cfg.checkpoint_path and Path(cfg.checkpoint_path).exists()):
            return 0, History(), None
        from genbalance.training.checkpoint import load_checkpoint

        with torch.random.fork_rng(devices=[]):  # keep the caller's global RNG untouched
            start_step, history = load_checkpoint(
                cfg.checkpoint_path, model, self, data=self.data_fingerprint
            )
            torch_rng = torch.get_rng_state()
        history.events.append(f"resumed from {cfg.checkpoint_path} at step {start_step}")
        if self._dp is not None:
            self._dp.resume(history)
        return start_step, history, torch_rng

    def _warm_start(self, run: _Run, bar: Any = None) -> None:
        """The family's ``before_training`` work, on a new run of at least one step
        (``epochs=0`` keeps the weights as they are, e.g. copied ones); the EMA shadows and
        the good-state snapshot then start from the warm-started weights, not random ones."""
        if run.start_step > 0 or run.total == 0:  # resumed, or no training asked for
            return
        # a pulsing bar while a family's own work runs (the dcgan's warm start: seconds)
        own = run.model.has_work_before_training(run.total)
        task = bar.add_task("before training", total=None) if bar is not None and own else None
        try:
            event = run.model.before_training(run.ctx)
        finally:
            if task is not None:
                bar.remove_task(task)
        if event is None:
            return
        run.history.events.append(event)
        if self.dist is not None:
            self.dist.broadcast_model(run.model)  # each rank warmed up on its own batches
        self._start_emas(run.model)
        run.snap = snapshot(run.model, self.emas)

    def _start_emas(self, model: GenerativeModel) -> None:
        """EMA shadows of the sampling parts as they are now (when ``ema`` is on)."""
        if self.config.ema:
            self.emas = {k: EMA(m, self.config.ema) for k, m in model.sampling_parts().items()}

    # ------------------------------------------------------------------ the loop
    def _loop(self, run: _Run, bar: Any) -> None:
        """Guarded steps until the plan, a budget or the privacy accountant says stop."""
        ticker = BarTicker(bar, run.total, run.start_step) if bar is not None else None
        try:
            self._steps(run, ticker)
        finally:
            if ticker is not None:
                ticker.flush()

    def _steps(self, run: _Run, ticker: BarTicker | None) -> None:
        """The steps of :meth:`_loop`; the bar (if any) moves a few times a second."""
        while run.total is None or run.step < run.total:
            out: dict[str, float] | None = None
            stop = self._stop_reason(run)
            if stop is None:
                try:
                    out = self._attempt(run)
                except BudgetSpent as exc:  # DP: an empty Poisson draw used the last step
                    stop = str(exc)
            if stop is not None:
                run.history.stopped_early = stop
                run.history.events.append(stop)
                break
            if out is None:
                continue  # rolled back: the same step again
            self._after_step(run, out)
            if ticker is not None:
                ticker.step(out)

    def _stop_reason(self, run: _Run) -> str | None:
        """Why training must stop before step ``run.step`` (a budget spent), or None."""
        cfg, step = self.config, run.step
        spent = bool(cfg.time_budget) and time.perf_counter() - run.t0 > cfg.time_budget
        if self.dist is not None and cfg.time_budget:
            spent = self.dist.any_flag(spent)  # ranks stop at the same step
        if spent:
            return f"time budget of {cfg.time_budget:g} s spent at step {step}"
        if cfg.memory_budget and step > run.start_step and step % cfg.memory_check_every == 0:
            over = memory_over(cfg.memory_budget, step, self.dist)
            if over:
                return over
        if self._dp is not None and self._dp.exhausted():
            return self._dp.stop_message(step)
        return None

    def _progress(self, run: _Run) -> float:
        """Fraction of training done, for annealing: of the planned steps, or of the time
        budget when only the budget ends training."""
        if run.total is not None:
            return run.step / max(run.total, 1)
        return min(1.0, (time.perf_counter() - run.t0) / self.config.time_budget)

    def _attempt(self, run: _Run) -> dict[str, float] | None:
        """One step; its metrics, or None when a NaN/inf was rolled back (see _roll_back)."""
        ctx = run.ctx
        ctx.step, ctx.progress, ctx.metrics = run.step, self._progress(run), {}
        if self.config.lr_schedule != "constant":
            scale_learning_rates(run.model, lr_scale(self.config.lr_schedule, ctx.progress))
        try:
            xb, yb = self._next_batch(ctx)
            with run.autocast:
                out = run.model.train_step(xb, yb, ctx)
            # the weights are scanned only before they are kept (snapshot, checkpoint, end):
            # finite losses and gradient norms are checked every step, and a finite Adam step
            # cannot make them non-finite; the scan is ~10% of a step
            if not all(math.isfinite(v) for v in out.values()) or (
                self._keeps(run, run.step + 1) and not weights_finite(run.model)
            ):
                raise NonFiniteError(f"non-finite metrics or weights at step {run.step}: {out}")
        except NonFiniteError as exc:
            self._roll_back(run, exc)
            return None
        return out

    def _keeps(self, run: _Run, step: int) -> bool:
        """Whether the state after ``step`` steps is kept (snapshot, checkpoint or the end)."""
        cfg = self.config
        return (
            step % cfg.snapshot_every == 0
            or (run.total is not None and step >= run.total)
            or bool(cfg.checkpoint_every and step % cfg.checkpoint_every == 0)
        )

    def _roll_back(self, run: _Run, exc: NonFiniteError) -> None:
        """Restore the last good state with lower learning rates, or raise
        :class:`TrainingDiverged` when the policy or the rollback limit says so."""
        cfg, history = self.config, run.history
        history.rollbacks += 1
        if cfg.nan_policy == "raise" or history.rollbacks > cfg.max_rollbacks:
            restore(run.model, self.emas, run.snap)
            raise TrainingDiverged(
                f"training diverged ({exc}) after {history.rollbacks - 1} rollbacks; "
                "the model was restored to its last good state. Lower the learning "
                "rate, enable grad_clip, or use the 'stable' preset."
            ) from None
        restore_lowered(run.model, self.emas, run.snap, cfg.rollback_lr_factor)
        history.events.append(
            f"step {run.step}: {exc}; restored last good state and multiplied learning "
            f"rates by {cfg.rollback_lr_factor}"
        )

    def _after_step(self, run: _Run, out: dict[str, float]) -> None:
        """Book-keeping of a good step: EMA, snapshot, metrics and checkpoint every k steps."""
        cfg, model = self.config, run.model
        for name, ema in self.emas.items():
            ema.update(model.sampling_parts()[name])
        run.step += 1
        step = run.step
        if step % cfg.snapshot_every == 0:
            run.snap = snapshot(model, self.emas)
        if step % cfg.log_every == 0:
            run.history.steps.append({"step": step, **out, **run.ctx.metrics})
        if cfg.checkpoint_path and cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            self._checkpoint(model, step, run.history, run.t0)

    # ------------------------------------------------------------------ finish
    def _end_loop(self, run: _Run) -> None:
        """Inside the training context: keep only good weights, write the final checkpoint."""
        model, history = run.model, run.history
        if run.step > run.start_step and not weights_finite(model):
            restore(model, self.emas, run.snap)  # stopped early between scans: keep the good state
            history.events.append(
                f"non-finite weights at step {run.step}; restored last good state"
            )
        # the final checkpoint holds the raw training state (weights that match the Adam
        # moments, EMA shadows apart) and the training RNG, so a resume continues exactly
        if self.config.checkpoint_path:
            self._checkpoint(model, run.step, history, run.t0)

    def _finish(self, run: _Run) -> History:
        """After the loop: eval mode, rank-0 buffers, privacy spent, EMA weights, health (a
        UserWarning naming the classes whose samples collapsed)."""
        cfg, model, history = self.config, run.model, run.history
        model.train(False)
        if self.dist is not None:
            self.dist.sync_buffers(model)  # e.g. BatchNorm running stats: rank 0's everywhere
        if self._dp is not None:
            history.privacy = self._dp.summary()
            self._dp = None
        self._source = None
        for name, ema in self.emas.items():
            model.sampling_parts()[name].load_state_dict(ema.shadow.state_dict())
        if run.step > run.start_step:
            model.after_training(torch.Generator().manual_seed(run.seed + 1))
        history.seconds = time.perf_counter() - run.t0
        writer = self.dist is None or self.dist.is_writer
        if cfg.health_check and run.step > run.start_step and writer:
            record_health(model, run.X, run.y, run.seed, history, self.class_labels)
        self.steps_done = run.step
        return history

    def _checkpoint(self, model: GenerativeModel, step: int, history: History, t0: float) -> None:
        """Write a resumable checkpoint (rank 0 only), with the privacy spent so far."""
        from genbalance.training.checkpoint import save_checkpoint

        if self.dist is not None and not self.dist.is_writer:
            return  # rank 0 alone writes checkpoints
        history.seconds = time.perf_counter() - t0
        if self._dp is not None:
            history.privacy = self._dp.summary()  # a resume continues the accounting
        save_checkpoint(
            self.config.checkpoint_path, model, self, step, history, data=self.data_fingerprint
        )
