"""A report people can read: one self-contained HTML file, and the same as Markdown + PNGs.

``build_report(out_dir, real_X, real_y, synth_X, synth_y, synthesizer=...)`` writes
``report.html`` (every figure inlined as a base64 PNG, so the file can be mailed or attached
alone), ``report.md`` with the PNG files beside it, and ``metrics.json``. Sections: class
counts before/after, training curves, differential privacy (epsilon spent), marginal
histograms real vs synthetic per class, a 2-D PCA projection, the fidelity / utility /
privacy tables (:func:`evaluate_tables`), and sample grids for images.

Figures are drawn on bare Agg figures (``plots.figure``), never through pyplot's global state.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genbalance.evaluation import fidelity_report, privacy_report, rebalancing_gain, tstr
from genbalance.evaluation.features import encode_pair, split_columns
from genbalance.evaluation.plots import figure
from genbalance.files import atomic_write_bytes

__all__ = ["SECTIONS", "build_report", "evaluate_tables", "metrics_to_json"]

# section headings, in page order (the browser test looks for each of them)
SECTIONS = (
    "Class counts",
    "Training curves",
    "Differential privacy",
    "Marginal distributions",
    "2-D projection",
    "Fidelity",
    "Utility",
    "Privacy",
    "Sample grids",
)
_MAX_PLOT_ROWS = 2000  # per side, for scatter plots
_MAX_COLUMNS = 8  # marginal histograms per class
_MAX_CLASSES = 8  # classes with their own marginal figure


# ------------------------------------------------------------------------------ metrics
def evaluate_tables(
    real_X: pd.DataFrame,
    real_y: Any,
    synth_X: pd.DataFrame,
    synth_y: Any,
    holdout_X: pd.DataFrame | None = None,
    holdout_y: Any = None,
    *,
    categorical_features: Any = None,
    classifiers: Mapping[str, Any] | None = None,
    detection: bool = True,
    random_state: int | None = 0,
) -> dict[str, Any]:
    """Fidelity (overall and per class), utility and privacy of ``synth`` against ``real``.

    ``real`` is the data the generator was trained on. With a ``holdout`` (real rows it never
    saw) utility is tested on the holdout, the rebalancing gain is measured, and the privacy
    numbers include the membership-inference attack. Returns
    ``{"fidelity": DataFrame, "utility": {"tstr": DataFrame | None, "rebalancing_gain":
    DataFrame | None, "notes": [...]}, "privacy": dict}``.
    """
    real_y, synth_y = np.asarray(real_y), np.asarray(synth_y)
    if len(real_y) != len(real_X) or len(synth_y) != len(synth_X):
        raise ValueError("each table needs one label per row (real_y / synth_y lengths differ)")
    if len(synth_X) == 0:
        raise ValueError("the synthetic table has no rows; nothing to evaluate")
    has_holdout = holdout_X is not None
    if has_holdout:
        holdout_y = np.asarray(holdout_y)
        if holdout_y is None or len(holdout_y) != len(holdout_X):
            raise ValueError("holdout_y needs one label per holdout row")
    cat = categorical_features
    fidelity = fidelity_report(
        real_X, synth_X, real_y, synth_y, cat, detection=detection, random_state=random_state
    )
    notes: list[str] = []
    test_X, test_y = (holdout_X, holdout_y) if has_holdout else (real_X, real_y)
    tstr_table = None
    if len(np.unique(synth_y)) >= 2:
        tstr_table = tstr(synth_X, synth_y, test_X, test_y, classifiers, cat, random_state)
        if not has_holdout:
            notes.append("TSTR is tested on the training data itself (no holdout given).")
    else:
        notes.append("TSTR needs synthetic rows of at least two classes; skipped.")
    gain = None
    if has_holdout:
        gain = rebalancing_gain(
            real_X,
            real_y,
            synth_X,
            synth_y,
            holdout_X,
            holdout_y,
            classifiers,
            cat,
            random_state=random_state,
        )
    else:
        notes.append("The rebalancing gain needs a holdout (real rows not used in training).")
    privacy = privacy_report(real_X, synth_X, holdout_X if has_holdout else None, cat, random_state)
    if not has_holdout:
        notes.append("The membership-inference attack needs a holdout; not run.")
    return {
        "fidelity": fidelity,
        "utility": {"tstr": tstr_table, "rebalancing_gain": gain, "notes": notes},
        "privacy": privacy,
    }


def _clean(value: Any) -> Any:
    """JSON-safe scalars: NaN/inf -> None, numpy -> Python."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]] | None:
    if frame is None:
        return None
    return [{str(k): _clean(v) for k, v in row.items()} for row in frame.to_dict("records")]


