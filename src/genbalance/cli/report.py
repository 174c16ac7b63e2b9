"""Judging commands: ``evaluate`` (metric tables or JSON) and ``report`` (HTML/Markdown).

``evaluate`` prints its tables on stdout, narrow enough for an 80-column terminal: columns
that hold no value (the detection columns under ``--no-detection``) are left out and the
long metric names get short headers; ``--json`` prints every number under its full name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from genbalance.cli.common import (
    ForceOpt,
    JsonOpt,
    QuietOpt,
    SeedOpt,
    err,
    handle_errors,
    jsonable,
    out,
    output_option,
    print_json,
    refuse_overwrite,
    warnings_to_stderr,
)

if TYPE_CHECKING:
    import pandas as pd

TargetOpt = Annotated[str, typer.Option("--target", "-t", help="Class label column.")]
RealArg = Annotated[Path, typer.Argument(help="Real (training) table, .csv or .parquet.")]
HoldoutOpt = Annotated[
    Path | None,
    typer.Option(help="Real rows the generator never saw (enables the attack and the gain)."),
]
ClassifiersOpt = Annotated[
    str,
    typer.Option(
        help="Comma-separated utility classifiers: logistic_regression, decision_tree, knn, "
        "hist_gradient_boosting, or 'all'."
    ),
]
DetectionOpt = Annotated[
    bool, typer.Option(help="Train a real-vs-synthetic detector per class (slower).")
]

# metric columns -> short headers, so that the tables fit 80 columns (--json has full names)
HEADERS = {
    "label": "class",
    "n_real": "real",
    "n_synthetic": "synth",
    "column_shapes": "shapes",
    "column_pair_trends": "pairs",
    "detection_auc": "det AUC",
    "detection_score": "det score",
}


def _classifiers(value: str, seed: int) -> dict[str, Any] | None:
    from genbalance.evaluation import default_classifiers

    if value.strip() == "all":
        return None
    known = default_classifiers(seed)
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"--classifiers: unknown {unknown}; accepted: {', '.join(known)} or 'all'")
    return {n: known[n] for n in names}


def _read_labelled(path: Path, target: str):
    """Features and labels (as strings, so CSV ints and model labels compare equal)."""
    from genbalance.data.tables import read_table, split_target

    X, y = split_target(read_table(path), target, str(path))
    return X, y.astype(str).to_numpy(dtype=object)


def _same_columns(real: pd.DataFrame, other: pd.DataFrame, path: Path) -> pd.DataFrame:
    missing = [c for c in real.columns if c not in other.columns]
    extra = [c for c in other.columns if c not in real.columns]
    if missing or extra:
        raise ValueError(
            f"{path}: columns differ from the real table (missing {missing[:10]}, "
            f"extra {extra[:10]}); both need the same feature columns and the target"
        )
    return other[list(real.columns)]


def _new_rows(real: pd.DataFrame, real_y, resampled: pd.DataFrame, res_y):
    """Rows of a resampled table that are not real rows (multiset difference by row hash)."""
    import numpy as np
    import pandas as pd

    def keys(frame: pd.DataFrame, labels) -> pd.Series:
        h = pd.util.hash_pandas_object(frame.assign(__y=labels).astype(str), index=False)
        occurrence = h.groupby(h.to_numpy()).cumcount()
        return h.astype(str) + ":" + occurrence.astype(str)

    is_new = ~keys(resampled, res_y).isin(set(keys(real, real_y))).to_numpy()
    return resampled.loc[is_new].reset_index(drop=True), np.asarray(res_y)[is_new]


# ------------------------------------------------------------------------ metric tables
def _fmt(value: Any) -> str:
    value = jsonable(value)
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(title: str, frame: pd.DataFrame) -> Table:
    """A compact table: empty and constant-'mean' columns dropped, short headers."""
    import pandas as pd

    frame = frame.dropna(axis=1, how="all")
    if "classifier" in frame.columns and set(frame["classifier"]) == {"mean"}:
        frame = frame.drop(columns="classifier")  # the title says "mean over classifiers"
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False)
    for col in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[col])
        table.add_column(HEADERS.get(str(col), str(col)), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(_fmt(v) for v in row))
    return table


def _print_metrics(result: dict[str, Any]) -> None:
    """The metric tables on stdout, a blank line between them."""
    import pandas as pd

    fidelity = result["fidelity"]
    detected = "detection_auc" in fidelity and fidelity["detection_auc"].notna().any()
    tables = [
        _table("Fidelity (1 = ideal" + ("; det AUC 0.5 = ideal)" if detected else ")"), fidelity)
    ]
    util = result["utility"]
    if util["tstr"] is not None:
        tables.append(_table("Utility: train on synthetic, test on real", util["tstr"]))
    if util["rebalancing_gain"] is not None:
        gain = util["rebalancing_gain"]
        mean = gain[gain["classifier"] == "mean"]
        tables.append(_table("Utility: rebalancing gain (mean over classifiers)", mean))
    priv = result["privacy"]
    tables.append(
        _table("Privacy", pd.DataFrame({"metric": list(priv), "value": list(priv.values())}))
    )
    for i, table in enumerate(tables):
        if i:
            out.print()
        out.print(table)


@handle_errors
def evaluate(
    real: RealArg,
    synthetic: Annotated[Path, typer.Argument(help="Synthetic rows, same columns.")],
    target: TargetOpt,
    holdout: HoldoutOpt = None,
    output: Annotated[Path | None, output_option("Also write the metrics as JSON.")] = None,
    detection: DetectionOpt = True,
    classifiers: ClassifiersOpt = "all",
    seed: SeedOpt = 0,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Fidelity (per class), utility and privacy of synthetic rows against the real ones."""
    from genbalance.evaluation.report import evaluate_tables, metrics_to_json
    from genbalance.files import atomic_write_bytes

    refuse_overwrite(output, force=force)
    chosen = _classifiers(classifiers, seed)
    X, y = _read_labelled(real, target)
    S, sy = _read_labelled(synthetic, target)
    S = _same_columns(X, S, synthetic)
    H = hy = None
    if holdout is not None:
        H, hy = _read_labelled(holdout, target)
        H = _same_columns(X, H, holdout)
    say = None if quiet else _say
    if say is not None:
        say(f"read {len(X)} real, {len(S)} synthetic and {0 if H is None else len(H)} holdout rows")
    with warnings_to_stderr():
        result = evaluate_tables(
            X,
            y,
            S,
            sy,
            H,
            hy,
            detection=detection,
            classifiers=chosen,
            random_state=seed,
            progress=say,
        )
    doc = {
        "real": str(real),
        "synthetic": str(synthetic),
        "holdout": None if holdout is None else str(holdout),
        **metrics_to_json(result),
    }
    if output is not None:
        atomic_write_bytes(output, json.dumps(doc, indent=2).encode(), overwrite=force)
        err.print(f"wrote {output}")
    for note in result["utility"]["notes"]:
        err.print(f"[dim]note:[/] {escape(note)}")
    if as_json:
        print_json(doc)
    else:
        _print_metrics(result)


