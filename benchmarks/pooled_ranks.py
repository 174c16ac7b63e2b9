"""Pooled seeds 0 and 1: one sampler's new cells against the stored baselines' cells.

``python benchmarks/pooled_ranks.py`` prints, per metric, the mean rank of every sampler over
(dataset, seed) pairs, and the per-dataset win/tie/loss and Wilcoxon signed-rank p of the default
(its cells from keel100-current and keel100-current-seed1) against ProWSyn, SMOTE and class
weighting (their cells from the stored keel100 and keel100-seed1 runs). Written to
benchmarks/results/keel100-current-seed1/pooled.md.
"""

from pathlib import Path

import pandas as pd
from scipy.stats import wilcoxon

M = ["roc_auc", "f1", "gmean", "bal_acc"]
base = ["none", "ros", "smote", "borderline", "adasyn", "polyfit", "prowsyn", "weighted"]
R = str(Path(__file__).resolve().parent / "results") + "/"
st = pd.concat([pd.read_csv(R + "keel100/cells.csv"), pd.read_csv(R + "keel100-seed1/cells.csv")])
cur = pd.concat(
    [
        pd.read_csv(R + "keel100-current/cells.csv"),
        pd.read_csv(R + "keel100-current-seed1/cells.csv"),
    ]
)
st = st[st.sampler.isin(base)]
t = pd.concat([st, cur]).groupby(["dataset", "seed", "sampler"])[M].mean().round(12).reset_index()
for m in M:
    w = t.pivot(index=["dataset", "seed"], columns="sampler", values=m)
    r = w.rank(axis=1, ascending=False).mean().sort_values()
    pd_ = w.groupby(level="dataset").mean()
    d, ds, dw = (pd_["gb-default"] - pd_[b] for b in ("prowsyn", "smote", "weighted"))
    line = f"{m}: ranks " + ", ".join(f"{k} {v:.2f}" for k, v in r.items())
    for name, diff, fmt in (("ProWSyn", d, ".3f"), ("SMOTE", ds, ".2g"), ("weighted", dw, ".2g")):
        wtl = f"{(diff > 0).sum()}/{(diff == 0).sum()}/{(diff < 0).sum()}"
        line += f"; vs {name} {wtl} p {format(wilcoxon(diff[diff != 0]).pvalue, fmt)}"
    print(line)
