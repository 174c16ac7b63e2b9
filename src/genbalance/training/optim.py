"""How the families' optimisers step: the fastest update their Adam allows."""

from __future__ import annotations

import torch

from genbalance.models.base import GenerativeModel

__all__ = ["fastest_updates"]


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
