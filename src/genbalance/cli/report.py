"""Judging commands: ``evaluate`` (metric tables + JSON) and ``report`` (HTML/Markdown)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
out_console = Console()

TargetOpt = Annotated[str, typer.Option("--target", "-t", help="Class label column.")]
HoldoutOpt = Annotated[
    Path | None,
    typer.Option(help="Real rows the generator never saw (enables the attack and the gain)."),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same output).")]
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


def _classifiers(value: str, seed: int) -> dict[str, Any] | None:
    from genbalance.evaluation import default_classifiers

    if value.strip() == "all":
        return None
    known = default_classifiers(seed)
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"unknown classifiers {unknown}; accepted: {', '.join(known)} or 'all'")
    return {n: known[n] for n in names}


ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")]


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=2)


def _read_labelled(path: Path, target: str) -> tuple[pd.DataFrame, np.ndarray]:
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

    def keys(frame: pd.DataFrame, labels) -> pd.Series:
        h = pd.util.hash_pandas_object(frame.assign(__y=labels).astype(str), index=False)
        occurrence = h.groupby(h.to_numpy()).cumcount()
        return h.astype(str) + ":" + occurrence.astype(str)

    is_new = ~keys(resampled, res_y).isin(set(keys(real, real_y))).to_numpy()
    return resampled.loc[is_new].reset_index(drop=True), np.asarray(res_y)[is_new]


def _rich_frame(title: str, frame: pd.DataFrame) -> Table:
    table = Table(title=title)
    for col in frame.columns:
        table.add_column(str(col), justify="left" if frame[col].dtype == object else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*(_fmt(v) for v in row))
    return table


def _fmt(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def _print_metrics(result: dict[str, Any]) -> None:
    out_console.print(
        _rich_frame("Fidelity (1 = ideal; detection AUC 0.5 = ideal)", result["fidelity"])
    )
    util = result["utility"]
    if util["tstr"] is not None:
        out_console.print(_rich_frame("Utility: train on synthetic, test on real", util["tstr"]))
    if util["rebalancing_gain"] is not None:
        gain = util["rebalancing_gain"]
        out_console.print(
            _rich_frame(
                "Utility: rebalancing gain (mean over classifiers)",
                gain[gain["classifier"] == "mean"],
            )
        )
    for note in util["notes"]:
        console.print(f"[dim]note:[/] {note}")
    priv = result["privacy"]
    out_console.print(
        _rich_frame("Privacy", pd.DataFrame({"metric": list(priv), "value": list(priv.values())}))
    )


def _quietly(fn, *args, **kwargs):
    """Run ``fn``, showing its UserWarnings as one line each instead of tracebacks."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    for w in caught:
        if issubclass(w.category, UserWarning):
            console.print(f"[yellow]warning:[/] {w.message}")
    return result


