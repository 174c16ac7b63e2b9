"""How the families' optimisers step: the fastest update their Adam allows, and the
learning-rate schedule over the run."""

from __future__ import annotations

import math
import weakref

import torch

from genbalance.models.base import GenerativeModel
from genbalance.models.optimizers import is_plain_adam, plain_zero_grad

__all__ = [
    "LR_SCHEDULES",
    "clear_gradients",
    "fastest_updates",
    "gradient_norm",
    "lr_scale",
    "optimizer_step",
    "scale_learning_rates",
]

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


#: optimisers whose settings allow the direct call (checked once: groups keep their options)
_PLAIN_ADAM: weakref.WeakKeyDictionary[torch.optim.Optimizer, bool] = weakref.WeakKeyDictionary()
_OTHER_OPTIONS = ("amsgrad", "maximize", "capturable", "differentiable", "decoupled_weight_decay")


def _plain_fused_adam(opt: torch.optim.Optimizer) -> bool:
    """A torch Adam, fused, with none of the options the direct call leaves out."""
    if not is_plain_adam(opt) or not hasattr(torch, "_fused_adam_"):
        return False
    return all(
        group.get("fused") and not any(group.get(k) for k in _OTHER_OPTIONS)
        for group in opt.param_groups
    )


def _direct_fused_adam(opt: torch.optim.Optimizer) -> bool:
    """Whether ``opt`` is a plain fused Adam that :func:`optimizer_step` may drive itself: no
    option the kernel call below leaves out, no hooks, no gradient scaler, state created."""
    plain = _PLAIN_ADAM.get(opt)
    if plain is None:
        plain = _PLAIN_ADAM[opt] = _plain_fused_adam(opt)
    if not plain:
        return False
    from torch.optim import optimizer as torch_optimizer

    hooks = (
        getattr(opt, "_optimizer_step_pre_hooks", True),
        getattr(opt, "_optimizer_step_post_hooks", True),
        getattr(torch_optimizer, "_global_optimizer_pre_hooks", True),
        getattr(torch_optimizer, "_global_optimizer_post_hooks", True),
    )
    if any(hooks):  # a hook someone registered must run: let torch step
        return False
    if getattr(opt, "grad_scale", None) is not None or getattr(opt, "found_inf", None) is not None:
        return False
    n_params = sum(len(group["params"]) for group in opt.param_groups)
    # a tensor lr, or the first step (torch creates the state), go through torch
    return len(opt.state) == n_params and not any(
        torch.is_tensor(group["lr"]) for group in opt.param_groups
    )


def optimizer_step(opt: torch.optim.Optimizer) -> None:
    """``opt.step()``; for a plain fused Adam, the same kernel on the same tensors without
    ``torch.optim``'s per-call machinery (profiler records, hook and capture checks, grouping
    by device), which cost ~0.15 ms a step, a tenth of a small model's step on CPU. The
    update is the one ``opt.step()`` makes, bit for bit (tested)."""
    if not _direct_fused_adam(opt):
        opt.step()
        return
    with torch.no_grad():
        for group in opt.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            states = [opt.state[p] for p in params]
            steps = [st["step"] for st in states]
            # the tensor-list form: the scalar form converts each 0-dim step on CPU (~4x slower)
            torch._foreach_add_(steps, [steps[0].new_ones(())] * len(steps))
            beta1, beta2 = group["betas"]
            torch._fused_adam_(
                params,
                [p.grad for p in params],
                [st["exp_avg"] for st in states],
                [st["exp_avg_sq"] for st in states],
                [],
                steps,
                amsgrad=False,
                lr=group["lr"],
                beta1=beta1,
                beta2=beta2,
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )


def clear_gradients(opt: torch.optim.Optimizer) -> None:
    """``opt.zero_grad(set_to_none=True)``: every parameter's ``.grad`` set to None. For an
    optimizer that keeps torch's own ``zero_grad`` this is the same loop without its profiler
    record and dynamo wrapper (~0.1 ms a call, a few per cent of a small GAN's step); an
    optimizer with its own ``zero_grad`` (e.g. one that also clears per-sample gradients)
    runs that."""
    if not plain_zero_grad(opt):
        opt.zero_grad(set_to_none=True)
        return
    for group in opt.param_groups:
        for p in group["params"]:
            p.grad = None


def gradient_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """The global L2 norm of ``grads`` (as ``torch.nn.utils.get_total_norm``): one
    multi-tensor norm where the gradients share a device, without its grouping overhead."""
    if not grads:
        return torch.zeros(())
    if hasattr(torch, "_foreach_norm") and len({(g.device, g.dtype) for g in grads}) == 1:
        return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    return torch.nn.utils.get_total_norm(grads)
