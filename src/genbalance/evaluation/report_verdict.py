"""Plain-language verdicts per class, from the fidelity numbers and one set of thresholds.

Raw metric names (``detection_auc``, ``column_shapes``) mean little to most readers, so each
class gets a headline such as "far from real — detection AUC 0.95: synthetic rows are easy to
tell apart from real ones". The same ``THRESHOLDS`` produce the "how to read" table, so the
table and the verdicts can never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = [
    "FEW_ROWS",
    "LEVELS",
    "NOT_EVALUATED",
    "THRESHOLDS",
    "Threshold",
    "class_verdicts",
    "thresholds_table",
    "verdict",
]

NOT_EVALUATED = "no synthetic rows of this class were evaluated"
FEW_ROWS = 50  # fewer real or synthetic rows than this: the numbers are noisy, say so
LEVELS = ("close to real", "some differences", "far from real")  # best to worst


@dataclass(frozen=True)
class Threshold:
    """How to read one metric: where "close" ends and "far" begins, and what each means."""

    metric: str  # column of the fidelity table
    label: str  # the name readers see
    ideal: float
    close: float  # at or better than this: close to real
    far: float  # worse than this: far from real
    higher_is_better: bool
    meanings: tuple[str, str, str]  # one per level of LEVELS

    def level(self, value: float) -> int:
        """0 (close), 1 (some differences) or 2 (far) for one value of the metric."""
        if self.higher_is_better:
            return 0 if value >= self.close else (1 if value >= self.far else 2)
        return 0 if value <= self.close else (1 if value <= self.far else 2)

    def ranges(self) -> tuple[str, str, str]:
        """The value range of each level, as text."""
        if self.higher_is_better:
            return (f"≥ {self.close:g}", f"{self.far:g} to {self.close:g}", f"< {self.far:g}")
        return (f"≤ {self.close:g}", f"{self.close:g} to {self.far:g}", f"> {self.far:g}")


THRESHOLDS: tuple[Threshold, ...] = (  # in the order a tie is decided
    Threshold(
        "detection_auc",
        "detection AUC",
        0.5,
        0.6,
        0.8,
        False,
        (
            "a classifier can hardly tell synthetic rows from real ones",
            "a classifier tells synthetic rows from real ones better than chance",
            "synthetic rows are easy to tell apart from real ones",
        ),
    ),
    Threshold(
        "column_shapes",
        "column shapes",
        1.0,
        0.9,
        0.75,
        True,
        (
            "each column is distributed as in the real rows",
            "some columns are distributed differently from the real rows",
            "column distributions differ clearly from the real rows",
        ),
    ),
    Threshold(
        "column_pair_trends",
        "pair trends",
        1.0,
        0.9,
        0.75,
        True,
        (
            "relations between pairs of columns are kept",
            "some relations between pairs of columns are lost",
            "relations between columns are largely lost",
        ),
    ),
)


def _finite(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def verdict(row: Any, thresholds: Iterable[Threshold] = THRESHOLDS) -> str:
    """The headline for one fidelity row: the worst level, named by the metric that decides it.

    Metrics that were not computed (NaN: detection off, or too few rows) are skipped and said so.
    """
    scored = [(t, v) for t in thresholds if (v := _finite(row.get(t.metric))) is not None]
    if not scored:
        return "not enough rows to judge"
    worst_t, worst_v = max(scored, key=lambda tv: tv[0].level(tv[1]))  # first of the worst
    level = worst_t.level(worst_v)
    text = f"{LEVELS[level]} — {worst_t.label} {worst_v:.2f}: {worst_t.meanings[level]}"
    caveats = []
    if not any(t.metric == "detection_auc" for t, _ in scored):
        caveats.append("detection not run")
    sizes = [v for k in ("n_real", "n_synthetic") if (v := _finite(row.get(k))) is not None]
    if sizes and min(sizes) < FEW_ROWS:
        caveats.append(f"only {min(sizes):g} rows on one side, so the numbers are noisy")
    return f"{text} ({'; '.join(caveats)})" if caveats else text


def class_verdicts(fidelity: pd.DataFrame | None, classes: Iterable[str]) -> pd.DataFrame:
    """One headline overall and per class; a class without synthetic rows is said so."""
    judged: list[tuple[str, Any]] = []  # (class as shown, fidelity row or None)
    by_class: dict[str, Any] = {}
    for _, row in (fidelity if fidelity is not None else pd.DataFrame()).iterrows():
        if row["scope"] == "overall":
            judged.append(("all classes", row))
        else:
            by_class[str(row["label"])] = row
    names = list(dict.fromkeys([*map(str, classes), *by_class]))
    judged += [(name, by_class.get(name)) for name in names]
    return pd.DataFrame(
        {
            "class": [name for name, _ in judged],
            "verdict": [NOT_EVALUATED if row is None else verdict(row) for _, row in judged],
        }
    )


def thresholds_table(thresholds: Iterable[Threshold] = THRESHOLDS) -> pd.DataFrame:
    """The raw metric names beside plain-language readings of their values."""
    thresholds = list(thresholds)
    table: dict[str, list[str]] = {
        "metric": [t.metric for t in thresholds],
        "ideal": [f"{t.ideal:g}" for t in thresholds],
    }
    for i, level in enumerate(LEVELS):
        table[level] = [f"{t.ranges()[i]}: {t.meanings[i]}" for t in thresholds]
    return pd.DataFrame(table)
