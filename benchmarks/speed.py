"""Fit + resample time of the default oversampler next to SMOTE and a classifier, fold by fold.

``python benchmarks/speed.py --datasets dev --out benchmarks/results/speed`` runs, in one
process with one thread (as a fold inside ``cross_validate(n_jobs=...)`` would), for every fold
of every dataset: SMOTE (SMOTENC with nominal columns) fit_resample, genbalance's default
``GenerativeOverSampler`` fit_resample, and HistGradientBoosting fitted on the resampled fold
(the cost a user compares with). It stores one row per fold (``cells.csv``) and a summary
(``summary.md``: median and 95th percentile per fold, the ratios to SMOTE and to the classifier,
the machine's load average next to the timings, and the one-off import cost of the first fit).
Timings are wall-clock seconds measured in the same run, so ratios are comparable even on a
shared machine; absolute numbers move with the load written next to them. ``--also gb-gan``
times further genbalance samplers (bench spec strings) on the same folds, right after the default.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy / torch start their pools

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def first_fit_cost() -> dict[str, float]:
    """Seconds to import the sampler and run the first tiny fit (torch, the optimiser's lazy
    imports): paid once per process, e.g. once per worker of a parallel cross-validation."""
    t0 = time.perf_counter()
    from genbalance import GenerativeOverSampler

    t1 = time.perf_counter()
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=list("abc"))
    y = np.array([0] * 50 + [1] * 10)
    GenerativeOverSampler(random_state=0, trainer_options={"max_steps": 2}).fit_resample(X, y)
    t2 = time.perf_counter()
    return {"import_s": t1 - t0, "first_fit_s": t2 - t1}


def smote_for(X: pd.DataFrame, y: pd.Series, seed: int):
    from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC

    from genbalance.bench.encoding import nominal_columns

    nominal = nominal_columns(X)
    k = int(max(1, min(5, y.value_counts().min() - 1)))
    if not nominal:
        return SMOTE(k_neighbors=k, random_state=seed)
    if len(nominal) == X.shape[1]:
        return SMOTEN(k_neighbors=k, random_state=seed)
    return SMOTENC(categorical_features=nominal, k_neighbors=k, random_state=seed)


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def fold_row(
    name: str, fold: int, X: pd.DataFrame, y: pd.Series, seed: int, also: tuple[str, ...] = ()
) -> dict:
    """One fold: SMOTE, the default oversampler, the classifier on its output, then the
    ``also`` samplers (genbalance spec strings)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from genbalance import GenerativeOverSampler
    from genbalance.bench.encoding import OneHotMinMax
    from genbalance.bench.samplers import parse_gb_spec

    _, smote_s = timed(smote_for(X, y, seed).fit_resample, X, y)
    sampler = GenerativeOverSampler(random_state=seed)
    (X_res, y_res), gb_s = timed(sampler.fit_resample, X, y)
    features = OneHotMinMax().fit(X).transform(X_res)
    clf = HistGradientBoostingClassifier(random_state=seed)
    _, hgb_s = timed(clf.fit, features, np.asarray(y_res))
    steps = len(sampler.synthesizer_.history_.steps)
    row = {
        "dataset": name,
        "fold": fold,
        "rows": len(X),
        "smote_s": smote_s,
        "gb_default_s": gb_s,
        "hgb_fit_s": hgb_s,
        "steps": steps,
        "load_1min": os.getloadavg()[0],
    }
    for spec in also:
        other = GenerativeOverSampler(**{**parse_gb_spec(spec), "random_state": seed})
        _, row[f"{spec}_s"] = timed(other.fit_resample, X, y)
    return row


def run(datasets: list[str], folds: int, seed: int, also: tuple[str, ...] = ()) -> pd.DataFrame:
    from sklearn.model_selection import StratifiedKFold

    from genbalance.data.datasets import load_keel

    rows = []
    for name in datasets:
        X, y = load_keel(name)
        split = StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y)
        for fold, (train, _) in enumerate(split):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rows.append(fold_row(name, fold, X.iloc[train], y.iloc[train], seed, also))
            print(f"{name} fold {fold}: {rows[-1]['gb_default_s']:.2f} s", file=sys.stderr)
    return pd.DataFrame(rows)


def summary(cells: pd.DataFrame, once: dict[str, float], note: str) -> str:
    import torch

    q = cells[["smote_s", "gb_default_s", "hgb_fit_s"]].quantile([0.5, 0.95])
    ratio_smote = (cells.gb_default_s / cells.smote_s).median()
    ratio_hgb = (cells.gb_default_s / cells.hgb_fit_s).median()
    lines = [
        "# Speed: default oversampler per fold (one thread)",
        "",
        f"{note}; torch {torch.__version__}, {len(cells)} folds of "
        f"{cells.dataset.nunique()} datasets, load average (1 min) during the run: "
        f"median {cells.load_1min.median():.2f}, max {cells.load_1min.max():.2f}.",
        "",
        "| seconds per fold | SMOTE | genbalance default | HGB fit on its output |",
        "| --- | ---: | ---: | ---: |",
        f"| median | {q.smote_s[0.5]:.3f} | {q.gb_default_s[0.5]:.2f} | {q.hgb_fit_s[0.5]:.2f} |",
        f"| 95th percentile | {q.smote_s[0.95]:.3f} | {q.gb_default_s[0.95]:.2f} | "
        f"{q.hgb_fit_s[0.95]:.2f} |",
        "",
        f"Median ratio per fold: {ratio_smote:.0f}x SMOTE, {ratio_hgb:.1f}x the classifier's fit; "
        f"median optimiser steps {cells.steps.median():.0f}.",
        f"Once per process: import {once['import_s']:.2f} s, first (2-step) fit "
        f"{once['first_fit_s']:.2f} s (torch's lazy imports).",
        "",
    ]
    others = [c for c in cells.columns if c.endswith("_s") and c.startswith("gb")]
    others = [c for c in others if c != "gb_default_s"]
    if others:
        lines += [
            "| other sampler, seconds per fold | median | 95th percentile | median ratio to "
            "the default |",
            "| --- | ---: | ---: | ---: |",
        ]
        for col in others:
            ratio = (cells[col] / cells.gb_default_s).median()
            lines.append(
                f"| `{col[:-2]}` | {cells[col].median():.2f} | {cells[col].quantile(0.95):.2f} "
                f"| {ratio:.2f}x |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    from genbalance.data.datasets import DEV_SUBSET, keel_names

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="dev", help="'dev', 'all' or a comma list")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="what changed, written in the summary")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/speed")
    parser.add_argument(
        "--also", action="append", default=[], help="another sampler spec to time, e.g. gb-gan"
    )
    args = parser.parse_args()
    names = {"dev": list(DEV_SUBSET), "all": keel_names()}.get(args.datasets)
    names = names or [n.strip() for n in args.datasets.split(",") if n.strip()]
    once = first_fit_cost()
    cells = run(names, args.folds, args.seed, tuple(args.also))
    args.out.mkdir(parents=True, exist_ok=True)
    cells.to_csv(args.out / "cells.csv", index=False)
    text = summary(cells, once, args.note or "genbalance default")
    (args.out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
