"""Batch sampling that does not let common classes drown rare ones.

Rows are grouped by class once; each batch then draws a class for every slot (uniformly for
``balanced``, by frequency for ``natural``, by sqrt-frequency for ``sqrt``) and a random row
within that class, all in vectorised tensor ops.
"""

from __future__ import annotations

import torch

SAMPLING = ("balanced", "natural", "sqrt")


class ClassBatchSampler:
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
