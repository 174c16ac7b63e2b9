"""Compare one sampler's cells between two stored runs on the datasets both cover.

``python benchmarks/compare_runs.py NEW/cells.csv STORED/cells.csv --sampler gb-default``
prints, per metric, the mean over datasets (folds and classifiers averaged), the per-dataset
win/tie/loss of the new run against the stored one with a Wilcoxon signed-rank p-value, and the
mean rank of the sampler among the stored run's samplers before and after replacing its cells.
Used to state what a change did to the stored benchmark (e.g. benchmarks/results/keel100-speed).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

METRICS = ["roc_auc", "f1", "gmean", "bal_acc"]


def means(cells: pd.DataFrame) -> pd.DataFrame:
    return cells.groupby(["dataset", "sampler"])[METRICS].mean().round(12).reset_index()


def ranks(table: pd.DataFrame, sampler: str) -> dict[str, float]:
    out = {}
    for m in METRICS:
        wide = table.pivot(index="dataset", columns="sampler", values=m)
        out[m] = float(wide.rank(axis=1, ascending=False).mean()[sampler])
    return out


BASELINES = "none,ros,smote,borderline,adasyn,polyfit,prowsyn,ctgan,weighted"


def compare(new: pd.DataFrame, stored: pd.DataFrame, sampler: str, among: list[str]) -> str:
    stored = stored[stored.sampler.isin([*among, sampler])]
    new, stored = means(new[new.sampler == sampler]), means(stored)
    common = sorted(set(new.dataset) & set(stored[stored.sampler == sampler].dataset))
    stored = stored[stored.dataset.isin(common)]
    old = stored[stored.sampler == sampler].set_index("dataset")
    nw = new[new.dataset.isin(common)].set_index("dataset")
    replaced = pd.concat([stored[stored.sampler != sampler], nw.reset_index()])
    before, after = ranks(stored, sampler), ranks(replaced, sampler)
    n_samplers = stored.sampler.nunique()
    lines = [
        f"{sampler}: new run vs stored cells on {len(common)} datasets "
        f"(rank among {n_samplers} samplers)",
        "",
        "| metric | stored | new | W / T / L | Wilcoxon p | rank stored -> new |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in METRICS:
        d = (nw[m] - old.loc[nw.index, m]).round(12)
        p = wilcoxon(d[d != 0]).pvalue if (d != 0).sum() >= 2 else np.nan
        lines.append(
            f"| {m} | {old[m].mean():.4f} | {nw[m].mean():.4f} | "
            f"{(d > 0).sum()} / {(d == 0).sum()} / {(d < 0).sum()} | {p:.2f} | "
            f"{before[m]:.2f} -> {after[m]:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("new", help="cells.csv of the new run")
    parser.add_argument("stored", help="cells.csv of the stored run")
    parser.add_argument("--sampler", default="gb-default")
    parser.add_argument("--among", default=BASELINES, help="the samplers ranked against")
    args = parser.parse_args()
    among = [s.strip() for s in args.among.split(",") if s.strip()]
    print(compare(pd.read_csv(args.new), pd.read_csv(args.stored), args.sampler, among))


if __name__ == "__main__":
    main()
