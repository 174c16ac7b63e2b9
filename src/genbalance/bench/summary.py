"""Turn benchmark cells into per_dataset.csv, summary.md and ranks.png.

Samplers may cover different datasets (CTGAN is slow, a run may be cut short): every table
says on how many datasets it stands. Ranks are computed on the datasets where *all* compared
samplers have complete results (every planned fold of every seed they ran).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genbalance.bench.evaluate import METRICS
from genbalance.bench.stats import ALPHA, friedman, plot_cd, wilcoxon_against

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
    """A ``cells.csv`` as written by :func:`summarize` (empty errors stay empty strings)."""
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


def _wide(table: pd.DataFrame, value: str) -> pd.DataFrame:
    return table.pivot(index="dataset", columns="sampler", values=value)


def mean_ranks(table: pd.DataFrame, samplers: list[str]) -> tuple[pd.DataFrame, int]:
    """Mean rank (1 = best, ties averaged) per metric on datasets all ``samplers`` cover."""
    ranks, n = {}, 0
    for m in METRICS:
        wide = _wide(table, m)[samplers].dropna()
        n = len(wide)
        ranks[m] = wide.rank(axis=1, ascending=False, method="average").mean()
    return pd.DataFrame(ranks).loc[samplers], n


def win_tie_loss(
    table: pd.DataFrame, reference: str, metric: str
) -> dict[str, tuple[int, int, int]]:
    """Per sampler: datasets it beats / ties (equal at 3 decimals) / loses to ``reference``."""
    wide = _wide(table, metric).round(3)
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
    wide = _wide(table, "fit_seconds")
    out = {}
    for s in wide.columns:
        if s == reference:
            out[s] = (1.0, int(wide[s].notna().sum()))
            continue
        pair = wide[[s, reference]].dropna()
        pair = pair[pair[reference] > 0]
        out[s] = (float((pair[s] / pair[reference]).median()) if len(pair) else np.nan, len(pair))
    return out


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return "—" if np.isnan(v) else f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _comparison(
    table: pd.DataFrame, samplers: list[str], title: str
) -> tuple[str, pd.DataFrame, int]:
    ranks, n = mean_ranks(table, samplers)
    common = _wide(table, METRICS[0])[samplers].dropna().index
    sub = table[table["dataset"].isin(common)]
    means = sub.groupby("sampler")[list(METRICS)].mean().loc[samplers]
    header = (
        ["sampler"]
        + [f"{METRIC_NAMES[m]}" for m in METRICS]
        + [f"rank {METRIC_NAMES[m]}" for m in METRICS]
    )
    rows = [[s, *means.loc[s].tolist(), *ranks.loc[s].tolist()] for s in samplers]
    text = f"### {title}\n\nOn the **{n} datasets** where all {len(samplers)} samplers have "
    text += "complete results. Metrics: mean over datasets (each the mean over classifiers, folds "
    text += "and seeds); ranks: 1 = best, ties averaged.\n\n" + _md_table(header, rows)
    return text, ranks, n


def _against_baselines(table: pd.DataFrame, ours: list[str], baselines: list[str]) -> str:
    """Each of our samplers ranked among the baselines alone.

    With several of our samplers in one table they take ranks from each other, so a sampler's
    rank would depend on which other families happened to run; ranked one at a time against the
    protocol's baselines, each row answers the protocol's question on its own.
    """
    rows = []
    for s in ours:
        ranks, n = mean_ranks(table, baselines + [s])
        rows.append([s, n, *ranks.loc[s].tolist()])
    header = ["sampler", "datasets"] + [f"rank {METRIC_NAMES[m]}" for m in METRICS]
    text = (
        f"### Each of ours against the {len(baselines)} baselines alone\n\n"
        f"Mean rank of each sampler among {', '.join(baselines)} and itself "
        f"({len(baselines) + 1} samplers; 1 = best), on the datasets all of them cover.\n\n"
    )
    return text + _md_table(header, rows)


def protocol_line(frame: pd.DataFrame) -> str:
    """Folds, seeds and classifiers that the cells of a run used."""
    folds = ", ".join(str(k) for k in sorted(frame["n_folds"].unique()))
    seeds = ", ".join(str(s) for s in sorted(frame["seed"].unique()))
    clfs = ", ".join(sorted(frame["classifier"].unique()))
    return f"Stratified {folds}-fold cross-validation, seeds {seeds}; classifiers {clfs}."


def summarize_table(
    table: pd.DataFrame, run_name: str, out_dir: Path | None = None, protocol: str = ""
) -> str:
    """summary.md text (and ranks.png, cd_<metric>.png in ``out_dir``) from the per-dataset
    table."""
    done = table[table["complete"]]
    samplers = sampler_order(done["sampler"])
    coverage = done.groupby("sampler")["dataset"].nunique().reindex(samplers)
    full = [s for s in samplers if coverage[s] == coverage.max()]
    parts = [
        f"# Benchmark `{run_name}`\n",
        "Generated by `genbalance bench summarize`; protocol in docs/benchmark.md. "
        f"{table['dataset'].nunique()} datasets appear in this run. {protocol}\n",
        _coverage_section(table, samplers, coverage),
        "## Mean metrics and mean ranks\n",
    ]
    rank_texts, plots = _rank_sections(done, samplers, full)
    parts += rank_texts
    parts.append(_significance_section(done, samplers, full, out_dir))
    parts += [_wtl_section(done, samplers, ref) for ref in ("smote", "ctgan")]
    parts.append(_time_section(done, samplers))
    markdown = "\n".join(parts) + "\n"
    if out_dir is not None:
        _plot_ranks(plots, Path(out_dir) / "ranks.png")
    return markdown


def _coverage_section(table: pd.DataFrame, samplers: list[str], coverage: pd.Series) -> str:
    done = table[table["complete"]]
    rows = [
        [
            s,
            int(coverage[s]),
            int(((table["sampler"] == s) & ~table["complete"]).sum()),
            int(table.loc[table["sampler"] == s, "fallback_folds"].sum()),
            float(done.loc[done["sampler"] == s, "fit_seconds"].mean()),
        ]
        for s in samplers
    ]
    header = ["sampler", "datasets (complete)", "partial", "fallback folds", "mean fit s / fold"]
    return (
        "## Coverage\n\n"
        + _md_table(header, rows)
        + "\n\nA fallback fold is one where the sampler failed (its error is in per_dataset.csv) "
        "and the fold was scored without resampling.\n"
    )


def _coverage_groups(done: pd.DataFrame, names: list[str]) -> list[list[str]]:
    """``names`` grouped by the exact set of datasets each covers (first-seen order)."""
    groups: dict[frozenset, list[str]] = {}
    for s in names:
        covered = frozenset(done.loc[done["sampler"] == s, "dataset"])
        groups.setdefault(covered, []).append(s)
    return list(groups.values())


def _rank_sections(
    done: pd.DataFrame, samplers: list[str], full: list[str]
) -> tuple[list[str], list[tuple[str, pd.DataFrame]]]:
    """The mean-rank tables (widest coverage, each of ours alone, each partial group) and the
    bar-chart panels for ranks.png."""
    texts, plots = [], []
    text, ranks, n = _comparison(done, full, f"Samplers with the widest coverage ({len(full)})")
    texts.append(text + "\n")
    plots.append((f"{len(full)} samplers, {n} datasets", ranks))
    ours = [s for s in full if s not in BASELINE_ORDER]
    baselines = [s for s in full if s in BASELINE_ORDER]
    if len(ours) > 1 and baselines:
        texts.append(_against_baselines(done, ours, baselines) + "\n")
    # samplers run on part of the datasets (CTGAN, extra families, tuning variants): one table
    # per group that covers the same datasets, next to the full-coverage samplers on those
    # datasets (an "all samplers" intersection could be empty)
    for members in _coverage_groups(done, [s for s in samplers if s not in full]):
        names = ", ".join(members)
        text, ranks, n = _comparison(done, full + members, f"With {names}")
        texts.append(text + "\n")
        plots.append((f"with {names[:40]}, {n} datasets", ranks))
    return texts, plots


def _fmt_p(p: float) -> str:
    if np.isnan(p):
        return "—"
    if p < 1e-15:  # at double precision's floor (1 - cdf, tails that underflow to 0)
        return "<1e-15"
    return f"{p:.1e}" if p < 0.001 else f"{p:.3f}"


def _significance_section(
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
    for members in _coverage_groups(done, [s for s in baselines if s not in full]):
        parts.append(_friedman_block(done, main + members, None))
    parts.append(_wilcoxon_block(done, baselines))
    return "\n".join(parts)


def _friedman_block(done: pd.DataFrame, members: list[str], out_dir: Path | None) -> str:
    """One Friedman/post-hoc comparison of ``members`` on their common datasets."""
    try:
        results = {m: friedman(_wide(done, m)[members]) for m in METRICS}
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
    text += _md_table(header, rows) + "\n\n"
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
    text += _md_table(["sampler"] + [METRIC_NAMES[m] for m in METRICS], rows) + "\n"
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
        m: wilcoxon_against(_wide(done, m)[[REFERENCE, *baselines]], REFERENCE) for m in METRICS
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
        + _md_table(["baseline", "datasets"] + [METRIC_NAMES[m] for m in METRICS], rows)
        + "\n"
    )


def _wtl_section(done: pd.DataFrame, samplers: list[str], ref: str) -> str:
    if ref not in samplers:
        return f"## Win/tie/loss against {ref}\n\n{ref} is not in this run.\n"
    wtl = {m: win_tie_loss(done, ref, m) for m in METRICS}
    rows = []
    for s in samplers:
        if s == ref:
            continue
        shared = sum(wtl[METRICS[0]][s])
        rows.append([s, shared, *["/".join(map(str, wtl[m][s])) for m in METRICS]])
    return (
        f"## Win/tie/loss against {ref}\n\nPer dataset, on the datasets both cover "
        "(tie = equal at 3 decimals).\n\n"
        + _md_table(["sampler", "datasets"] + [METRIC_NAMES[m] for m in METRICS], rows)
        + "\n"
    )


def _time_section(done: pd.DataFrame, samplers: list[str]) -> str:
    text = (
        "## Fit time\n\nFit + resample wall time of one training fold, median over the "
        "datasets both samplers cover of the per-dataset ratio (mean over folds).\n\n"
    )
    ratios = {ref: time_ratio(done, ref) for ref in ("ctgan", "smote") if ref in samplers}
    if not ratios:
        return text + "Neither ctgan nor smote is in this run."
    rows = []
    for s in samplers:
        row: list[Any] = [s]
        for ref in ratios:
            value, k = ratios[ref].get(s, (np.nan, 0))
            row.append(f"{value:.3g} ({k})" if k else "—")
        rows.append(row)
    return text + _md_table(["sampler"] + [f"× {ref} (datasets)" for ref in ratios], rows)


def _plot_ranks(plots: list[tuple[str, pd.DataFrame]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(plots), figsize=(7 * len(plots), 5), squeeze=False)
    for ax, (title, ranks) in zip(axes[0], plots, strict=True):
        samplers = list(ranks.index)
        width = 0.8 / len(samplers)
        x = np.arange(len(METRICS))
        colors = plt.get_cmap("tab20")
        for i, s in enumerate(samplers):
            ax.bar(
                x + i * width - 0.4 + width / 2,
                ranks.loc[s, list(METRICS)],
                width,
                label=s,
                color=colors(i % 20),
            )
        ax.set_xticks(x, [METRIC_NAMES[m] for m in METRICS])
        ax.set_ylabel("mean rank (lower is better)")
        ax.set_title(title)
        ax.legend(
            fontsize=7, ncol=min(len(samplers), 5), loc="upper center", bbox_to_anchor=(0.5, -0.08)
        )
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    plt.close(fig)


def _write(path: Path, text: str) -> None:
    """Atomic: two runs of the same name may summarise at the same time."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def summarize(
    run_name: str,
    *,
    cache_dir: Path | str,
    results_dir: Path | str,
) -> Path:
    """Write ``cells.csv``, ``per_dataset.csv``, ``summary.md`` and ``ranks.png`` for a run.

    Reads the run's cache and the ``cells.csv`` stored by an earlier summary (so a fresh
    clone, which has no cache, can regenerate the summary). Returns the output folder.
    """
    from genbalance.bench.runner import read_cells

    out = Path(results_dir) / run_name
    stored_path = out / "cells.csv"
    stored = read_stored_cells(stored_path) if stored_path.is_file() else None
    frame = merge_cells(cells_frame(read_cells(cache_dir, run_name)), stored)
    if frame.empty:
        raise ValueError(f"no results for run {run_name!r} in {cache_dir} or {stored_path}")
    out.mkdir(parents=True, exist_ok=True)
    cells_text = frame.sort_values(KEY + ["classifier"]).to_csv(index=False, float_format="%.6g")
    _write(stored_path, cells_text)
    # summarise the cells as stored (6 significant digits), not the cache's full floats, so that
    # a fresh clone, which has only cells.csv, regenerates the same summary
    table = per_dataset(read_stored_cells(io.StringIO(cells_text)))
    _write(out / "per_dataset.csv", table.to_csv(index=False, float_format="%.6g"))
    _write(out / "summary.md", summarize_table(table, run_name, out, protocol_line(frame)))
    return out
