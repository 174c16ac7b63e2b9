"""Transfer (``GenerativeOverSampler(init=...)``) against a fit from scratch and SMOTE, on
KEEL targets whose rare class has 5-20 rows, each warm-started from a related KEEL table.

``python benchmarks/transfer.py --out benchmarks/results/transfer`` runs, for every pair of
:data:`PAIRS` (a target and a source of the same original data set, the same features):

1. the source with **every row of the target removed** (matched by value on all features, so
   no test row of the target can leak through the source model); one default
   ``Synthesizer`` (vae, seed 0) is fitted on what is left, once per pair;
2. 5-fold stratified cross-validation of the target (seed 0, the folds of
   ``genbalance.bench``): each training fold is resampled by every method of :data:`METHODS`
   and judged with HistGradientBoosting and logistic regression on one-hot + min-max
   features (``genbalance.bench.evaluate.judge``) on the untouched test fold.

It stores one row per (pair, fold, method, classifier) in ``cells.csv`` (with the fit time,
the steps trained, the mean of the first 10 training losses and the share of weights copied)
and a summary in ``summary.md``. A finished pair is kept in ``pairs/<target>.csv`` and not run
again unless ``--refresh``. About 10 minutes on one CPU thread for the 8 pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy / torch start their pools

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

#: (target, source): same original data, same features (checked by value: every row of the
#: target also occurs in the source table, or the source is sampled from the same data)
PAIRS: tuple[tuple[str, str], ...] = (
    ("abalone-3_vs_11", "abalone19"),
    ("abalone-21_vs_8", "abalone19"),
    ("yeast-2_vs_8", "yeast4"),
    ("glass-0-4_vs_5", "glass-0-1-2-3_vs_4-5-6"),
    ("ecoli-0-3-4_vs_5", "ecoli-0-1-4-7_vs_2-3-5-6"),
    ("winequality-red-3_vs_5", "winequality-red-4"),
    ("winequality-red-8_vs_6", "winequality-red-4"),
    ("shuttle-c2-vs-c4", "shuttle-2_vs_5"),
)
METHODS = (
    "none",
    "smote",
    "scratch",
    "transfer",
    "transfer-fresh-classes",
    "scratch-quarter",
    "transfer-quarter",
)
CLASSIFIERS = ["hgb", "logreg"]
N_FOLDS = 5
SEED = 0


def row_keys(X: pd.DataFrame) -> pd.Series:
    """One hash per row of feature values (text form: 0.1 and 0.10 read alike)."""
    return pd.util.hash_pandas_object(X.astype(str), index=False)


def clean_source(target: pd.DataFrame, source: pd.DataFrame, y: pd.Series):
    """The source without any row whose feature values equal a row of the target."""
    leaked = row_keys(source).isin(set(row_keys(target))).to_numpy()
    kept_X = source[~leaked].reset_index(drop=True)
    assert not row_keys(kept_X).isin(set(row_keys(target))).any()
    return kept_X, y[~leaked].reset_index(drop=True), int(leaked.sum())


def quarter_steps(n_rows: int) -> int:
    from genbalance.synthesis.tabular import auto_steps

    return max(100, auto_steps(n_rows) // 4)


def make_sampler(method: str, source: Any, X_tr: pd.DataFrame, y_tr: np.ndarray, positive):
    """The oversampler of ``method`` for one training fold."""
    from genbalance.bench.samplers import fold_info, get_sampler
    from genbalance.sampling.tabular import GenerativeOverSampler
    from genbalance.synthesis.transfer import WarmStart

    if method in ("none", "smote"):
        return get_sampler(method).make(SEED, fold_info(X_tr, y_tr, positive))
    kw: dict[str, Any] = {"random_state": SEED, "progress": False, "cache": False}
    if method.endswith("-quarter"):
        kw.update(epochs=None, trainer_options={"max_steps": quarter_steps(len(X_tr))})
    if method.startswith("transfer"):
        kw["init"] = WarmStart(source, classes="fresh") if "fresh" in method else source
    return GenerativeOverSampler(**kw)


def run_pair(target: str, source_name: str) -> pd.DataFrame:
    from genbalance.bench.evaluate import fold_indices, judge, positive_label
    from genbalance.data.datasets import load_keel
    from genbalance.synthesis.tabular import Synthesizer

    X, y = load_keel(target)
    Xs_all, ys_all = load_keel(source_name)
    if list(X.columns) != list(Xs_all.columns) or list(X.dtypes) != list(Xs_all.dtypes):
        raise ValueError(f"{target} and {source_name} do not share their columns")
    Xs, ys, removed = clean_source(X, Xs_all, ys_all)
    t0 = time.perf_counter()
    source = Synthesizer(random_state=SEED, progress=False).fit(Xs, ys.to_numpy())
    source_s = time.perf_counter() - t0
    positive = positive_label(y)
    info = {
        "target": target,
        "source": source_name,
        "n_target": len(X),
        "n_rare": int((y == positive).sum()),
        "n_source": len(Xs),
        "n_source_rare": int((ys == positive).sum()),
        "source_rows_removed": removed,
        "source_fit_s": round(source_s, 2),
    }
    rows = []
    for fold, (train, test) in enumerate(fold_indices(y, N_FOLDS, SEED)):
        X_tr, X_te = X.iloc[train].reset_index(drop=True), X.iloc[test].reset_index(drop=True)
        y_tr, y_te = y.iloc[train].to_numpy(), y.iloc[test].to_numpy()
        for method in METHODS:
            sampler = make_sampler(method, source, X_tr, y_tr, positive)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                X_res, y_res = sampler.fit_resample(X_tr, y_tr)
            seconds = time.perf_counter() - t0
            synth = getattr(sampler, "synthesizer_", None)
            extra = {"fit_s": round(seconds, 3), "steps": None, "first_loss": None}
            if synth is not None:
                history = synth.history_
                extra["steps"] = len(history.steps)
                extra["first_loss"] = float(np.mean(history.series("loss")[:10]))
                report = synth.transfer_ or {}
                extra["share_copied"] = report.get("weights", {}).get("share_copied")
                extra["columns_refitted"] = len(report.get("columns", {}).get("refitted", {}))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores = judge(X_res, np.asarray(y_res), X_te, y_te, positive, CLASSIFIERS, SEED)
            for clf, metrics in scores.items():
                rows.append({**info, "fold": fold, "method": method, "classifier": clf,
                             **metrics, **extra})  # fmt: skip
        print(f"  {target} fold {fold} done", flush=True)
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame, index: bool = True) -> str:
    """A pipe table (pandas' ``to_markdown`` needs the optional ``tabulate``)."""
    frame = table.reset_index() if index else table
    head = [str(c) for c in frame.columns]
    body = [["" if pd.isna(v) else str(v) for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])


def run_info() -> dict[str, str]:
    """Versions and the code the cells were measured with (commit, and whether the working
    tree held uncommitted changes: the numbers move with the encoder and the trainer)."""
    import subprocess

    import sklearn
    import torch

    def git(*args: str) -> str:
        try:
            out = subprocess.run(  # read-only: no index refresh either
                ["git", "--no-optional-locks", *args], cwd=ROOT, capture_output=True, text=True
            )
        except OSError:
            return "unknown"
        return out.stdout.strip() or "unknown"

    dirty = git("status", "--porcelain", "--untracked-files=no", "src")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted files under src/": str(len(dirty.splitlines()) if dirty != "unknown" else 0),
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
    }


