"""The benchmark's tables: one row per cell and classifier, the per-dataset table built from it,
and what the summary computes on them (pivots, ranks, win/tie/loss, time ratios, markdown).

Shared by :mod:`genbalance.bench.summary` and :mod:`genbalance.bench.significance`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genbalance.bench.evaluate import METRICS

KEY = ["dataset", "sampler", "n_folds", "seed", "fold"]
METRIC_NAMES = {
    "roc_auc": "ROC-AUC",
    "f1": "minority F1",
    "gmean": "G-mean",
    "bal_acc": "balanced accuracy",
}
BASELINE_ORDER = [
    "none",
    "weighted",
    "ros",
    "smote",
    "borderline",
    "adasyn",
    "polyfit",
    "prowsyn",
    "ctgan",
    "forestdiffusion",
]
# the sampler whose claims the significance section tests against every baseline
REFERENCE = "gb-default"


def cells_frame(cells: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per cell and classifier."""
    rows = []
    for c in cells:
        base = {k: c[k] for k in KEY}
        base.update(
            fit_seconds=c["fit_seconds"],
            fallback=bool(c["fallback"]),
            error=c.get("error") or "",
            planned_folds=",".join(str(f) for f in c.get("planned_folds", [c["fold"]])),
        )
        for clf, metrics in c["classifiers"].items():
            rows.append({**base, "classifier": clf, **{m: metrics[m] for m in METRICS}})
    columns = KEY + ["classifier", *METRICS, "fit_seconds", "fallback", "error", "planned_folds"]
    return pd.DataFrame(rows, columns=columns)


def read_stored_cells(source: Path | str | io.StringIO) -> pd.DataFrame:
    """A ``cells.csv`` as written by :func:`genbalance.bench.summary.summarize` (empty errors
    stay empty strings)."""
    frame = pd.read_csv(source, keep_default_na=False)
    frame["fallback"] = frame["fallback"].astype(str).str.lower().eq("true")
    return frame


def merge_cells(cached: pd.DataFrame, stored: pd.DataFrame | None) -> pd.DataFrame:
    """Cache cells, plus stored rows (results/<run>/cells.csv) that the cache no longer has."""
    if stored is None or stored.empty:
        return cached
    # an empty frame (no cache: a fresh clone) would turn every column into object dtype, and
    # stored floats would then be written back as repr() text instead of the float format
    pieces = [f for f in (cached, stored) if not f.empty]
    frame = pd.concat(pieces, ignore_index=True)
    frame[[*METRICS, "fit_seconds"]] = frame[[*METRICS, "fit_seconds"]].astype(float)
    frame["error"] = frame["error"].fillna("").astype(str)
    frame["planned_folds"] = frame["planned_folds"].astype(str)
    return frame.drop_duplicates(KEY + ["classifier"], keep="first").reset_index(drop=True)


def sampler_order(names) -> list[str]:
    names = list(dict.fromkeys(names))
    first = [n for n in BASELINE_ORDER if n in names]
    return first + sorted(n for n in names if n not in BASELINE_ORDER)


def per_dataset(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean over classifiers, folds and seeds per dataset x sampler, with fit time and flags."""
    by_cell = frame.groupby(KEY, as_index=False).agg(
        **{m: (m, "mean") for m in METRICS},
        fit_seconds=("fit_seconds", "first"),
        fallback=("fallback", "first"),
        error=("error", "first"),
        planned_folds=("planned_folds", "first"),
    )
    rows = []
    for (dataset, sampler), g in by_cell.groupby(["dataset", "sampler"], sort=False):
        complete = True
        for _, run in g.groupby(["n_folds", "seed"]):
            planned = {int(f) for f in str(run["planned_folds"].iloc[0]).split(",") if f != ""}
            complete &= planned <= set(run["fold"].astype(int))
        errors = sorted({e for e in g["error"] if e})
        rows.append(
            {
                "dataset": dataset,
                "sampler": sampler,
                # rounded to 12 decimals: means of the same values summed in another order
                # differ in the last bits, which must not break a tie in the ranks
                **{m: round(float(g[m].mean()), 12) for m in METRICS},
                "fit_seconds": g["fit_seconds"].mean(),
                "cells": len(g),
                "fallback_folds": int(g["fallback"].sum()),
                "complete": complete,
                "first_error": errors[0] if errors else "",
            }
        )
    out = pd.DataFrame(rows)
    order = {s: i for i, s in enumerate(sampler_order(out["sampler"]))}
    return out.sort_values(
        ["dataset", "sampler"], key=lambda s: s.map(order) if s.name == "sampler" else s
    )


def wide_table(table: pd.DataFrame, value: str) -> pd.DataFrame:
    return table.pivot(index="dataset", columns="sampler", values=value)


def mean_ranks(table: pd.DataFrame, samplers: list[str]) -> tuple[pd.DataFrame, int]:
    """Mean rank (1 = best, ties averaged) per metric on datasets all ``samplers`` cover."""
    ranks, n = {}, 0
    for m in METRICS:
        wide = wide_table(table, m)[samplers].dropna()
        n = len(wide)
        ranks[m] = wide.rank(axis=1, ascending=False, method="average").mean()
    return pd.DataFrame(ranks).loc[samplers], n


def win_tie_loss(
    table: pd.DataFrame, reference: str, metric: str
) -> dict[str, tuple[int, int, int]]:
    """Per sampler: datasets it beats / ties (equal at 3 decimals) / loses to ``reference``."""
    wide = wide_table(table, metric).round(3)
    out = {}
    for s in wide.columns:
        if s == reference:
            continue
        pair = wide[[s, reference]].dropna()
        diff = pair[s] - pair[reference]
        out[s] = (int((diff > 0).sum()), int((diff == 0).sum()), int((diff < 0).sum()))
    return out


def time_ratio(table: pd.DataFrame, reference: str) -> dict[str, tuple[float, int]]:
    """Median over shared datasets of fit seconds / reference's fit seconds, and how many."""
    wide = wide_table(table, "fit_seconds")
    out = {}
    for s in wide.columns:
        if s == reference:
            out[s] = (1.0, int(wide[s].notna().sum()))
            continue
        pair = wide[[s, reference]].dropna()
        pair = pair[pair[reference] > 0]
        out[s] = (float((pair[s] / pair[reference]).median()) if len(pair) else np.nan, len(pair))
    return out


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return "—" if np.isnan(v) else f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def coverage_groups(done: pd.DataFrame, names: list[str]) -> list[list[str]]:
    """``names`` grouped by the exact set of datasets each covers (first-seen order)."""
    groups: dict[frozenset, list[str]] = {}
    for s in names:
        covered = frozenset(done.loc[done["sampler"] == s, "dataset"])
        groups.setdefault(covered, []).append(s)
    return list(groups.values())