# --------------------------------------------------------------------------------- report
def _from_model(model: Path, X, y, real: Path, max_rows: int, seed: int):
    """Rows sampled from a saved synthesizer: per class as many as the real table, capped."""
    import numpy as np
    import pandas as pd

    from genbalance.synthesis.tabular import Synthesizer

    synth = Synthesizer.load(model)
    known = {str(c): c for c in synth.classes_}
    counts = pd.Series(y).value_counts()
    unknown = sorted(set(counts.index) - set(known))
    if unknown:
        raise ValueError(
            f"classes {unknown[:10]} of {real.name} are unknown to "
            f"the model (it knows {sorted(known)[:10]})"
        )
    wanted = {c: min(int(n), max_rows) for c, n in counts.items()}
    S = synth.sample(y={known[c]: n for c, n in wanted.items()}, random_state=seed)
    S = _same_columns(X, S, model)
    sy = np.concatenate([np.full(n, c, dtype=object) for c, n in wanted.items()])
    top = int(counts.max())
    extra = {"synthesizer": synth, "after_counts": {c: max(top, int(n)) for c, n in counts.items()}}
    note = (
        f"Synthetic rows sampled from {model.name}: per class as many as the real "
        f"table has (at most {max_rows}). 'After' counts: every class raised to "
        "the majority's size, as `genbalance resample` does by default."
    )
    return S, sy, extra, note