def summarize(cells: pd.DataFrame, info: dict[str, str] | None = None) -> str:
    """The Markdown summary: per pair, per method means; then pooled means and pair wins."""
    metrics = ["gmean", "roc_auc"]
    per_pair = cells.groupby(["target", "classifier", "method"])[metrics].mean().reset_index()
    pairs = cells.drop_duplicates("target")[
        ["target", "source", "n_target", "n_rare", "n_source", "n_source_rare",
         "source_rows_removed"]
    ]  # fmt: skip
    tuned = cells[cells["method"] == "transfer"].groupby("target")
    pairs = pairs.merge(
        tuned[["columns_refitted", "share_copied"]].mean().round(2).reset_index(), on="target"
    )
    lines = [
        "# Transfer on small rare classes (benchmarks/transfer.py)",
        "",
        f"{len(pairs)} KEEL target / source pairs, {N_FOLDS}-fold stratified CV of the target "
        f"(seed {SEED}); every row of the target removed from the source (matched by value). "
        "Methods: `none` (no resampling), `smote` (SMOTE / SMOTENC), `scratch` (the default "
        "GenerativeOverSampler), `transfer` (the same, `init=` a default Synthesizer fitted on "
        "the cleaned source, labels matched), `transfer-fresh-classes` (`classes='fresh'`: no "
        "class weights copied), `*-quarter` (a quarter of the default step budget). "
        "Classifiers: HistGradientBoosting (`hgb`) and logistic regression (`logreg`) on "
        "one-hot + min-max features.",
        "",
        "Measured with: " + ", ".join(f"{k} {v}" for k, v in (info or {}).items()) + ".",
        "",
        "## Pairs",
        "",
        "`columns_refitted`: target columns (mean over folds) whose values did not fit the "
        "source's codec and got their own; `share_copied`: share of the weights copied.",
        "",
        markdown(pairs, index=False),
        "",
    ]
    for metric in metrics:
        for clf in CLASSIFIERS:
            table = per_pair[per_pair["classifier"] == clf].pivot(
                index="target", columns="method", values=metric
            )[list(METHODS)]
            table.loc["**mean**"] = table.mean()
            lines += [f"## {metric}, {clf}", "", markdown(table.round(3)), ""]
    lines += ["## Transfer against the others (pairs where it is better / worse)", ""]
    comparisons = [
        ("transfer", "scratch"),
        ("transfer", "smote"),
        ("transfer-fresh-classes", "scratch"),
        ("transfer-quarter", "scratch-quarter"),
        ("transfer-quarter", "scratch"),
        ("transfer-quarter", "transfer"),
    ]
    rows = []
    for a, b in comparisons:
        for clf in CLASSIFIERS:
            sub = per_pair[per_pair["classifier"] == clf].pivot(
                index="target", columns="method", values=metrics
            )
            for metric in metrics:
                diff = sub[(metric, a)] - sub[(metric, b)]
                rows.append(
                    {
                        "comparison": f"{a} - {b}",
                        "classifier": clf,
                        "metric": metric,
                        "mean difference": round(float(diff.mean()), 4),
                        "better": int((diff > 0.005).sum()),
                        "tied (within 0.005)": int((diff.abs() <= 0.005).sum()),
                        "worse": int((diff < -0.005).sum()),
                    }
                )
    lines += [markdown(pd.DataFrame(rows), index=False), ""]
    gen = cells[cells["steps"].notna()].drop_duplicates(["target", "fold", "method"])
    cost = gen.groupby("method")[["fit_s", "steps", "first_loss"]].mean()
    lines += [
        "## Training (means over pairs and folds)",
        "",
        "`first_loss`: mean of the first 10 recorded training losses (a transferred start "
        "begins lower); `fit_s`: fit_resample seconds on one CPU thread.",
        "",
        markdown(cost.round(3)),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/transfer")
    parser.add_argument("--pairs", nargs="*", help="targets to run (default: all of PAIRS)")
    parser.add_argument("--refresh", action="store_true", help="run finished pairs again")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from genbalance.files import atomic_write_bytes

    done_dir = args.out / "pairs"
    done_dir.mkdir(parents=True, exist_ok=True)
    info_path = args.out / "run_info.json"
    wanted = [p for p in PAIRS if not args.pairs or p[0] in args.pairs]
    tables = []
    for target, source in wanted:
        path = done_dir / f"{target}.csv"
        if path.exists() and not args.refresh:
            tables.append(pd.read_csv(path))
            continue
        print(f"{target} <- {source}", flush=True)
        info = run_info()  # of the last pair run: rerun all (--refresh) for one code state
        atomic_write_bytes(info_path, json.dumps(info, indent=1).encode(), overwrite=True)
        table = run_pair(target, source)
        atomic_write_bytes(path, table.to_csv(index=False).encode(), overwrite=True)
        tables.append(table)
    cells = pd.concat(tables, ignore_index=True)
    atomic_write_bytes(args.out / "cells.csv", cells.to_csv(index=False).encode(), overwrite=True)
    summary = args.out / "summary.md"
    info = json.loads(info_path.read_text()) if info_path.exists() else None
    atomic_write_bytes(summary, summarize(cells, info).encode(), overwrite=True)
    print(f"wrote {summary}")
    return summary


if __name__ == "__main__":
    main()
