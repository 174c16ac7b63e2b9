"""Cross-check genbalance's metrics against SDMetrics and Anonymeter (`make interop-bench`).

SDMetrics pins pandas<3 and Anonymeter numpy<1.27, so neither can live in .venv; they live in
.venv-interop (`make interop`, benchmarks/interop-requirements.txt). The two halves talk
through CSV files:

1. ``generate`` (run in .venv): on bundled KEEL tables, a stratified 70/30 train/holdout split,
   genbalance's default ``Synthesizer`` fitted on the training rows and SMOTE as a reference
   (both make as many rows per class as the training split has); our fidelity and privacy
   numbers; everything written to ``--work`` as CSV + ``ours.json``.
2. ``score`` (run in .venv-interop): SDMetrics' QualityReport (column shapes, column pair
   trends) and Anonymeter's singling-out, linkability and inference risks with their 95%
   confidence intervals, on the same files; the table of both goes to ``--out`` as
   ``interop.json`` and ``interop.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DATASETS = ("ecoli1", "pima", "abalone9-18")
TARGET = "Class"
METHODS = ("genbalance", "smote")
ROOT = Path(__file__).resolve().parent
WORK = ROOT / "cache" / "interop"
OUT = ROOT / "results" / "interop"


# ----------------------------------------------------------------------------- generate
def smote_rows(X: pd.DataFrame, y: pd.Series, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """SMOTE's new rows only, as many per class as the class has (SMOTE-NC with text columns)."""
    from imblearn.over_sampling import SMOTE, SMOTENC

    counts = y.value_counts()
    strategy = {c: 2 * int(n) for c, n in counts.items()}
    cats = [i for i, c in enumerate(X.columns) if not pd.api.types.is_numeric_dtype(X[c])]
    sampler = (
        SMOTENC(categorical_features=cats, sampling_strategy=strategy, random_state=seed)
        if cats
        else SMOTE(sampling_strategy=strategy, random_state=seed)
    )
    X_res, y_res = sampler.fit_resample(X, y)
    return X_res.iloc[len(X) :].reset_index(drop=True), np.asarray(y_res)[len(X) :]


