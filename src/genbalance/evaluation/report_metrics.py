"""The report's numbers: :func:`evaluate_tables` (fidelity, utility, privacy) and their JSON form.

Kept apart from the figures and the page layout so ``genbalance evaluate`` can use the numbers
without pulling in anything that draws.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from genbalance.evaluation import fidelity_report, privacy_report, rebalancing_gain, tstr
from genbalance.evaluation.features import without_ids

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
    progress: Callable[[str], None] | None = None,
    id_columns: Any = "auto",
) -> dict[str, Any]:
    """Fidelity (overall and per class), utility and privacy of ``synth`` against ``real``.

    ``real`` is the data the generator was trained on. With a ``holdout`` (real rows it never
    saw) utility is tested on the holdout, the rebalancing gain is measured, and the privacy
    numbers include the membership-inference attack. Returns
    ``{"fidelity": DataFrame, "utility": {"tstr": DataFrame | None, "rebalancing_gain":
    DataFrame | None, "notes": [...]}, "privacy": dict}``. ``progress``: called with one short
    line as each stage starts and ends (the stages take tens of seconds on a larger table).
    ID columns (``id_columns``: "auto" = the table encoder's rule on ``real_X``, a list, or
    None) are left out of every metric and named in the notes: generated IDs are fresh values
    by design, so comparing them (or training classifiers on them) would measure nothing.
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
    real_X, (synth_X, holdout_X), cat, ids = without_ids(
        real_X, [synth_X, holdout_X], categorical_features, id_columns
    )
    notes: list[str] = []
    if ids:
        notes.append(
            f"ID column(s) {', '.join(map(str, ids))} left out of every metric: generated IDs "
            "are new values by design, never real ones."
        )
    stages = _Stages(progress, 4 if has_holdout else 3)
    detecting = " (with real-vs-synthetic detection)" if detection else ""
    with stages(f"fidelity per class{detecting}"):
        fidelity = fidelity_report(
            real_X,
            synth_X,
            real_y,
            synth_y,
            cat,
            detection=detection,
            random_state=random_state,
            id_columns=None,
            progress=progress,
        )
    tstr_table, gain = _utility(
        stages,
        (real_X, real_y),
        (synth_X, synth_y),
        (holdout_X, holdout_y) if has_holdout else None,
        notes,
        classifiers=classifiers,
        categorical=cat,
        random_state=random_state,
    )
    with stages("privacy: distances" + (" and membership attack" if has_holdout else "")):
        privacy = privacy_report(
            real_X, synth_X, holdout_X if has_holdout else None, cat, random_state, id_columns=None
        )
    if not has_holdout:
        notes.append("The membership-inference attack needs a holdout; not run.")
    return {
        "fidelity": fidelity,
        "utility": {"tstr": tstr_table, "rebalancing_gain": gain, "notes": notes},
        "privacy": privacy,
    }


def _utility(
    stages: _Stages,
    real: tuple[pd.DataFrame, Any],
    synth: tuple[pd.DataFrame, Any],
    holdout: tuple[pd.DataFrame, Any] | None,
    notes: list[str],
    **options: Any,
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """TSTR (on the holdout, else on the training rows) and, with a holdout, the rebalancing
    gain; what was skipped and why goes to ``notes``."""
    classifiers, cat, seed = options["classifiers"], options["categorical"], options["random_state"]
    test_X, test_y = holdout if holdout is not None else real
    tstr_table = gain = None
    with stages("utility: train on synthetic, test on real"):
        if len(np.unique(synth[1])) >= 2:
            tstr_table = tstr(*synth, test_X, test_y, classifiers, cat, seed)
            if holdout is None:
                notes.append("TSTR is tested on the training data itself (no holdout given).")
        else:
            notes.append("TSTR needs synthetic rows of at least two classes; skipped.")
    if holdout is None:
        notes.append("The rebalancing gain needs a holdout (real rows not used in training).")
        return tstr_table, None
    with stages("utility: rebalancing gain"):
        gain = rebalancing_gain(*real, *synth, *holdout, classifiers, cat, random_state=seed)
    return tstr_table, gain


class _Stages:
    """Numbered stage messages for ``progress``: ``[2/4] utility: ...`` as a stage starts and
    ``[2/4] done in 3.1 s`` as it ends; silent without a callback."""

    def __init__(self, progress: Callable[[str], None] | None, total: int) -> None:
        self.say = progress
        self.total = total
        self.done = 0

    def __call__(self, name: str) -> _Stages:
        self.done += 1
        if self.say is not None:
            self.say(f"[{self.done}/{self.total}] {name} ...")
        return self

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        if self.say is not None and exc[0] is None:
            self.say(f"[{self.done}/{self.total}] done in {time.perf_counter() - self.start:.1f} s")


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
