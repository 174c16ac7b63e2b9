"""Significance tests behind the benchmark summary's claims.

A mean rank alone does not say whether a lead is more than noise, so the protocol
(../shared/BENCHMARK.md) asks for a Friedman test with a post-hoc test, a critical-difference
(CD) diagram per metric, and Wilcoxon signed-rank p-values of the default against each baseline.
Friedman and Wilcoxon come from scipy; the Nemenyi post-hoc test and the CD diagram from
scikit-posthocs (the ``bench`` extra), imported only where they are used. Holm's step-down
correction is a few lines and is written out here.

Every function takes a *score table*: one row per dataset, one column per sampler, higher is
better (as all four benchmark metrics are).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05


@dataclass(frozen=True)
class FriedmanResult:
    """Friedman's test over the datasets all samplers cover, with the post-hoc tests."""

    statistic: float
    pvalue: float
    n_datasets: int
    mean_ranks: pd.Series  # 1 = best, ties averaged
    nemenyi: pd.DataFrame  # pairwise Nemenyi p-values (1 on the diagonal)
    cd: float  # Nemenyi critical difference of mean ranks at ``alpha``
    alpha: float = ALPHA

    def holm_against(self, reference: str) -> pd.Series:
        """Holm-adjusted p-values of each sampler against ``reference`` (Demšar 2006, 3.2.2):
        z = rank difference / sqrt(k(k+1) / 6N), two-sided; more power than Nemenyi when only
        the comparisons with one sampler matter."""
        k, n = len(self.mean_ranks), self.n_datasets
        se = np.sqrt(k * (k + 1) / (6.0 * n))
        others = self.mean_ranks.drop(reference)
        z = (others - self.mean_ranks[reference]).abs() / se
        raw = 2 * stats.norm.sf(z.to_numpy())
        return pd.Series(holm(raw), index=others.index)

    def nemenyi_split(self, reference: str) -> tuple[list[str], list[str]]:
        """(samplers Nemenyi finds significantly worse than ``reference``, significantly
        better): p < alpha, split by the sign of the mean-rank gap."""
        p = self.nemenyi[reference].drop(reference)
        gap = self.mean_ranks.drop(reference) - self.mean_ranks[reference]
        worse = [s for s in p.index if p[s] < self.alpha and gap[s] > 0]
        better = [s for s in p.index if p[s] < self.alpha and gap[s] < 0]
        return worse, better


def _complete(scores: pd.DataFrame) -> pd.DataFrame:
    wide = scores.dropna().astype(float)
    if wide.shape[1] < 3:
        raise ValueError(f"Friedman's test needs at least 3 samplers, got {wide.shape[1]}")
    if len(wide) < 2:
        raise ValueError(f"Friedman's test needs at least 2 datasets, got {len(wide)}")
    return wide


def nemenyi_cd(k: int, n: int, alpha: float = ALPHA) -> float:
    """Critical difference of mean ranks for k samplers over n datasets (Demšar 2006, eq. 5):
    q_alpha * sqrt(k(k+1) / 6N), q_alpha the studentized range quantile / sqrt(2)."""
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(k * (k + 1) / (6.0 * n)))


def friedman(scores: pd.DataFrame, alpha: float = ALPHA) -> FriedmanResult:
    """Friedman's chi-square test and the Nemenyi post-hoc test on a score table.

    Datasets missing a sampler are dropped (the test needs complete blocks). A table whose
    every row is one tie (identical samplers) gives statistic 0 and p = 1.
    """
    import scikit_posthocs as sp

    wide = _complete(scores)
    n, k = wide.shape
    ranks = wide.rank(axis=1, ascending=False, method="average")
    if (wide.nunique(axis=1) == 1).all():
        statistic, pvalue = 0.0, 1.0
    else:
        result = stats.friedmanchisquare(*(wide[c].to_numpy() for c in wide.columns))
        statistic, pvalue = float(result.statistic), float(result.pvalue)
    # Nemenyi's p depends only on |mean-rank differences|, so the rank direction is irrelevant
    nemenyi = sp.posthoc_nemenyi_friedman(wide.to_numpy())
    nemenyi.index = nemenyi.columns = list(wide.columns)
    return FriedmanResult(
        statistic, pvalue, n, ranks.mean(), nemenyi, nemenyi_cd(k, n, alpha), alpha
    )


def holm(pvalues: np.ndarray | list[float]) -> np.ndarray:
    """Holm's step-down adjustment (family-wise error); NaN entries stay NaN, uncounted."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m, running = len(valid), 0.0
    for i, idx in enumerate(valid[np.argsort(p[valid], kind="stable")]):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return out


def wilcoxon_pvalue(a: pd.Series, b: pd.Series) -> float:
    """Two-sided Wilcoxon signed-rank p of paired scores (zero differences dropped, as in
    Wilcoxon's original test); 1.0 when every pair is equal."""
    diff = (a - b).dropna().to_numpy(dtype=float)
    if not np.any(diff != 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on ties and small samples
        return float(stats.wilcoxon(diff, zero_method="wilcox").pvalue)


def wilcoxon_against(scores: pd.DataFrame, reference: str, decimals: int = 3) -> pd.DataFrame:
    """``reference`` against every other column, each pair on the datasets both cover.

    Columns: datasets, wins / ties / losses of the reference (tie = equal at ``decimals``,
    as the summary's win/tie/loss tables), median difference, Wilcoxon p, and p Holm-adjusted
    over the comparisons in the table.
    """
    rows = []
    for other in [c for c in scores.columns if c != reference]:
        pair = scores[[reference, other]].dropna()
        gap = pair[reference].round(decimals) - pair[other].round(decimals)
        rows.append(
            {
                "sampler": other,
                "datasets": len(pair),
                "wins": int((gap > 0).sum()),
                "ties": int((gap == 0).sum()),
                "losses": int((gap < 0).sum()),
                "median_diff": float((pair[reference] - pair[other]).median()),
                "p": wilcoxon_pvalue(pair[reference], pair[other]) if len(pair) else np.nan,
            }
        )
    out = pd.DataFrame(rows).set_index("sampler")
    out["p_holm"] = holm(out["p"].to_numpy())
    return out


def plot_cd(result: FriedmanResult, title: str, path: Path) -> None:
    """The critical-difference diagram of ``result`` as a PNG (written atomically): samplers on
    the mean-rank axis, a bar joining those Nemenyi cannot tell apart, the CD drawn above."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scikit_posthocs as sp

    k = len(result.mean_ranks)
    fig, ax = plt.subplots(figsize=(9, 2.0 + 0.28 * k))
    sp.critical_difference_diagram(
        result.mean_ranks,
        result.nemenyi,
        alpha=result.alpha,
        cd=result.cd,
        ax=ax,
        label_fmt_left="{label} ({rank:.2f})",
        label_fmt_right="({rank:.2f}) {label}",
    )
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    plt.close(fig)