def genbalance_rows(X: pd.DataFrame, y: pd.Series, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows of genbalance's default Synthesizer, as many per class as the training split."""
    from genbalance import Synthesizer

    synth = Synthesizer(random_state=seed, progress=False).fit(X, y)
    counts = y.value_counts()
    rows = synth.sample(y={c: int(n) for c, n in counts.items()}, random_state=seed)
    labels = np.concatenate([np.full(int(n), c, dtype=object) for c, n in counts.items()])
    return rows.reset_index(drop=True), labels


def our_numbers(train, train_y, holdout, synth, synth_y, seed: int) -> dict[str, float]:
    """Our overall fidelity scores and privacy numbers (detection off: SDMetrics has none)."""
    from genbalance.evaluation import fidelity_report, privacy_report

    fid = fidelity_report(train, synth, train_y, synth_y, detection=False, random_state=seed)
    priv = privacy_report(train, synth, holdout, random_state=seed)
    overall = fid.iloc[0]
    keys = ("exact_copies", "dcr_median", "share_closer_to_train", "mia_auc", "mia_advantage")
    return {
        "column_shapes": float(overall["column_shapes"]),
        "column_pair_trends": float(overall["column_pair_trends"]),
        **{k: float(priv[k]) for k in keys},
    }


def generate(work: Path, seed: int) -> None:
    from sklearn.model_selection import train_test_split

    from genbalance.data.datasets import load_keel

    work.mkdir(parents=True, exist_ok=True)
    ours: dict[str, Any] = {}
    for name in DATASETS:
        X, y = load_keel(name)
        X_tr, X_ho, y_tr, y_ho = train_test_split(
            X, y, test_size=0.3, stratify=y, random_state=seed
        )
        X_tr, X_ho = X_tr.reset_index(drop=True), X_ho.reset_index(drop=True)
        y_tr, y_ho = y_tr.reset_index(drop=True), y_ho.reset_index(drop=True)
        X_tr.assign(**{TARGET: y_tr}).to_csv(work / f"{name}_train.csv", index=False)
        X_ho.assign(**{TARGET: y_ho}).to_csv(work / f"{name}_holdout.csv", index=False)
        for method, make in (("genbalance", genbalance_rows), ("smote", smote_rows)):
            start = time.perf_counter()
            S, sy = make(X_tr, y_tr, seed)
            S.assign(**{TARGET: sy}).to_csv(work / f"{name}_{method}.csv", index=False)
            numbers = our_numbers(X_tr, y_tr.to_numpy(), X_ho, S, sy, seed)
            numbers["seconds"] = time.perf_counter() - start
            ours[f"{name}/{method}"] = numbers
            print(f"{name} {method}: {numbers}", flush=True)
    (work / "ours.json").write_text(json.dumps(ours, indent=2))


# -------------------------------------------------------------------------------- score
def sdmetrics_quality(train: pd.DataFrame, synth: pd.DataFrame) -> dict[str, float]:
    """SDMetrics' QualityReport: the overall score and its two properties, as SDMetrics gives
    them (its pair trends skip pairs whose real correlation / association is below its
    default thresholds) and with the thresholds at 0, every pair scored as ours are."""
    from sdmetrics.reports.single_table import QualityReport

    columns = {
        c: {"sdtype": "numerical" if pd.api.types.is_numeric_dtype(train[c]) else "categorical"}
        for c in train.columns
    }
    out: dict[str, float] = {}
    for suffix, threshold in (("", None), ("_all_pairs", 0.0)):
        report = QualityReport()
        if threshold is not None:
            report.real_correlation_threshold = threshold
            report.real_association_threshold = threshold
        report.generate(train, synth, {"columns": columns}, verbose=False)
        props = report.get_properties().set_index("Property")["Score"]
        out[f"quality_score{suffix}"] = float(report.get_score())
        out[f"column_shapes{suffix}"] = float(props["Column Shapes"])
        out[f"column_pair_trends{suffix}"] = float(props["Column Pair Trends"])
    return out


def _risk(evaluator: Any) -> dict[str, float]:
    risk = evaluator.risk(confidence_level=0.95)
    return {"risk": float(risk.value), "ci_low": float(risk.ci[0]), "ci_high": float(risk.ci[1])}


def anonymeter_risks(
    train: pd.DataFrame, synth: pd.DataFrame, holdout: pd.DataFrame, seed: int
) -> dict[str, dict[str, float]]:
    """Anonymeter's three attacks, the holdout as control (the label is one column more:
    the inference attack's secret)."""
    from anonymeter.evaluators import (
        InferenceEvaluator,
        LinkabilityEvaluator,
        SinglingOutEvaluator,
    )

    np.random.seed(seed)  # noqa: NPY002 - anonymeter draws from numpy's global state
    n_attacks = min(300, len(holdout))
    features = [c for c in train.columns if c != TARGET]
    half = len(features) // 2
    single = SinglingOutEvaluator(train, synth, n_attacks=n_attacks, control=holdout, seed=seed)
    link = LinkabilityEvaluator(
        train,
        synth,
        aux_cols=(features[:half], features[half:]),
        n_attacks=n_attacks,
        n_neighbors=10,
        control=holdout,
    )
    infer = InferenceEvaluator(
        train, synth, aux_cols=features, secret=TARGET, n_attacks=n_attacks, control=holdout
    )
    single.evaluate(mode="univariate")
    link.evaluate(n_jobs=1)  # the cores are shared
    infer.evaluate(n_jobs=1)
    return {
        "singling_out": _risk(single),
        "linkability": _risk(link),
        "inference": _risk(infer),
    }


def score(work: Path, out: Path, seed: int) -> None:
    from importlib.metadata import version

    ours = json.loads((work / "ours.json").read_text())
    rows = []
    for name in DATASETS:
        train = pd.read_csv(work / f"{name}_train.csv")
        holdout = pd.read_csv(work / f"{name}_holdout.csv")
        for method in METHODS:
            synth = pd.read_csv(work / f"{name}_{method}.csv")[list(train.columns)]
            features = [c for c in train.columns if c != TARGET]
            quality = sdmetrics_quality(train[features], synth[features])
            risks = anonymeter_risks(train, synth, holdout, seed)
            rows.append(
                {
                    "dataset": name,
                    "method": method,
                    "ours": ours[f"{name}/{method}"],
                    "sdmetrics": quality,
                    "anonymeter": risks,
                }
            )
            print(f"{name} {method}: {quality} {risks}", flush=True)
    doc = {
        "versions": {p: version(p) for p in ("sdmetrics", "anonymeter", "pandas", "numpy")},
        "seed": seed,
        "rows": rows,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "interop.json").write_text(json.dumps(doc, indent=2))
    (out / "interop.md").write_text(markdown(doc))


def _ci(r: dict[str, float]) -> str:
    return f"{r['risk']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"


def markdown(doc: dict[str, Any]) -> str:
    """The side-by-side tables of ``interop.json``."""
    v = doc["versions"]
    lines = [
        "# genbalance metrics next to SDMetrics and Anonymeter",
        "",
        f"sdmetrics {v['sdmetrics']}, anonymeter {v['anonymeter']}, seed {doc['seed']}; "
        "written by `make interop-bench` (benchmarks/interop.py).",
        "",
        "## Fidelity (1 = ideal)",
        "",
        "| dataset | method | shapes (ours) | shapes (SDM) | pairs (ours) "
        "| pairs (SDM, all pairs) | pairs (SDM default) | SDM quality (default) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in doc["rows"]:
        o, s = r["ours"], r["sdmetrics"]
        lines.append(
            f"| {r['dataset']} | {r['method']} | {o['column_shapes']:.3f} | "
            f"{s['column_shapes']:.3f} | {o['column_pair_trends']:.3f} | "
            f"{s['column_pair_trends_all_pairs']:.3f} | {s['column_pair_trends']:.3f} | "
            f"{s['quality_score']:.3f} |"
        )
    lines += [
        "",
        "## Privacy: ours (DCR, membership attack) and Anonymeter's risks (95% CI)",
        "",
        "| dataset | method | copies | DCR median | closer to train | MIA AUC | singling out "
        "| linkability | inference |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for r in doc["rows"]:
        o, a = r["ours"], r["anonymeter"]
        lines.append(
            f"| {r['dataset']} | {r['method']} | {o['exact_copies']:.0f} | "
            f"{o['dcr_median']:.3f} | {o['share_closer_to_train']:.3f} | {o['mia_auc']:.3f} | "
            f"{_ci(a['singling_out'])} | {_ci(a['linkability'])} | {_ci(a['inference'])} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("generate", "score"))
    parser.add_argument("--work", type=Path, default=WORK, help="CSV exchange folder")
    parser.add_argument("--out", type=Path, default=OUT, help="results folder (score)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.step == "generate":
        generate(args.work, args.seed)
    else:
        score(args.work, args.out, args.seed)


if __name__ == "__main__":
    main()
