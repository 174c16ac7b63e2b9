"""ForestDiffusion's partial run against the default, the GAN and the stored baselines.

``python benchmarks/forestdiffusion_ranks.py [--default RUN] [--sampler SPEC] [--gan RUN]``
reads the cells of ``benchmarks/results/keel100-forestdiffusion`` (one seed, smallest tables
first, partial by design), keeps the datasets whose five folds it finished, and prints, on those
datasets only, the mean rank of every sampler per metric (seed 0 cells of the stored keel100
baselines, the default's cells from ``--default`` (the sampler named ``--sampler`` there), the
no-preset GAN from ``--gan``, keel100-gan by default) and the default's per-dataset
win/tie/loss and Wilcoxon signed-rank p against ForestDiffusion.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from scipy.stats import wilcoxon

R = Path(__file__).resolve().parent / "results"
M = ["roc_auc", "gmean", "bal_acc", "f1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--default", default="keel100-draws", help="run holding the default")
    parser.add_argument(
        "--sampler", default="gb-default", help="the default's name in that run (a spec string)"
    )
    parser.add_argument("--gan", default="keel100-gan", help="run holding the GAN's gb-gan cells")
    args = parser.parse_args()
    fd = pd.read_csv(R / "keel100-forestdiffusion" / "cells.csv")
    base = pd.read_csv(R / "keel100" / "cells.csv")
    base = base[(base.seed == 0) & ~base.sampler.str.startswith("gb")]
    default = pd.read_csv(R / args.default / "cells.csv").query("seed == 0")
    default = default[default.sampler == args.sampler].assign(sampler="gb-default")
    gan = pd.read_csv(R / args.gan / "cells.csv").query("seed == 0 and sampler == 'gb-gan'")
    folds = fd.groupby("dataset").fold.nunique()
    complete = folds[folds == 5].index
    cells = pd.concat([base, default, gan, fd])
    means = cells[cells.dataset.isin(complete)].groupby(["dataset", "sampler"])[M].mean()
    print(f"{len(complete)} datasets complete for ForestDiffusion")
    ranks = {m: means[m].unstack().rank(axis=1, ascending=False).mean().round(2) for m in M}
    print(pd.DataFrame(ranks).sort_values("gmean").to_string())
    for m in M:
        wide = means[m].unstack()
        d = (wide["gb-default"] - wide["forestdiffusion"]).round(12)
        p = wilcoxon(d[d != 0]).pvalue
        print(
            f"default vs ForestDiffusion, {m}: {(d > 0).sum()} / {(d == 0).sum()} / "
            f"{(d < 0).sum()}, p {p:.2g}"
        )


if __name__ == "__main__":
    main()
