"""Pool runs made with different seeds into one summary (BENCHMARK.md: "repeat with 3 seeds").

The stored run ``keel100`` (seed 0) also holds CTGAN and the other families, which did not run
again; a second seed ran as its own run (``keel100-seed1``) so that no table mixes samplers
measured on one seed with samplers measured on two. This script keeps the samplers every given
run covers, averages each dataset's metrics over the runs (one seed each, the same number of
folds, so every seed weighs the same) and writes the usual summary for the pooled table,
significance tests included (Friedman, Nemenyi, Holm and Wilcoxon on the pooled per-dataset
values: a dataset is one block whatever the number of seeds).

Run: ``.venv/bin/python benchmarks/seeds.py keel100 keel100-seed1 --out keel100-seeds0-1``
(seconds; reads benchmarks/results/<run>/per_dataset.csv, writes summary.md, ranks.png and
cd_<metric>.png under benchmarks/results/<out>/).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from genbalance.bench.evaluate import METRICS
from genbalance.bench.summary import summarize_table
from genbalance.files import atomic_write_bytes

RESULTS = Path(__file__).resolve().parent / "results"


def pool_runs(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Per-dataset rows of the samplers and datasets all ``tables`` share, averaged over them.

    A (dataset, sampler) pair is complete only where it is complete in every table; cells and
    fallback folds add up; metrics and fit time are means. Each table holds one row per pair
    (a per_dataset.csv), so a pair every run has appears ``len(tables)`` times.
    """
    if len(tables) < 2:
        raise ValueError(f"pooling needs at least 2 runs, got {len(tables)}")
    keys = ["dataset", "sampler"]
    means = {m: (m, "mean") for m in [*METRICS, "fit_seconds"]}
    pooled = (
        pd.concat(tables, ignore_index=True)
        .groupby(keys, as_index=False)
        .agg(
            runs=("sampler", "size"),
            **means,
            cells=("cells", "sum"),
            fallback_folds=("fallback_folds", "sum"),
            complete=("complete", "all"),
        )
    )
    pooled = pooled[pooled["runs"] == len(tables)].drop(columns="runs")  # pairs every run has
    if pooled.empty:
        raise ValueError("the runs share no (dataset, sampler) pair")
    return pooled.reset_index(drop=True)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run names under benchmarks/results/")
    parser.add_argument("--out", required=True, help="name of the pooled summary's folder")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    tables = []
    for run in args.runs:
        path = args.results_dir / run / "per_dataset.csv"
        if not path.is_file():
            parser.error(f"no per_dataset.csv for run {run!r} at {path}")
        tables.append(pd.read_csv(path, keep_default_na=False))
    out = args.results_dir / args.out
    out.mkdir(parents=True, exist_ok=True)
    protocol = f"Pooled from runs {', '.join(args.runs)} (one seed each; metrics averaged)."
    text = summarize_table(pool_runs(tables), args.out, out, protocol)
    atomic_write_bytes(out / "summary.md", text.encode())
    return out


if __name__ == "__main__":
    print(main())
