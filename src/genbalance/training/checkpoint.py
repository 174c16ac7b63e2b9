"""Checkpoints that survive a kill: everything needed to resume, written atomically.

Weights, optimiser moments, EMA shadows and RNG states are tensors (safetensors); step
counters, learning rates and the history are JSON. No pickle anywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import torch

from genbalance.files import ModelFileError, load_bundle, save_bundle
from genbalance.training.stabilizers import EMA
from genbalance.training.state import History

if TYPE_CHECKING:
    from genbalance.models.base import GenerativeModel


class TrainingRun(Protocol):
    """The parts of a running trainer a checkpoint saves besides the model: the EMA shadows
    and the trainer's random generator (so that a resumed run draws the same batches)."""

    emas: dict[str, EMA]
    generator: torch.Generator


def _optimizer_to_flat(prefix: str, opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state = opt.state_dict()
    groups = []
    for g in state["param_groups"]:
        groups.append({k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()})
    meta[prefix] = {"param_groups": groups, "state_keys": {}}
    for pid, pstate in state["state"].items():
        keys = []
        for key, value in pstate.items():
            t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"{prefix}.{pid}.{key}"] = t
            keys.append(key)
        meta[prefix]["state_keys"][str(pid)] = keys


def _optimizer_from_flat(
    prefix: str, opt: torch.optim.Optimizer, tensors: dict, meta: dict
) -> None:
    info = meta[prefix]
    state = {
        int(pid): {k: tensors[f"{prefix}.{pid}.{k}"] for k in keys}
        for pid, keys in info["state_keys"].items()
    }
    groups = []
    for g in info["param_groups"]:
        groups.append({k: (tuple(v) if k == "betas" else v) for k, v in g.items()})
    opt.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(
    path, model: GenerativeModel, trainer: TrainingRun, step: int, history: History
) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_tensors().items()}
    meta: dict = {
        "kind": "checkpoint",
        "step": step,
        "model": model.get_config(),
        "history": history.to_json(),
        "optimizers": {},
    }
    for name, opt in model.optimizers().items():
        _optimizer_to_flat(f"opt.{name}", opt, tensors, meta["optimizers"])
    for name, ema in trainer.emas.items():
        for k, v in ema.shadow.state_dict().items():
            tensors[f"ema.{name}.{k}"] = v
    tensors["rng.trainer"] = trainer.generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    save_bundle(path, meta, tensors)


def load_checkpoint(path, model: GenerativeModel, trainer: TrainingRun) -> tuple[int, History]:
    meta, tensors = load_bundle(path)
    if meta.get("kind") != "checkpoint":
        raise ModelFileError(f"{path}: not a training checkpoint")
    cfg = model.get_config()
    if meta["model"] != cfg:
        raise ModelFileError(
            f"{path}: checkpoint was written for a different model configuration; "
            "delete it or train with the same settings to resume"
        )
    try:  # a file whose checksum matches can still be crafted: every failure is a file error
        model.load_state_tensors({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        for name, opt in model.optimizers().items():
            _optimizer_from_flat(f"opt.{name}", opt, tensors, meta["optimizers"])
            for st in opt.state.values():
                for k, v in st.items():
                    if isinstance(v, torch.Tensor) and k != "step":
                        st[k] = v.to(model.device)
        for name, ema in trainer.emas.items():
            prefix = f"ema.{name}."
            ema.shadow.load_state_dict(
                {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            )
        trainer.generator.set_state(tensors["rng.trainer"])
        torch.set_rng_state(tensors["rng.torch"])
        step, history = int(meta["step"]), History.from_json(meta["history"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: checkpoint does not fit this training run ({exc})") from None
    if step < 0:
        raise ModelFileError(f"{path}: checkpoint step {step} is negative")
    return step, history
