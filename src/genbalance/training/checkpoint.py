"""Checkpoints that survive a kill: everything needed to resume, written atomically.

Weights, optimiser moments, EMA shadows and RNG states are tensors (safetensors); step
counters, learning rates and the history are JSON. No pickle anywhere.

A checkpoint also carries the fingerprint of the run that wrote it: the model configuration,
the settings that shape training (batch size, seed, sampling, class weights, clipping, EMA,
privacy) and, when the trainer passes one, a fingerprint of the data (its shape and a hash of
a sample of its rows and labels). A checkpoint of another run -- a leftover of a finished run
on other data, or one written with other settings -- is refused with a message that says what
differs, instead of being "resumed" at its last step with nothing left to train.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import TYPE_CHECKING, Any, Protocol

import torch

from genbalance.files import ModelFileError, load_bundle, save_bundle
from genbalance.training.stabilizers import EMA
from genbalance.training.state import History

if TYPE_CHECKING:
    from genbalance.models.base import GenerativeModel


class TrainingRun(Protocol):
    """The parts of a running trainer a checkpoint saves besides the model: the EMA shadows,
    the trainer's random generator (so that a resumed run draws the same batches) and its
    configuration (whose training-shaping settings are part of the run's fingerprint)."""

    emas: dict[str, EMA]
    generator: torch.Generator
    config: Any


#: the settings of :class:`~genbalance.training.config.TrainerConfig` that change what a run
#: learns: a checkpoint written under other values belongs to another run. The length of
#: training (epochs, max_steps, time_budget) is not among them: resuming to train longer is
#: what a checkpoint is for.
FINGERPRINT_SETTINGS = (
    "batch_size",
    "random_state",
    "sampling",
    "class_weight",
    "grad_clip",
    "ema",
    "privacy",
)
#: rows hashed for the data fingerprint (evenly spaced over the table, first and last included)
FINGERPRINT_ROWS = 1024


def data_fingerprint(X: Any, y: Any) -> str:
    """``"<rows>x<columns>:<hash>"`` of a training table: its shape, its label counts and a
    SHA-256 of up to :data:`FINGERPRINT_ROWS` evenly spaced rows and their labels. Cheap for
    any size (one pass over the labels), and different for a table of other data."""
    X = torch.as_tensor(X)
    y = torch.as_tensor(y, dtype=torch.long).reshape(-1)
    n = int(X.shape[0])
    h = hashlib.sha256(str(tuple(X.shape)).encode())
    if n:
        idx = torch.linspace(0, n - 1, min(n, FINGERPRINT_ROWS)).round().long()
        rows = X[idx].detach().cpu().to(torch.float32).contiguous()
        h.update(rows.numpy().tobytes())
        if y.numel() == n:
            h.update(y[idx].cpu().numpy().tobytes())
            h.update(torch.bincount(y.cpu().clamp_min(0)).numpy().tobytes())
    width = int(X.shape[1]) if X.ndim > 1 else 1
    return f"{n}x{width}:{h.hexdigest()[:32]}"


def run_fingerprint(model: GenerativeModel, trainer: TrainingRun, data: str | None) -> dict:
    """What identifies a training run: model configuration, training settings, data."""
    settings = {}
    for name in FINGERPRINT_SETTINGS:
        value = getattr(trainer.config, name, None)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)  # the metadata JSON holds no NaN or infinity
        settings[name] = json.loads(json.dumps(value, default=str))  # what JSON gives back
    return {"model": model.get_config(), "settings": settings, "data": data}


def _differences(stored: dict, current: dict) -> list[str]:
    """Human-readable ``what: checkpoint -> this run`` lines for a fingerprint mismatch."""
    out = []
    if stored.get("model") != current["model"]:
        out.append("the model configuration")
    old, new = stored.get("settings") or {}, current["settings"]
    for name in FINGERPRINT_SETTINGS:
        if old.get(name) != new.get(name):
            out.append(f"{name} {old.get(name)!r} -> {new.get(name)!r}")
    if stored.get("data") and current["data"] and stored["data"] != current["data"]:
        out.append(f"data {stored['data']} -> {current['data']}")
    return out


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
    path,
    model: GenerativeModel,
    trainer: TrainingRun,
    step: int,
    history: History,
    data: str | None = None,
) -> None:
    """Write everything a resume needs, with the run's fingerprint (``data``: the
    :func:`data_fingerprint` of the training table, when the caller knows it)."""
    tensors = {f"model.{k}": v for k, v in model.state_tensors().items()}
    meta: dict = {
        "kind": "checkpoint",
        "step": step,
        "model": model.get_config(),
        "fingerprint": run_fingerprint(model, trainer, data),
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


def load_checkpoint(
    path, model: GenerativeModel, trainer: TrainingRun, data: str | None = None
) -> tuple[int, History]:
    """Restore a run from ``path`` into ``model`` and ``trainer``; returns the step and the
    history. A checkpoint of another run (model configuration, training settings or, when
    both sides know it, ``data``) is refused with a :class:`ModelFileError` naming what
    differs."""
    meta, tensors = load_bundle(path)
    if meta.get("kind") != "checkpoint":
        raise ModelFileError(f"{path}: not a training checkpoint")
    cfg = model.get_config()
    if meta.get("model") != cfg:
        raise ModelFileError(
            f"{path}: checkpoint was written for a different model configuration; "
            "delete it or train with the same settings to resume"
        )
    stored = meta.get("fingerprint")
    if not isinstance(stored, dict):
        raise ModelFileError(
            f"{path}: checkpoint does not fit this training run: it carries no run "
            "fingerprint (written by an older genbalance), so it cannot be told apart from "
            "another run's; delete it to start afresh"
        )
    differ = _differences(stored, run_fingerprint(model, trainer, data))
    if differ:
        raise ModelFileError(
            f"{path}: checkpoint does not fit this training run: it was written by another "
            f"run ({'; '.join(differ)}); delete it or give another checkpoint path to start "
            "afresh, or train with the same data and settings to resume"
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
