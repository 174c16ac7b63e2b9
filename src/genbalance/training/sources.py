"""Where the trainer's batches come from: one protocol, one implementation per kind of data.

The loop only ever asks a :class:`BatchSource` for the next batch, the number of rows (for
steps per epoch) and the per-class loss weights, so a new way of drawing batches is a new class
here, not another branch in the trainer. Implementations:

- :class:`ClassSampledSource`: a table held in memory, drawn by :class:`ClassBatchSampler`;
- :class:`StreamSource`: an adapter for a streaming source as passed to ``Trainer.fit``
  (``genbalance.synthesis.streaming.StreamingSource``; duck-typed, so that training never
  imports the synthesis stage above it);
- :class:`genbalance.training.dp.PoissonSource`: Poisson sampling for DP-SGD.

:class:`ClassBatchSampler` keeps common classes from drowning rare ones: rows are grouped by
class once; each batch then draws a class for every slot (uniformly for ``balanced``, by
frequency for ``natural``, by sqrt-frequency for ``sqrt``) and a random row within that class,
all in vectorised tensor ops.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch

SAMPLING = ("balanced", "natural", "sqrt")


@runtime_checkable
class BatchSource(Protocol):
    """What the training loop needs from its data: batches, a row count and loss weights.

    ``next_batch`` returns rows and their class labels on the host; the trainer moves them to
    its device and takes each row's loss weight from ``class_weight[labels]``.
    """

    n_rows: int  # rows of the whole table (a stream's file, not its sample)

    @property
    def class_weight(self) -> torch.Tensor | None:
        """Per-class loss weights that undo the sampling skew, or None (all ones)."""
        ...

    def steps_per_epoch(self, batch_size: int, world_size: int = 1) -> int:
        """Optimiser steps of one pass over the table when each of ``world_size`` ranks draws
        ``batch_size`` rows a step."""
        ...

    def next_batch(
        self, batch_size: int, generator: torch.Generator, step: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows ``(n, ...)`` and their labels ``(n,)`` of one batch; ``step`` is the trainer's
        step (for messages)."""
        ...

    def health_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A table held in memory (all rows, or a bounded sample) for the checks after training."""
        ...


class StreamLike(Protocol):
    """A streaming batch source as callers pass it to ``Trainer.fit`` today."""

    n_rows: int
    class_weight: torch.Tensor | None

    def next_batch(
        self, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def health_data(self) -> tuple[torch.Tensor, torch.Tensor]: ...


def epoch_steps(n_rows: int, batch_size: int, world_size: int = 1) -> int:
    """Steps of one pass: the global batch is ``batch_size * world_size`` rows; at least one."""
    return max(1, math.ceil(n_rows / (batch_size * world_size)))


def is_stream(data: object) -> bool:
    """Whether ``fit`` was given a streaming source rather than a table (duck-typed)."""
    return hasattr(data, "next_batch")


class ClassBatchSampler:
    """Row indices for class-balanced (or natural / sqrt-frequency) batches of a label vector."""

    def __init__(
        self, y: torch.Tensor, n_classes: int, mode: str = "balanced", class_weight=None
    ) -> None:
        if mode not in SAMPLING:
            raise ValueError(f"unknown sampling {mode!r}; accepted: {', '.join(SAMPLING)}")
        y = y.long().cpu()
        self.order = torch.argsort(y, stable=True)
        self.counts = torch.bincount(y, minlength=n_classes)
        self.starts = torch.cumsum(self.counts, 0) - self.counts
        present = (self.counts > 0).double()
        if mode == "balanced":
            probs = present
        elif mode == "natural":
            probs = self.counts.double()
        else:
            probs = self.counts.double().sqrt()
        self.class_probs = probs / probs.sum()
        # loss weights that make every present class weigh the same in the expected loss:
        # w_c = 1 / (K p_c), so that sum_c p_c w_c = 1 (all ones under balanced sampling)
        self.class_weight = None
        if class_weight == "balanced":
            k = present.sum()
            w = torch.where(present > 0, 1.0 / (k * self.class_probs).clamp_min(1e-12), 0.0)
            self.class_weight = w.float()
        elif class_weight is not None:
            raise ValueError(f"class_weight must be None or 'balanced', got {class_weight!r}")

    def sample(
        self, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Row indices and their classes for one batch."""
        classes = torch.multinomial(
            self.class_probs, batch_size, replacement=True, generator=generator
        )
        offsets = (
            torch.rand(batch_size, generator=generator, dtype=torch.float64) * self.counts[classes]
        ).long()
        return self.order[self.starts[classes] + offsets], classes


class ClassSampledSource:
    """A :class:`BatchSource` over a table in memory, drawn by :class:`ClassBatchSampler`."""

    def __init__(
        self,
        X: torch.Tensor,
        y: torch.Tensor,
        n_classes: int,
        sampling: str = "balanced",
        class_weight: str | None = None,
    ) -> None:
        self.X, self.y = X, y
        self.n_rows = int(X.shape[0])
        self.sampler = ClassBatchSampler(y, n_classes, sampling, class_weight)

    @property
    def class_weight(self) -> torch.Tensor | None:
        return self.sampler.class_weight

    @property
    def class_counts(self) -> torch.Tensor:
        """Rows per class."""
        return self.sampler.counts

    def steps_per_epoch(self, batch_size: int, world_size: int = 1) -> int:
        return epoch_steps(self.n_rows, batch_size, world_size)

    def next_batch(
        self, batch_size: int, generator: torch.Generator, step: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        idx, classes = self.sampler.sample(batch_size, generator)
        return self.X[idx], classes

    def health_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.X, self.y


class StreamSource:
    """A :class:`BatchSource` that adapts a streaming source (see :class:`StreamLike`).

    The stream keeps its own class sampling and weights (it was built with the trainer's
    ``sampling`` and ``class_weight``); only a bounded sample is ever held in memory.
    """

    def __init__(self, stream: StreamLike) -> None:
        self.stream = stream
        self.n_rows = stream.n_rows

    @property
    def class_weight(self) -> torch.Tensor | None:
        return self.stream.class_weight

    def steps_per_epoch(self, batch_size: int, world_size: int = 1) -> int:
        return epoch_steps(self.n_rows, batch_size, world_size)

    def next_batch(
        self, batch_size: int, generator: torch.Generator, step: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.stream.next_batch(batch_size, generator)

    def health_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.stream.health_data()