def _synthetic_rows(
    sources: dict[str, Path | None], target: str, X, y, real: Path, max_rows: int, seed: int
):
    """(rows, labels, extra build_report arguments, note) from the one source given."""
    import pandas as pd

    given = [k for k, p in sources.items() if p is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of --model, --synthetic or --resampled")
    kind, path = given[0], sources[given[0]]
    assert path is not None
    if kind == "model":
        return _from_model(path, X, y, real, max_rows, seed)
    S, sy = _read_labelled(path, target)
    S = _same_columns(X, S, path)
    if kind == "synthetic":
        return S, sy, {}, f"Synthetic rows: {path.name}."
    new, new_y = _new_rows(X, y, S, sy)
    note = (
        f"Synthetic rows: the {len(new)} rows of {path.name} that are not rows of the real table."
    )
    return new, new_y, {"after_counts": pd.Series(sy).value_counts().to_dict()}, note


@handle_errors
def report(
    real: RealArg,
    target: TargetOpt,
    output: Annotated[Path, output_option("Report folder.")],
    model: Annotated[
        Path | None, typer.Option("--model", "-m", help="Saved synthesizer to sample from.")
    ] = None,
    synthetic: Annotated[Path | None, typer.Option(help="Table of generated rows only.")] = None,
    resampled: Annotated[
        Path | None, typer.Option(help="Output of `genbalance resample` (real + new rows).")
    ] = None,
    holdout: HoldoutOpt = None,
    max_rows: Annotated[int, typer.Option(help="With --model: rows sampled per class at most.")] = (
        2000
    ),
    title: Annotated[str, typer.Option(help="Report title.")] = "genbalance report",
    detection: DetectionOpt = True,
    classifiers: ClassifiersOpt = "all",
    seed: SeedOpt = 0,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """One self-contained HTML report (plus Markdown + PNGs and metrics.json) in a folder."""
    from genbalance.evaluation.report import build_report

    if max_rows < 1:
        raise ValueError(f"--max-rows must be >= 1, got {max_rows}")
    if sum(p is not None for p in (model, synthetic, resampled)) != 1:
        raise ValueError("give exactly one of --model, --synthetic or --resampled")
    chosen = _classifiers(classifiers, seed)
    X, y = _read_labelled(real, target)
    H = hy = None
    if holdout is not None:
        H, hy = _read_labelled(holdout, target)
        H = _same_columns(X, H, holdout)
    sources = {"model": model, "synthetic": synthetic, "resampled": resampled}
    S, sy, extra, note = _synthetic_rows(sources, target, X, y, real, max_rows, seed)
    if len(S) == 0:
        raise ValueError("no synthetic rows to report on")
    with warnings_to_stderr():
        written = build_report(
            output,
            X,
            y,
            S,
            sy,
            holdout_X=H,
            holdout_y=hy,
            title=title,
            notes=[f"Real table: {real.name}.", note],
            classifiers=chosen,
            detection=detection,
            random_state=seed,
            force=force,
            progress=None if quiet else _say,
            **extra,
        )
    err.print(
        f"wrote {written['html']} (self-contained), {written['markdown']} and "
        f"{len(written) - 3} PNG files"
    )


def _say(message: str) -> None:
    """Progress of a long report on stderr (it takes tens of seconds on a larger table)."""
    err.print(f"[dim]{escape(message)}[/]")


def register(app: typer.Typer) -> None:
    app.command()(evaluate)
    app.command()(report)
