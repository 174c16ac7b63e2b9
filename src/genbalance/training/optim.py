"""How the families' optimisers step: the fastest update their Adam allows, and the
learning-rate schedule over the run."""

from __future__ import annotations

import math

import torch

from genbalance.models.base import GenerativeModel

__all__ = ["LR_SCHEDULES", "fastest_updates", "lr_scale", "scale_learning_rates"]

#: "constant": the families' learning rates throughout; "cosine": annealed to zero along a
#: half cosine over the planned steps (or the time budget), so the last steps average out the
#: noise of small batches instead of jumping around the optimum
LR_SCHEDULES = ("constant", "cosine")


def fastest_updates(model: GenerativeModel, fused: bool) -> None:
    """The fastest optimiser update the families' Adam allows: the fused kernel (one pass per
    parameter, CPU and CUDA; about a quarter of a small model's step saved on CPU), else one
    multi-tensor update instead of a Python loop over parameters. ``fused`` is off under DP
    (Opacus steps the wrapped optimiser itself)."""
    for opt in model.optimizers().values():
        for group in opt.param_groups:
            if fused and isinstance(opt, torch.optim.Adam) and not opt.state:
                if group.get("fused") is None and all(
                    p.dtype == torch.float32 for p in group["params"]
                ):
                    group["fused"], group["foreach"] = True, False
            if "foreach" in group and group["foreach"] is None:
                group["foreach"] = True


def lr_scale(schedule: str, progress: float) -> float:
    """The factor on the families' learning rates at ``progress`` (0 = start, 1 = end)."""
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return 1.0


def scale_learning_rates(model: GenerativeModel, scale: float) -> None:
    """Set every optimiser's learning rates to ``scale`` times their unscheduled value, kept
    in the parameter group as ``lr_base`` (saved with the optimiser's state, so snapshots,
    checkpoints and a resumed run carry it; a NaN rollback lowers it with ``lr``)."""
    for opt in model.optimizers().values():
        for group in opt.param_groups:
            base = group.setdefault("lr_base", group["lr"])
            group["lr"] = base * scale