def register(app: typer.Typer) -> None:
    @app.command()
    def evaluate(
        real: Annotated[Path, typer.Argument(help="Real (training) table, .csv or .parquet.")],
        synthetic: Annotated[Path, typer.Argument(help="Synthetic rows, same columns.")],
        target: TargetOpt,
        holdout: HoldoutOpt = None,
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Write the metrics as JSON.")
        ] = None,
        detection: DetectionOpt = True,
        classifiers: ClassifiersOpt = "all",
        seed: SeedOpt = 0,
        force: ForceOpt = False,
    ) -> None:
        """Fidelity (per class), utility and privacy of synthetic rows against the real ones."""
        from genbalance.evaluation.report import evaluate_tables, metrics_to_json
        from genbalance.files import atomic_write_bytes

        try:
            if output is not None and output.exists() and not force:
                raise FileExistsError(f"{output} exists; pass --force to overwrite it")
            X, y = _read_labelled(real, target)
            S, sy = _read_labelled(synthetic, target)
            S = _same_columns(X, S, synthetic)
            H = hy = None
            if holdout is not None:
                H, hy = _read_labelled(holdout, target)
                H = _same_columns(X, H, holdout)
            result = _quietly(
                evaluate_tables,
                X,
                y,
                S,
                sy,
                H,
                hy,
                detection=detection,
                classifiers=_classifiers(classifiers, seed),
                random_state=seed,
            )
            if output is not None:
                doc = {
                    "real": str(real),
                    "synthetic": str(synthetic),
                    "holdout": None if holdout is None else str(holdout),
                    **metrics_to_json(result),
                }
                atomic_write_bytes(output, json.dumps(doc, indent=2).encode(), overwrite=force)
        except (ValueError, TypeError, FileExistsError, FileNotFoundError) as exc:
            _fail(exc)
        _print_metrics(result)
        if output is not None:
            console.print(f"wrote {output}")

    @app.command()
    def report(
        real: Annotated[Path, typer.Argument(help="Real (training) table, .csv or .parquet.")],
        target: TargetOpt,
        output: Annotated[Path, typer.Option("--output", "-o", help="Report folder.")],
        model: Annotated[
            Path | None, typer.Option("--model", "-m", help="Saved synthesizer to sample from.")
        ] = None,
        synthetic: Annotated[
            Path | None, typer.Option(help="Table of generated rows only.")
        ] = None,
        resampled: Annotated[
            Path | None, typer.Option(help="Output of `genbalance resample` (real + new rows).")
        ] = None,
        holdout: HoldoutOpt = None,
        max_rows: Annotated[
            int, typer.Option(help="With --model: rows sampled per class at most.")
        ] = 2000,
        title: Annotated[str, typer.Option(help="Report title.")] = "genbalance report",
        detection: DetectionOpt = True,
        classifiers: ClassifiersOpt = "all",
        seed: SeedOpt = 0,
        force: ForceOpt = False,
    ) -> None:
        """One self-contained HTML report (plus Markdown + PNGs and metrics.json) in a folder."""
        from genbalance.evaluation.report import build_report

        try:
            given = [p for p in (model, synthetic, resampled) if p is not None]
            if len(given) != 1:
                raise ValueError("give exactly one of --model, --synthetic or --resampled")
            if max_rows < 1:
                raise ValueError(f"--max-rows must be >= 1, got {max_rows}")
            X, y = _read_labelled(real, target)
            H = hy = None
            if holdout is not None:
                H, hy = _read_labelled(holdout, target)
                H = _same_columns(X, H, holdout)
            kwargs: dict[str, Any] = {}
            notes = [f"Real table: {real.name}."]
            if model is not None:
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
                kwargs.update(
                    synthesizer=synth, after_counts={c: max(top, int(n)) for c, n in counts.items()}
                )
                notes.append(
                    f"Synthetic rows sampled from {model.name}: per class as many as the real "
                    f"table has (at most {max_rows}). 'After' counts: every class raised to "
                    "the majority's size, as `genbalance resample` does by default."
                )
            elif synthetic is not None:
                S, sy = _read_labelled(synthetic, target)
                S = _same_columns(X, S, synthetic)
                notes.append(f"Synthetic rows: {synthetic.name}.")
            else:
                R, ry = _read_labelled(resampled, target)
                R = _same_columns(X, R, resampled)
                S, sy = _new_rows(X, y, R, ry)
                notes.append(
                    f"Synthetic rows: the {len(S)} rows of {resampled.name} that are "
                    "not rows of the real table."
                )
                kwargs["after_counts"] = pd.Series(ry).value_counts().to_dict()
            if len(S) == 0:
                raise ValueError("no synthetic rows to report on")
            written = _quietly(
                build_report,
                output,
                X,
                y,
                S,
                sy,
                holdout_X=H,
                holdout_y=hy,
                title=title,
                notes=notes,
                classifiers=_classifiers(classifiers, seed),
                detection=detection,
                random_state=seed,
                force=force,
                **kwargs,
            )
        except (ValueError, TypeError, FileExistsError, FileNotFoundError) as exc:
            _fail(exc)
        console.print(
            f"wrote {written['html']} (self-contained), {written['markdown']} and "
            f"{len(written) - 3} PNG files"
        )
