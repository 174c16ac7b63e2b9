"""The significance section of the benchmark summary: Friedman's test with the Nemenyi and Holm
post-hoc tests per metric, the critical-difference diagrams (cd_<metric>.png), and Wilcoxon
signed-rank tests of the reference sampler against each baseline (the tests: bench/stats.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genbalance.bench.evaluate import METRICS
from genbalance.bench.stats import ALPHA, friedman, plot_cd, wilcoxon_against
from genbalance.bench.tables import (
    BASELINE_ORDER,
    METRIC_NAMES,
    REFERENCE,
    coverage_groups,
    md_table,
    wide_table,
)


def _fmt_p(p: float) -> str:
    if np.isnan(p):
        return "—"
    if p < 1e-15:  # at double precision's floor (1 - cdf, tails that underflow to 0)
        return "<1e-15"
    return f"{p:.1e}" if p < 0.001 else f"{p:.3f}"


def significance_section(
    done: pd.DataFrame, samplers: list[str], full: list[str], out_dir: Path | None
) -> str:
    """Friedman + Nemenyi (and Holm against the reference) per metric, CD diagrams, and
    Wilcoxon signed-rank tests of the reference against each baseline."""
    head = f"## Significance: {REFERENCE} against the baselines\n\n"
    baselines = [s for s in samplers if s in BASELINE_ORDER]
    if REFERENCE not in samplers or not baselines:
        _remove_cd_diagrams(out_dir)
        return head + f"Needs {REFERENCE} and at least one baseline; this run lacks them.\n"
    main = [s for s in baselines if s in full] + [REFERENCE]
    parts = [
        head + f"The baselines ({', '.join(baselines)}) and {REFERENCE}; our other samplers "
        "are left out, since each would take ranks from the others. Friedman's test per metric "
        "on the datasets all compared samplers cover; post-hoc: Nemenyi (all pairs, alpha "
        f"{ALPHA}: mean ranks further apart than the critical difference CD differ) and Holm "
        f"against {REFERENCE} (z-test of the rank difference, Holm-adjusted).\n"
    ]
    parts.append(_friedman_block(done, main, out_dir))
    for members in coverage_groups(done, [s for s in baselines if s not in full]):
        parts.append(_friedman_block(done, main + members, None))
    parts.append(_wilcoxon_block(done, baselines))
    return "\n".join(parts)


def _friedman_block(done: pd.DataFrame, members: list[str], out_dir: Path | None) -> str:
    """One Friedman/post-hoc comparison of ``members`` on their common datasets."""
    try:
        results = {m: friedman(wide_table(done, m)[members]) for m in METRICS}
    except ValueError as exc:
        _remove_cd_diagrams(out_dir)
        return f"Friedman's test of {', '.join(members)}: not possible ({exc}).\n"
    except ImportError:  # the summary still works without the bench extra, minus this block
        _remove_cd_diagrams(out_dir)
        return (
            "The Nemenyi test and the CD diagrams need scikit-posthocs: "
            "`pip install 'genbalance[bench]'` (or `make`, which installs the dev extra).\n"
        )
    n = results[METRICS[0]].n_datasets
    rows = []
    for m, r in results.items():
        worse, better = r.nemenyi_split(REFERENCE)
        rows.append(
            [METRIC_NAMES[m], f"{r.statistic:.1f}", _fmt_p(r.pvalue), f"{r.cd:.2f}"]
            + [f"{r.mean_ranks[REFERENCE]:.2f}", ", ".join(worse) or "—", ", ".join(better) or "—"]
        )
    header = ["metric", "Friedman χ²", "p", "Nemenyi CD", f"rank {REFERENCE}"]
    header += [f"significantly worse than {REFERENCE}", f"significantly better than {REFERENCE}"]
    text = f"### Friedman test: {len(members)} samplers, {n} datasets\n\n"
    text += md_table(header, rows) + "\n\n"
    text += f"Mean rank and, in brackets, p against {REFERENCE} (Nemenyi / Holm):\n\n"
    holm = {m: r.holm_against(REFERENCE) for m, r in results.items()}
    rows = [
        [s]
        + [
            f"{r.mean_ranks[s]:.2f}"
            + (
                ""
                if s == REFERENCE
                else f" ({_fmt_p(r.nemenyi.loc[s, REFERENCE])} / {_fmt_p(holm[m][s])})"
            )
            for m, r in results.items()
        ]
        for s in members
    ]
    text += md_table(["sampler"] + [METRIC_NAMES[m] for m in METRICS], rows) + "\n"
    if out_dir is not None:
        for m, r in results.items():
            title = (
                f"{METRIC_NAMES[m]}: mean rank over {n} datasets (1 = best); Friedman p: "
                f"{_fmt_p(r.pvalue)}\nbars join samplers that Nemenyi cannot tell apart "
                f"(alpha {ALPHA}; CD = {r.cd:.2f})"
            )
            plot_cd(r, title, Path(out_dir) / f"cd_{m}.png")
        names = ", ".join(f"`cd_{m}.png`" for m in METRICS)
        text += f"\nCritical-difference diagrams: {names}.\n"
    return text


def _remove_cd_diagrams(out_dir: Path | None) -> None:
    """Drop the CD diagrams of an earlier summary that this one cannot draw (stale figures
    next to a summary.md that no longer speaks of them would mislead)."""
    if out_dir is not None:
        for m in METRICS:
            (Path(out_dir) / f"cd_{m}.png").unlink(missing_ok=True)


def _wilcoxon_block(done: pd.DataFrame, baselines: list[str]) -> str:
    """Wilcoxon signed-rank tests of the reference against each baseline, on shared datasets."""
    tests = {
        m: wilcoxon_against(wide_table(done, m)[[REFERENCE, *baselines]], REFERENCE)
        for m in METRICS
    }
    rows = []
    for s in baselines:
        row: list[Any] = [s, int(tests[METRICS[0]].loc[s, "datasets"])]
        for m in METRICS:
            t = tests[m].loc[s]
            row.append(
                "/".join(str(int(t[c])) for c in ("wins", "ties", "losses"))
                + f", {_fmt_p(t['p'])} ({_fmt_p(t['p_holm'])})"
            )
        rows.append(row)
    return (
        f"### Wilcoxon signed-rank: {REFERENCE} against each baseline\n\n"
        f"Per baseline, on the datasets both cover: {REFERENCE}'s wins/ties/losses (tie = equal "
        "at 3 decimals), the two-sided Wilcoxon signed-rank p on the per-dataset values (zero "
        "differences dropped) and, in brackets, p Holm-adjusted over the baselines of that "
        "metric.\n\n"
        + md_table(["baseline", "datasets"] + [METRIC_NAMES[m] for m in METRICS], rows)
        + "\n"
    )
