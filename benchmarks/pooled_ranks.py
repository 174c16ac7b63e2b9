"""Pooled seeds: one sampler's new cells against the stored baselines' cells.

``python benchmarks/pooled_ranks.py [--runs keel100-current,keel100-current-seed1]
[--stored keel100,keel100-seed1] [--out F]`` prints, per metric, the mean rank of every
sampler over (dataset, seed) pairs, and the per-dataset win/tie/loss and Wilcoxon signed-rank p
of the default (its gb-default cells from ``--runs``, any seeds) against ProWSyn, SMOTE and
class weighting (the baselines' cells from ``--stored``: by default the stored keel100 and
keel100-seed1 runs, seeds 0 and 1). Only the seeds both sides have are pooled. ``--out``
also writes the lines as Markdown (e.g. benchmarks/results/keel100-current-seed1/pooled.md).
``--sampler gb-gan`` makes another sampler of ``--runs`` the focal one, and ``--extra
keel100-fast:gb-default`` ranks a further sampler's cells beside the baselines (e.g. the GAN
against the default VAE too).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from scipy.stats import wilcoxon

M = ["roc_auc", "f1", "gmean", "bal_acc"]
BASE = ["none", "ros", "smote", "borderline", "adasyn", "polyfit", "prowsyn", "weighted"]
R = Path(__file__).resolve().parent / "results"
STORED = "keel100,keel100-seed1"


def pooled_lines(
    runs: list[str],
    stored_runs: list[str],
    focal: str = "gb-default",
    extra: tuple[tuple[str, str], ...] = (),
) -> list[str]:
    stored = pd.concat([pd.read_csv(R / run / "cells.csv") for run in stored_runs])
    cur = pd.concat([pd.read_csv(R / run / "cells.csv") for run in runs])
    cur = cur[cur.sampler == focal]
    others = [pd.read_csv(R / run / "cells.csv").query("sampler == @name") for run, name in extra]
    stored = pd.concat([stored[stored.sampler.isin(BASE)], *others])
    stored = stored[stored.seed.isin(cur.seed.unique())]
    cur = cur[cur.seed.isin(stored.seed.unique())]
    t = pd.concat([stored, cur]).groupby(["dataset", "seed", "sampler"])[M].mean()
    t = t.round(12).reset_index()
    lines = []
    for m in M:
        w = t.pivot(index=["dataset", "seed"], columns="sampler", values=m)
        w = w[w[focal].notna()]  # only the (dataset, seed) pairs the focal sampler ran
        r = w.rank(axis=1, ascending=False).mean().sort_values()
        per_dataset = w.groupby(level="dataset").mean()
        line = f"{m}: ranks " + ", ".join(f"{k} {v:.2f}" for k, v in r.items())
        for name, base, fmt in (
            ("ProWSyn", "prowsyn", ".3f"),
            ("SMOTE", "smote", ".2g"),
            ("weighted", "weighted", ".2g"),
        ):
            diff = per_dataset[focal] - per_dataset[base]
            wtl = f"{(diff > 0).sum()}/{(diff == 0).sum()}/{(diff < 0).sum()}"
            line += f"; vs {name} {wtl} p {format(wilcoxon(diff[diff != 0]).pvalue, fmt)}"
        lines.append(line)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="keel100-current,keel100-current-seed1")
    parser.add_argument("--stored", default=STORED, help="runs holding the baselines' cells")
    parser.add_argument("--out", type=Path, default=None, help="also write Markdown here")
    parser.add_argument("--sampler", default="gb-default", help="the focal sampler of --runs")
    parser.add_argument(
        "--extra", action="append", default=[], help="RUN:SAMPLER ranked beside the baselines"
    )
    args = parser.parse_args()
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    stored = [r.strip() for r in args.stored.split(",") if r.strip()]
    extra = tuple(tuple(e.split(":", 1)) for e in args.extra)
    lines = pooled_lines(runs, stored, args.sampler, extra)
    print("\n".join(lines))
    if args.out is not None:
        n = len(BASE) + 1 + len({name for _, name in extra})  # one sampler over several runs
        head = (
            f"# Pooled seeds: {args.sampler} against the stored baselines\n\n"
            f"Per-(dataset, seed) ranks among {n} samplers (no CTGAN), averaged; per-dataset "
            "win/tie/loss and Wilcoxon signed-rank p on the mean over the seeds. Cells: "
            f"{', '.join(runs)} ({args.sampler}), {', '.join(stored)} (baselines)"
            + "".join(f", {run} ({name})" for run, name in extra)
            + ".\n\n"
        )
        args.out.write_text(head + "".join(f"- {line}\n" for line in lines))


if __name__ == "__main__":
    main()
