"""What a table model file holds besides the weights: settings, classes, label column, history.

Kept apart from :mod:`genbalance.synthesis.tabular` so that the JSON side of the file format is
in one place (readers of older files look here first).
"""

from __future__ import annotations

import math
from typing import Any

from genbalance.training.state import History


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
