"""What a table model file holds besides the weights: settings, classes, label column, history.

Kept apart from :mod:`genbalance.synthesis.tabular` so that the JSON side of the file format is
in one place (readers of older files look here first).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from genbalance.encoders.tabular import TabularEncoder
from genbalance.training.state import History
from genbalance.utils import to_python_scalar


def target_of(y: Any) -> dict[str, Any] | None:
    """The label column's name and dtype when ``y`` carries them (a named Series)."""
    name = getattr(y, "name", None)
    if name is None:
        return None
    return {"name": str(name), "dtype": str(getattr(y, "dtype", "")) or None}


def checked_target(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise ValueError(f"target must be null or {{'name': str, 'dtype': str}}, got {value!r}")
    dtype = value.get("dtype")
    return {"name": value["name"], "dtype": dtype if isinstance(dtype, str) else None}


def privacy_json(privacy: Any) -> dict[str, Any] | None:
    from genbalance.training.dp import DPConfig

    config = DPConfig.coerce(privacy)
    return None if config is None else config.to_json()


def jsonable_history(history: History) -> dict[str, Any]:
    """History without non-finite floats (JSON has no NaN)."""
    data = history.to_json()
    data["steps"] = [
        {k: (v if isinstance(v, (int, float)) and math.isfinite(v) else None) for k, v in s.items()}
        for s in data["steps"]
    ]
    return data


def file_meta(synth: Any, kind: str) -> dict[str, Any]:
    """The JSON header of a fitted table synthesizer's model file (everything but weights)."""
    return {
        "kind": kind,
        "model": synth.model_.get_config(),
        "encoder": synth.encoder_.to_json(),
        "classes": [to_python_scalar(c) for c in synth.classes_],
        "class_counts": synth.class_counts_.tolist(),
        "target": getattr(synth, "target_", None),  # the label column's name and dtype
        "history": jsonable_history(synth.history_),
        "privacy": synth.history_.privacy or None,  # epsilon spent, under DP training
        "transfer": getattr(synth, "transfer_", None),  # what a warm start reused
        "settings": {
            "model": synth.model,
            "preset": synth.preset,
            "random_state": synth.random_state if isinstance(synth.random_state, int) else None,
            "privacy": privacy_json(synth.privacy),
        },
    }


def read_fitted(meta: dict[str, Any]) -> dict[str, Any]:
    """The fitted attributes (``encoder_``, ``classes_``, ...) a model file's header holds;
    KeyError / TypeError / ValueError for a malformed one (the caller names the file)."""
    classes = np.asarray(meta["classes"], dtype=object)
    if all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in classes):
        classes = classes.astype(np.int64)
    transfer = meta.get("transfer")
    return {
        "encoder_": TabularEncoder.from_json(meta["encoder"]),
        "classes_": classes,
        "class_counts_": np.asarray(meta["class_counts"], dtype=np.int64),
        "target_": checked_target(meta.get("target")),
        "history_": History.from_json(meta["history"]),
        "transfer_": transfer if isinstance(transfer, dict) else None,
    }