def metrics_to_json(result: Mapping[str, Any]) -> dict[str, Any]:
    """The output of :func:`evaluate_tables` as plain JSON (tables as lists of records)."""
    utility = result["utility"]
    return {
        "fidelity": _records(result["fidelity"]),
        "utility": {
            "tstr": _records(utility["tstr"]),
            "rebalancing_gain": _records(utility["rebalancing_gain"]),
            "notes": list(utility["notes"]),
        },
        "privacy": {k: _clean(v) for k, v in result["privacy"].items()},
    }


# ------------------------------------------------------------------------------ figures
def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _counts_figure(before: Mapping[Any, int], after: Mapping[Any, int]) -> bytes:
    classes = sorted(set(before) | set(after), key=str)
    x = np.arange(len(classes))
    fig = figure(max(4.0, 0.9 * len(classes) + 2), 3.2)
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(x - 0.2, [before.get(c, 0) for c in classes], 0.4, label="before")
    ax.bar(x + 0.2, [after.get(c, 0) for c in classes], 0.4, label="after")
    ax.set_xticks(x)
    ax.set_xticklabels([str(c) for c in classes], fontsize=8)
    ax.set_ylabel("rows")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _png(fig)


def _loss_figure(steps: Sequence[Mapping[str, float]]) -> bytes | None:
    keys = sorted({k for s in steps for k in s if k.startswith("loss")})
    if not keys:
        return None
    fig = figure(6.0, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    window = max(1, len(steps) // 50)
    kernel = np.ones(window) / window
    for key in keys:
        pts = [
            (s.get("step", i + 1), s[key])
            for i, s in enumerate(steps)
            if s.get(key) is not None and math.isfinite(s[key])
        ]
        if not pts:
            continue
        xs, ys = np.asarray(pts, float).T
        if len(ys) >= window > 1:
            ys = np.convolve(ys, kernel, mode="valid")
            xs = xs[len(xs) - len(ys) :]
        ax.plot(xs, ys, label=key, linewidth=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _marginals_figure(real: pd.DataFrame, synth: pd.DataFrame, numeric: set, title: str) -> bytes:
    cols = list(real.columns[:_MAX_COLUMNS])
    ncols = min(4, len(cols))
    nrows = math.ceil(len(cols) / ncols)
    fig = figure(3.0 * ncols, 2.4 * nrows + 0.4)
    for i, col in enumerate(cols):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        if col in numeric:
            r = pd.to_numeric(real[col], errors="coerce").dropna().to_numpy(float)
            s = pd.to_numeric(synth[col], errors="coerce").dropna().to_numpy(float)
            both = np.concatenate([r, s])
            if both.size:
                lo, hi = np.percentile(both, [0.5, 99.5])
                bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 21)
                ax.hist(r, bins=bins, density=True, alpha=0.5, label="real")
                ax.hist(
                    s, bins=bins, density=True, histtype="step", linewidth=1.5, label="synthetic"
                )
        else:
            rf = real[col].astype(str).value_counts(normalize=True)
            sf = synth[col].astype(str).value_counts(normalize=True)
            cats = list(rf.index[:10])
            x = np.arange(len(cats))
            ax.bar(x - 0.2, [rf.get(c, 0.0) for c in cats], 0.4, label="real")
            ax.bar(x + 0.2, [sf.get(c, 0.0) for c in cats], 0.4, label="synthetic")
            ax.set_xticks(x)
            ax.set_xticklabels([c[:8] for c in cats], fontsize=6, rotation=45)
        ax.set_title(str(col), fontsize=8)
        ax.tick_params(labelsize=6)
        if i == 0:
            ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _png(fig)


def _projection_figure(real_X, real_y, synth_X, synth_y, cat, random_state) -> bytes:
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(random_state)
    ri = np.sort(rng.permutation(len(real_X))[:_MAX_PLOT_ROWS])
    si = np.sort(rng.permutation(len(synth_X))[:_MAX_PLOT_ROWS])
    r_enc, s_enc = encode_pair(real_X.iloc[ri], [synth_X.iloc[si]], cat, "standard")
    n_comp = min(2, r_enc.shape[1], len(ri))
    pca = PCA(n_components=n_comp, random_state=random_state).fit(r_enc)
    r2, s2 = pca.transform(r_enc), pca.transform(s_enc)
    if n_comp == 1:
        r2, s2 = np.c_[r2, np.zeros(len(r2))], np.c_[s2, np.zeros(len(s2))]
    fig = figure(6.0, 4.4)
    ax = fig.add_subplot(1, 1, 1)
    ry, sy = np.asarray(real_y)[ri], np.asarray(synth_y)[si]
    classes = sorted(set(ry.tolist()) | set(sy.tolist()), key=str)
    colours = [f"C{i % 10}" for i in range(len(classes))]
    for cls, colour in zip(classes, colours, strict=True):
        m = ry == cls
        ax.scatter(r2[m, 0], r2[m, 1], s=8, c=colour, alpha=0.35, marker="o", label=f"real {cls}")
        m = sy == cls
        ax.scatter(
            s2[m, 0], s2[m, 1], s=12, c=colour, alpha=0.8, marker="x", label=f"synthetic {cls}"
        )
    ratio = pca.explained_variance_ratio_
    ax.set_xlabel(f"PC1 ({ratio[0]:.0%} of real variance)")
    ax.set_ylabel(f"PC2 ({ratio[1]:.0%})" if n_comp > 1 else "")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


# ------------------------------------------------------------------------------ document
@dataclass
class _Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file name, caption)


def _format_cell(value: Any) -> str:
    value = _clean(value)
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _md_table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = [
        "| " + " | ".join(_format_cell(v).replace("|", "\\|") for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([head, rule, *body])


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_format_cell(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #446;padding-bottom:.2em}
h2{margin-top:1.8em;color:#335;border-bottom:1px solid #ccd}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em}
th,td{border:1px solid #ccd;padding:.25em .6em;text-align:right}
th{background:#eef}
td:first-child,th:first-child{text-align:left}
figure{margin:.8em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.note{color:#555;font-style:italic}
"""


def _render_html(
    title: str, intro: list[str], sections: list[_Section], images: Mapping[str, bytes]
) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f"<p>{html.escape(p)}</p>" for p in intro]
    for sec in sections:
        slug = sec.title.lower().replace(" ", "-")
        parts.append(f'<section id="{html.escape(slug)}"><h2>{html.escape(sec.title)}</h2>')
        parts += [f'<p class="note">{html.escape(p)}</p>' for p in sec.paragraphs]
        for caption, table in sec.tables:
            if caption:
                parts.append(f"<h3>{html.escape(caption)}</h3>")
            parts.append(_html_table(table))
        for name, caption in sec.figures:
            data = base64.b64encode(images[name]).decode("ascii")
            parts.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _render_markdown(title: str, intro: list[str], sections: list[_Section]) -> str:
    out = [f"# {title}", ""]
    out += [p + "\n" for p in intro]
    for sec in sections:
        out += [f"## {sec.title}", ""]
        out += [f"_{p}_\n" for p in sec.paragraphs]
        for caption, table in sec.tables:
            if caption:
                out += [f"### {caption}", ""]
            out += [_md_table(table), ""]
        for name, caption in sec.figures:
            out += [f"![{caption}]({name})", ""]
    return "\n".join(out)


def _counts(labels: Any) -> dict[Any, int]:
    values, counts = np.unique(np.asarray(labels, dtype=object).astype(str), return_counts=True)
    return {v: int(c) for v, c in zip(values.tolist(), counts.tolist(), strict=True)}


def _history_steps(history: Any) -> list[dict[str, float]]:
    if history is None:
        return []
    if hasattr(history, "steps"):
        return list(history.steps)
    if isinstance(history, Mapping):
        return list(history.get("steps", []))
    return list(history)


def build_report(
    output_dir: str | Path,
    real_X: pd.DataFrame,
    real_y: Any,
    synth_X: pd.DataFrame | None = None,
    synth_y: Any = None,
    *,
    synthesizer: Any = None,
    history: Any = None,
    privacy: Mapping[str, Any] | None = None,
    after_counts: Mapping[Any, int] | None = None,
    holdout_X: pd.DataFrame | None = None,
    holdout_y: Any = None,
    metrics: Mapping[str, Any] | None = None,
    image_grids: Mapping[str, tuple[Any, Any]] | None = None,
    title: str = "genbalance report",
    notes: Sequence[str] = (),
    categorical_features: Any = None,
    classifiers: Mapping[str, Any] | None = None,
    detection: bool = True,
    random_state: int | None = 0,
    force: bool = False,
) -> dict[str, Path]:
    """Write ``report.html`` (self-contained), ``report.md`` + PNGs and ``metrics.json``.

    ``synth_X, synth_y``: the generated rows only (not the real ones). ``synthesizer``: a
    fitted :class:`~genbalance.Synthesizer` whose training history and privacy spend are shown
    (or give ``history`` - a ``History``, its JSON, or a list of step dicts - and ``privacy``).
    ``after_counts``: class counts after rebalancing (default: real + synthetic rows).
    ``metrics``: a precomputed :func:`evaluate_tables` result (else it is computed here).
    ``image_grids``: ``{"caption": (images, labels)}`` drawn as per-class sample grids.
    Existing report files are not replaced unless ``force``. Returns the written paths.
    """
    out = Path(output_dir)
    targets = {
        "html": out / "report.html",
        "markdown": out / "report.md",
        "metrics": out / "metrics.json",
    }
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not force:
        raise FileExistsError(
            f"report files already exist: {existing}; pass force=True (--force) to replace them"
        )
    if not isinstance(real_X, pd.DataFrame):
        raise TypeError(f"real_X must be a pandas DataFrame, got {type(real_X).__name__}")
    real_y = np.asarray(real_y)
    if real_y.shape != (len(real_X),):
        raise ValueError(f"real_y must hold one label per row of real_X ({len(real_X)})")
    has_synth = synth_X is not None
    if has_synth:
        synth_y = np.asarray(synth_y)
        if synth_y.shape != (len(synth_X),):
            raise ValueError(f"synth_y must hold one label per synthetic row ({len(synth_X)})")
    if synthesizer is not None:
        history = synthesizer.history_ if history is None else history
        privacy = synthesizer.history_.privacy if privacy is None else privacy
    if privacy is None and history is not None:
        privacy = getattr(history, "privacy", None) or (
            history.get("privacy") if isinstance(history, Mapping) else None
        )

    images: dict[str, bytes] = {}
    sections: list[_Section] = []

    # class counts
    before = _counts(real_y)
    if after_counts is not None:
        after = {str(k): int(v) for k, v in after_counts.items()}
    else:
        after = dict(before)
        for k, v in (_counts(synth_y) if has_synth else {}).items():
            after[k] = after.get(k, 0) + v
    sec = _Section("Class counts")
    keys = sorted(set(before) | set(after), key=str)
    sec.tables.append(
        (
            "",
            pd.DataFrame(
                {
                    "class": keys,
                    "before": [before.get(k, 0) for k in keys],
                    "after": [after.get(k, 0) for k in keys],
                    "added": [after.get(k, 0) - before.get(k, 0) for k in keys],
                }
            ),
        )
    )
    images["class_counts.png"] = _counts_figure(before, after)
    sec.figures.append(("class_counts.png", "Rows per class before and after rebalancing"))
    sections.append(sec)

    # training curves
    sec = _Section("Training curves")
    steps = _history_steps(history)
    fig = _loss_figure(steps) if steps else None
    if fig is not None:
        images["training_curves.png"] = fig
        sec.figures.append(("training_curves.png", f"Losses over {len(steps)} logged steps"))
        stopped = getattr(history, "stopped_early", None) or (
            history.get("stopped_early") if isinstance(history, Mapping) else None
        )
        if stopped:
            sec.paragraphs.append(f"Training stopped early: {stopped}")
    else:
        sec.paragraphs.append("No training history was given (e.g. a resampled table).")
    sections.append(sec)

    # differential privacy
    sec = _Section("Differential privacy")
    if privacy:
        sec.paragraphs.append(
            f"Trained with DP-SGD: ({privacy.get('epsilon', float('nan')):.4g}, "
            f"{privacy.get('delta', float('nan')):.2g})-differential privacy spent of a target "
            f"epsilon of {privacy.get('target_epsilon', float('nan')):g}."
        )
        shown = [
            "epsilon",
            "target_epsilon",
            "delta",
            "noise_multiplier",
            "max_grad_norm",
            "sample_rate",
            "steps",
            "accountant",
            "private_parts",
            "swapped_layers",
        ]
        sec.tables.append(
            (
                "",
                pd.DataFrame(
                    {
                        "setting": [k for k in shown if k in privacy],
                        "value": [
                            ", ".join(map(str, v)) if isinstance(v, list) else v
                            for k, v in ((k, privacy[k]) for k in shown if k in privacy)
                        ],
                    }
                ),
            )
        )
    else:
        sec.paragraphs.append("The model was not trained with differential privacy.")
    sections.append(sec)

    numeric, categorical = split_columns(real_X, categorical_features)
    # marginals per class
    sec = _Section("Marginal distributions")
    if has_synth and len(synth_X):
        shared = [c for c in sorted(set(before), key=str) if c in set(synth_y.astype(str))]
        if len(shared) > _MAX_CLASSES:
            sec.paragraphs.append(f"Showing the first {_MAX_CLASSES} of {len(shared)} classes.")
        for i, cls in enumerate(shared[:_MAX_CLASSES]):
            name = f"marginals_class_{i}.png"
            r = real_X[real_y.astype(str) == cls]
            s = synth_X[synth_y.astype(str) == cls]
            images[name] = _marginals_figure(
                r,
                s[list(real_X.columns)],
                set(numeric),
                f"class {cls}: real ({len(r)}) vs synthetic ({len(s)})",
            )
            sec.figures.append((name, f"Marginal distributions of class {cls}"))
        if len(real_X.columns) > _MAX_COLUMNS:
            sec.paragraphs.append(f"First {_MAX_COLUMNS} of {len(real_X.columns)} columns.")
        if not shared:
            sec.paragraphs.append("No class has both real and synthetic rows.")
    else:
        sec.paragraphs.append("No synthetic rows were given.")
    sections.append(sec)

    # projection
    sec = _Section("2-D projection")
    if has_synth and len(synth_X) >= 1 and len(real_X) >= 2:
        images["projection.png"] = _projection_figure(
            real_X,
            real_y.astype(str),
            synth_X[list(real_X.columns)],
            synth_y.astype(str),
            categorical_features,
            random_state,
        )
        sec.figures.append(
            (
                "projection.png",
                "PCA (fitted on the real rows) of real (o) and "
                "synthetic (x) rows, coloured by class",
            )
        )
    else:
        sec.paragraphs.append("No synthetic rows were given.")
    sections.append(sec)

    # metric tables
    result = metrics
    if result is None and has_synth and len(synth_X):
        result = evaluate_tables(
            real_X,
            real_y,
            synth_X,
            synth_y,
            holdout_X,
            holdout_y,
            categorical_features=categorical_features,
            classifiers=classifiers,
            detection=detection,
            random_state=random_state,
        )
    for name in ("Fidelity", "Utility", "Privacy"):
        sec = _Section(name)
        if result is None:
            sec.paragraphs.append("No synthetic rows were given.")
        elif name == "Fidelity":
            sec.paragraphs.append(
                "Column shapes (KS / TV complement) and pair trends: 1 is ideal; detection: "
                "ROC-AUC of a classifier telling real from synthetic (0.5 is ideal)."
            )
            sec.tables.append(("", result["fidelity"]))
        elif name == "Utility":
            util = result["utility"]
            sec.paragraphs += list(util["notes"])
            if util["tstr"] is not None:
                sec.tables.append(("Train on synthetic, test on real", util["tstr"]))
            if util["rebalancing_gain"] is not None:
                gain = util["rebalancing_gain"]
                sec.tables.append(
                    (
                        "Rebalancing gain (mean over classifiers)",
                        gain[gain["classifier"] == "mean"].drop(columns="classifier"),
                    )
                )
        else:
            sec.paragraphs.append(
                "DCR: distance of each synthetic row to its closest training row (0 = a copy); "
                "MIA AUC 0.5 = no membership leak."
            )
            sec.tables.append(
                (
                    "",
                    pd.DataFrame(
                        {
                            "metric": list(result["privacy"]),
                            "value": list(result["privacy"].values()),
                        }
                    ),
                )
            )
        sections.append(sec)

    # image grids
    sec = _Section("Sample grids")
    if image_grids:
        for i, (caption, (imgs, labels)) in enumerate(image_grids.items()):
            name = f"sample_grid_{i}.png"
            images[name] = _grid_png(imgs, labels, caption, random_state)
            sec.figures.append((name, caption))
    else:
        sec.paragraphs.append("Not an image dataset.")
    sections.append(sec)

    intro = [
        f"Real rows: {len(real_X)} ({len(real_X.columns)} columns, {len(before)} classes). "
        + (f"Synthetic rows: {len(synth_X)}." if has_synth else "No synthetic rows.")
        + (f" Holdout rows: {len(holdout_X)}." if holdout_X is not None else ""),
        *notes,
    ]
    written: dict[str, Path] = {}
    out.mkdir(parents=True, exist_ok=True)
    for name, data in images.items():
        written[name] = atomic_write_bytes(out / name, data, overwrite=True)
    json_doc = {
        "title": title,
        "class_counts": {"before": before, "after": after},
        "privacy": {
            k: _clean(v) if not isinstance(v, list) else v for k, v in (privacy or {}).items()
        },
        "metrics": metrics_to_json(result) if result is not None else None,
    }
    written["metrics"] = atomic_write_bytes(
        targets["metrics"], json.dumps(json_doc, indent=2).encode(), overwrite=True
    )
    written["markdown"] = atomic_write_bytes(
        targets["markdown"], _render_markdown(title, intro, sections).encode(), overwrite=True
    )
    written["html"] = atomic_write_bytes(
        targets["html"], _render_html(title, intro, sections, images).encode(), overwrite=True
    )
    return written


def _grid_png(imgs: Any, labels: Any, caption: str, random_state: int | None) -> bytes:
    """A per-class sample grid (plots.save_sample_grid) as PNG bytes."""
    import tempfile

    from genbalance.evaluation.plots import save_sample_grid

    with tempfile.TemporaryDirectory() as tmp:
        path = save_sample_grid(
            Path(tmp) / "grid.png", imgs, labels, title=caption, random_state=random_state
        )
        return path.read_bytes()
