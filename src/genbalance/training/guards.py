"""The training loop's guards and reporting: table and weight checks, resource budgets,
mixed precision, the post-training health report and the progress bar.

None of these touch the optimisation itself; they sit beside :mod:`genbalance.training.trainer`
so that the loop reads as the steps of a run.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from typing import Any

import torch

from genbalance.models.base import GenerativeModel
from genbalance.training.state import History
from genbalance.utils import user_stacklevel


def all_finite(X: torch.Tensor) -> bool:
    """Whether every value of ``X`` is finite, in one reduction for the common case.

    A NaN or inf anywhere makes the sum non-finite; only then (or when finite values overflow
    the sum) is the element-wise check run. ``torch.isfinite(X).all()`` on a 1M x 600 table
    took 13 s on one thread, the sum 0.3 s.
    """
    if X.numel() == 0 or not X.is_floating_point():
        return True
    return bool(torch.isfinite(X.sum())) or bool(torch.isfinite(X).all())


def check_table(X: torch.Tensor, y: torch.Tensor, n_classes: int) -> None:
    """Refuse a table the model cannot learn from, before any training state is touched."""
    if X.ndim < 2 or X.shape[0] == 0:
        raise ValueError(f"X must have shape (n_rows, ...) with n_rows > 0, got {tuple(X.shape)}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {tuple(y.shape)}")
    if int(y.min()) < 0 or int(y.max()) >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes}), got {int(y.min())}..{int(y.max())}")
    if not all_finite(X):
        raise ValueError("X contains NaN or inf; encode missing values before training")


def weights_finite(model: GenerativeModel) -> bool:
    """Whether every weight and buffer is finite.

    Buffers too: a BatchNorm running variance of inf poisons every sample in eval mode.
    """
    return all(
        bool(torch.isfinite(t).all())
        for m in model.parts().values()
        for t in (*m.parameters(), *m.buffers())
        if t.is_floating_point()
    )


def check_memory_before(budget: int | None) -> None:
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


def memory_over(budget: int, step: int, dist: Any) -> str | None:
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


def autocast_for(
    amp: bool | str, device: torch.device, history: History
) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when asked and supported; otherwise a no-op (noted in history).

    bf16 keeps float32's exponent range, so no loss scaling is needed and the NaN rollback
    logic stays valid; fp16 is not offered for that reason.
    """
    if not amp:
        return contextlib.nullcontext()
    if device.type != "cuda":
        msg = f"amp={amp!r} ignored: mixed precision runs on CUDA only (device is {device})"
        warnings.warn(msg, UserWarning, stacklevel=user_stacklevel())
        history.events.append(msg)
        return contextlib.nullcontext()
    if not torch.cuda.is_bf16_supported():
        msg = "amp ignored: this GPU has no bf16 support (fp16 without loss scaling is unsafe)"
        warnings.warn(msg, UserWarning, stacklevel=user_stacklevel())
        history.events.append(msg)
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16)


#: generated rows of the health check in all, and per class (at most). Measured cost on one
#: CPU thread: 2-3 ms for a 2-class table (pima: VAE, GAN); for the 10 classes of 8x8 digits
#: 10-16 ms (flat VAE, GAN), 47-69 ms (conv-vae, dcgan), 0.58 s (diffusion, 100 reverse
#: steps); generating the rows is most of it
HEALTH_ROWS = 1024
HEALTH_ROWS_PER_CLASS = 128


def health_report(model: GenerativeModel, X: torch.Tensor, y: torch.Tensor, seed: int) -> dict:
    """Mode-collapse report (``training.health.diversity_report``) with a bounded cost: at
    most :data:`HEALTH_ROWS` generated rows in all (fewer when the family's ``health_rows``
    says it samples slowly), 16 to :data:`HEALTH_ROWS_PER_CLASS` a class, as many real rows."""
    from genbalance.training.health import diversity_report

    n_classes = int(torch.unique(y).numel())
    budget = min(HEALTH_ROWS, model.health_rows)
    n_per_class = max(16, min(HEALTH_ROWS_PER_CLASS, budget // max(n_classes, 1)))
    gen = torch.Generator().manual_seed(seed)
    return diversity_report(model, X, y, n_per_class=n_per_class, generator=gen)


def describe(out: dict[str, float]) -> str:
    """The progress bar's description: the first two losses of the step."""
    keys = [k for k in out if k.startswith("loss")][:2]
    return "training " + " ".join(f"{k}={out[k]:.3f}" for k in keys)


class BarTicker:
    """Advances a rich progress bar by the steps taken, at most every ``min_interval`` seconds.

    Updating the bar on every step (rich's lock and speed estimate, a description formatted
    from the step's losses) cost the README's GAN example ~2 s of its ~10 s in a terminal;
    a person cannot read more than a few updates a second anyway.
    """

    def __init__(self, bar: Any, total: int | None, completed: int, min_interval: float = 0.2):
        self.bar, self.min_interval = bar, min_interval
        self.task = bar.add_task("training", total=total, completed=completed)
        self.pending, self.last = 0, time.monotonic()
        self.latest: dict[str, float] = {}

    def step(self, out: dict[str, float]) -> None:
        """One step taken (``out``: its losses, shown when the bar moves)."""
        self.pending += 1
        self.latest = out
        now = time.monotonic()
        if now - self.last >= self.min_interval:
            self.flush()
            self.last = now

    def flush(self) -> None:
        """Show every step taken so far (at the end of training)."""
        if self.pending:
            self.bar.update(self.task, advance=self.pending, description=describe(self.latest))
            self.pending = 0


REFRESH_PER_SECOND = 4  # rich redraws the bar this often (its default 10)


def progress_bar(enabled: bool) -> contextlib.AbstractContextManager:
    """A rich progress bar (entered, it is the bar), or a context that gives None."""
    if not enabled:
        return contextlib.nullcontext()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),  # "3/800"; "3/?" for a task without a known total
        TimeRemainingColumn(),
        transient=False,
        refresh_per_second=REFRESH_PER_SECOND,
    )


def record_health(
    model: GenerativeModel,
    X: torch.Tensor,
    y: torch.Tensor,
    seed: int,
    history: History,
    class_labels: list[Any] | None = None,
) -> None:
    """Store the post-training health report in ``history.health`` and warn (naming the
    classes by label when ``class_labels``, indexed by code, is given) about mode collapse."""
    from genbalance.training.health import collapse_message

    history.health = health_report(model, X, y, seed)
    if history.health.get("any_collapsed"):
        message = collapse_message(history.health, class_labels)
        history.events.append(message)
        warnings.warn(message, UserWarning, stacklevel=user_stacklevel())
