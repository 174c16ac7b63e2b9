"""The report's numbers: :func:`evaluate_tables` (fidelity, utility, privacy) and their JSON form.

Kept apart from the figures and the page layout so ``genbalance evaluate`` can use the numbers
without pulling in anything that draws.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from genbalance.evaluation import fidelity_report, privacy_report, rebalancing_gain, tstr

__all__ = ["clean", "evaluate_tables", "metrics_to_json", "records"]


def evaluate_tables(
    real_X: pd.DataFrame,
    real_y: Any,
    synth_X: pd.DataFrame,
    synth_y: Any,
    holdout_X: pd.DataFrame | None = None,
    holdout_y: Any = None,
    *,
    categorical_features: Any = None,
    classifiers: Mapping[str, Any] | None = None,
    detection: bool = True,
    random_state: int | None = 0,
) -> dict[str, Any]:
    """Fidelity (overall and per class), utility and privacy of ``synth`` against ``real``.

    ``real`` is the data the generator was trained on. With a ``holdout`` (real rows it never
    saw) utility is tested on the holdout, the rebalancing gain is measured, and the privacy
    numbers include the membership-inference attack. Returns
    ``{"fidelity": DataFrame, "utility": {"tstr": DataFrame | None, "rebalancing_gain":
    DataFrame | None, "notes": [...]}, "privacy": dict}``.
    """
    real_y, synth_y = np.asarray(real_y), np.asarray(synth_y)
    if len(real_y) != len(real_X) or len(synth_y) != len(synth_X):
        raise ValueError("each table needs one label per row (real_y / synth_y lengths differ)")
    if len(synth_X) == 0:
        raise ValueError("the synthetic table has no rows; nothing to evaluate")
    has_holdout = holdout_X is not None
    if has_holdout:
        holdout_y = np.asarray(holdout_y)
        if holdout_y is None or len(holdout_y) != len(holdout_X):
            raise ValueError("holdout_y needs one label per holdout row")
    cat = categorical_features
    fidelity = fidelity_report(
        real_X, synth_X, real_y, synth_y, cat, detection=detection, random_state=random_state
    )
    notes: list[str] = []
    test_X, test_y = (holdout_X, holdout_y) if has_holdout else (real_X, real_y)
    tstr_table = None
    if len(np.unique(synth_y)) >= 2:
        tstr_table = tstr(synth_X, synth_y, test_X, test_y, classifiers, cat, random_state)
        if not has_holdout:
            notes.append("TSTR is tested on the training data itself (no holdout given).")
    else:
        notes.append("TSTR needs synthetic rows of at least two classes; skipped.")
    gain = None
    if has_holdout:
        gain = rebalancing_gain(
            real_X,
            real_y,
            synth_X,
            synth_y,
            holdout_X,
            holdout_y,
            classifiers,
            cat,
            random_state=random_state,
        )
    else:
        notes.append("The rebalancing gain needs a holdout (real rows not used in training).")
    privacy = privacy_report(real_X, synth_X, holdout_X if has_holdout else None, cat, random_state)
    if not has_holdout:
        notes.append("The membership-inference attack needs a holdout; not run.")
    return {
        "fidelity": fidelity,
        "utility": {"tstr": tstr_table, "rebalancing_gain": gain, "notes": notes},
        "privacy": privacy,
    }


def clean(value: Any) -> Any:
    """JSON-safe scalars: NaN/inf -> None, numpy -> Python (strict JSON readers refuse NaN)."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def records(frame: pd.DataFrame | None) -> list[dict[str, Any]] | None:
    """A table as JSON records (``None`` stays ``None``: the table was not computed)."""
    if frame is None:
        return None
    return [{str(k): clean(v) for k, v in row.items()} for row in frame.to_dict("records")]


def metrics_to_json(result: Mapping[str, Any]) -> dict[str, Any]:
    """The output of :func:`evaluate_tables` as plain JSON (tables as lists of records)."""
    utility = result["utility"]
    return {
        "fidelity": records(result["fidelity"]),
        "utility": {
            "tstr": records(utility["tstr"]),
            "rebalancing_gain": records(utility["rebalancing_gain"]),
            "notes": list(utility["notes"]),
        },
        "privacy": {k: clean(v) for k, v in result["privacy"].items()},
    }
