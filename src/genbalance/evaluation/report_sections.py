"""The report's sections: one small builder per section, run in the order of ``SECTION_BUILDERS``.

Every builder has the same signature, ``build(ctx: ReportContext) -> Section | None``: it reads
the prepared inputs from the context and says what its section shows. ``None`` leaves the
section out; the built-in builders always return a section (the page then has every heading of
``SECTIONS``, which the tests and readers look for). A new section is a new function plus one
line in ``SECTION_BUILDERS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from genbalance.evaluation.report_figures import (
    MAX_COLUMNS,
    counts_figure,
    grid_png,
    loss_figure,
    marginals_figure,
    projection_figure,
)
from genbalance.evaluation.report_output import safe_file_part, unique_names
from genbalance.evaluation.report_render import Figure, Section
from genbalance.evaluation.report_verdict import class_verdicts, thresholds_table

__all__ = [
    "MAX_CLASSES",
    "SECTIONS",
    "SECTION_BUILDERS",
    "ReportContext",
    "SectionBuilder",
    "history_steps",
    "intro_paragraphs",
    "run_sections",
]

MAX_CLASSES = 8  # classes with their own marginal figure
MAX_MISSING_ROWS = 50  # rows of the missing-values table
NO_SYNTH = "No synthetic rows were given."
DP_SHOWN = (
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
)


@dataclass
class ReportContext:
    """Everything the builders read, validated and derived once by ``build_report``."""

    real_X: pd.DataFrame
    real_y: np.ndarray
    synth_X: pd.DataFrame | None
    synth_y: np.ndarray | None
    holdout_X: pd.DataFrame | None
    history: Any
    privacy: Mapping[str, Any] | None
    before: dict[str, int]  # class counts of the real table
    after: dict[str, int]  # class counts after rebalancing
    numeric: list[str]  # numeric columns of real_X
    categorical_features: Any
    metrics: Mapping[str, Any] | None  # an evaluate_tables result, None without synthetic rows
    image_grids: Mapping[str, tuple[Any, Any]] | None
    random_state: int | None

    @property
    def has_synth(self) -> bool:
        """Synthetic rows were given (maybe zero of them)."""
        return self.synth_X is not None

    @property
    def n_synth(self) -> int:
        return 0 if self.synth_X is None else len(self.synth_X)

    @property
    def classes(self) -> list[str]:
        """Every class of the counts table, in its order."""
        return sorted(set(self.before) | set(self.after), key=str)

    @property
    def added(self) -> dict[str, int]:
        """Rows rebalancing adds per class: the one source of every "added" number shown."""
        return {k: self.after.get(k, 0) - self.before.get(k, 0) for k in self.classes}


Builder = Callable[[ReportContext], "Section | None"]


class SectionBuilder(NamedTuple):
    """A registered section: its heading and the function that fills it."""

    title: str
    build: Builder


def history_steps(history: Any) -> list[dict[str, float]]:
    """The logged steps of a ``History``, its JSON form, or a plain list of step dicts."""
    if history is None:
        return []
    if hasattr(history, "steps"):
        return list(history.steps)
    if isinstance(history, Mapping):
        return list(history.get("steps", []))
    return list(history)


# ---------------------------------------------------------------------------- builders
def summary_section(ctx: ReportContext) -> Section:
    """A plain-language headline per class, for readers who skip the tables."""
    if ctx.metrics is None:
        return Section(paragraphs=["Nothing to judge without synthetic rows."])
    note = (
        "One verdict per class: the worst reading among detection AUC, column shapes and pair "
        "trends (thresholds: 'How to read the metrics' under Fidelity)."
    )
    table = class_verdicts(ctx.metrics["fidelity"], ctx.classes)
    return Section(paragraphs=[note], tables=[("", table)])


def class_counts_section(ctx: ReportContext) -> Section:
    """Rows per class before and after: what rebalancing changed."""
    before, after, added = ctx.before, ctx.after, ctx.added
    keys = ctx.classes
    table = pd.DataFrame(
        {
            "class": keys,
            "before": [before.get(k, 0) for k in keys],
            "after": [after.get(k, 0) for k in keys],
            "added": [added[k] for k in keys],
        }
    )
    fig = Figure(
        "class_counts.png",
        "Rows per class before and after rebalancing",
        counts_figure(before, after),
    )
    return Section(tables=[("", table)], figures=[fig])


def training_curves_section(ctx: ReportContext) -> Section:
    """Loss curves of the generator, so a diverged or too-short training shows."""
    sec = Section()
    history = ctx.history
    steps = history_steps(history)
    png = loss_figure(steps) if steps else None
    if png is None:
        sec.paragraphs.append("No training history was given (e.g. a resampled table).")
        return sec
    sec.figures.append(Figure("training_curves.png", f"Losses over {len(steps)} logged steps", png))
    stopped = getattr(history, "stopped_early", None) or (
        history.get("stopped_early") if isinstance(history, Mapping) else None
    )
    if stopped:
        sec.paragraphs.append(f"Training stopped early: {stopped}")
    return sec


def privacy_budget_section(ctx: ReportContext) -> Section:
    """The differential-privacy budget spent in training (or that none was)."""
    sec = Section()
    privacy = ctx.privacy
    if not privacy:
        sec.paragraphs.append("The model was not trained with differential privacy.")
        return sec
    sec.paragraphs.append(
        f"Trained with DP-SGD: ({privacy.get('epsilon', float('nan')):.4g}, "
        f"{privacy.get('delta', float('nan')):.2g})-differential privacy spent of a target "
        f"epsilon of {privacy.get('target_epsilon', float('nan')):g}."
    )
    keys = [k for k in DP_SHOWN if k in privacy]
    values = [", ".join(map(str, v)) if isinstance(v, list) else v for v in map(privacy.get, keys)]
    sec.tables.append(("", pd.DataFrame({"setting": keys, "value": values})))
    return sec


def marginals_section(ctx: ReportContext) -> Section:
    """Per-class histograms real vs synthetic: where a class's columns drift."""
    sec = Section()
    if not ctx.n_synth:
        sec.paragraphs.append(NO_SYNTH)
        return sec
    real_X, synth_X = ctx.real_X, ctx.synth_X
    real_y, synth_y = ctx.real_y.astype(str), ctx.synth_y.astype(str)
    shared = [c for c in sorted(set(ctx.before), key=str) if c in set(synth_y)]
    if len(shared) > MAX_CLASSES:
        sec.paragraphs.append(f"Showing the first {MAX_CLASSES} of {len(shared)} classes.")
    shown = shared[:MAX_CLASSES]
    names = unique_names(map(safe_file_part, shown), "marginals_class_", ".png")
    for cls, name in zip(shown, names, strict=True):
        r = real_X[real_y == cls]
        s = synth_X[synth_y == cls]
        title = f"class {cls}: real ({len(r)}) vs synthetic ({len(s)})"
        png = marginals_figure(r, s[list(real_X.columns)], set(ctx.numeric), title)
        sec.figures.append(Figure(name, f"Marginal distributions of class {cls}", png))
    if len(real_X.columns) > MAX_COLUMNS:
        sec.paragraphs.append(f"First {MAX_COLUMNS} of {len(real_X.columns)} columns.")
    if not shared:
        sec.paragraphs.append("No class has both real and synthetic rows.")
        return sec
    missing = missing_table(ctx, shown)
    if missing.empty:
        sec.paragraphs.append("No missing values in the real or synthetic rows of these classes.")
    else:
        if len(missing) > MAX_MISSING_ROWS:
            sec.paragraphs.append(f"Missing values: first {MAX_MISSING_ROWS} of {len(missing)}.")
        sec.tables.append(("Missing values (share of rows)", missing.head(MAX_MISSING_ROWS)))
    return sec


def missing_table(ctx: ReportContext, classes: list[str]) -> pd.DataFrame:
    """Share of missing values per class and column (only where either side has some).

    A generator that never produces a missing value (or always does) looks fine in the
    histograms, which drop missing values; this table shows it.
    """
    real_y, synth_y = ctx.real_y.astype(str), ctx.synth_y.astype(str)
    cols = list(ctx.real_X.columns)
    rows = []
    for cls in classes:
        r = ctx.real_X[real_y == cls].isna().mean()
        s = ctx.synth_X[synth_y == cls][cols].isna().mean()
        for col in cols:
            if r[col] > 0 or s[col] > 0:
                rows.append((cls, str(col), f"{r[col]:.1%}", f"{s[col]:.1%}"))
    return pd.DataFrame(rows, columns=["class", "column", "real", "synthetic"])


def projection_section(ctx: ReportContext) -> Section:
    """Real and synthetic rows on one PCA plane: overlap (or not) at a glance."""
    sec = Section()
    if not ctx.n_synth or len(ctx.real_X) < 2:
        sec.paragraphs.append(NO_SYNTH)
        return sec
    png = projection_figure(
        ctx.real_X,
        ctx.real_y.astype(str),
        ctx.synth_X[list(ctx.real_X.columns)],
        ctx.synth_y.astype(str),
        ctx.categorical_features,
        ctx.random_state,
    )
    caption = "PCA (fitted on the real rows) of real (o) and synthetic (x) rows, coloured by class"
    sec.figures.append(Figure("projection.png", caption, png))
    return sec


def fidelity_section(ctx: ReportContext) -> Section:
    """How close the synthetic rows are to the real ones, overall and per class."""
    if ctx.metrics is None:
        return Section(paragraphs=[NO_SYNTH])
    note = (
        "Column shapes (KS / TV complement) and pair trends: 1 is ideal; detection: "
        "ROC-AUC of a classifier telling real from synthetic (0.5 is ideal)."
    )
    tables = [("", ctx.metrics["fidelity"]), ("How to read the metrics", thresholds_table())]
    return Section(paragraphs=[note], tables=tables)


def utility_section(ctx: ReportContext) -> Section:
    """Whether the synthetic rows help a classifier (TSTR, rebalancing gain)."""
    if ctx.metrics is None:
        return Section(paragraphs=[NO_SYNTH])
    util = ctx.metrics["utility"]
    sec = Section(paragraphs=list(util["notes"]))
    if util["tstr"] is not None:
        sec.tables.append(("Train on synthetic, test on real", util["tstr"]))
    if util["rebalancing_gain"] is not None:
        gain = util["rebalancing_gain"]
        mean = gain[gain["classifier"] == "mean"].drop(columns="classifier")
        sec.tables.append(("Rebalancing gain (mean over classifiers)", mean))
    return sec


def privacy_section(ctx: ReportContext) -> Section:
    """How much the synthetic rows give away about the training rows."""
    if ctx.metrics is None:
        return Section(paragraphs=[NO_SYNTH])
    note = (
        "DCR: distance of each synthetic row to its closest training row (0 = a copy); "
        "MIA AUC 0.5 = no membership leak."
    )
    priv = ctx.metrics["privacy"]
    table = pd.DataFrame({"metric": list(priv), "value": list(priv.values())})
    return Section(paragraphs=[note], tables=[("", table)])


def sample_grids_section(ctx: ReportContext) -> Section:
    """Sample images per class, for image datasets."""
    sec = Section()
    if not ctx.image_grids:
        sec.paragraphs.append("Not an image dataset.")
        return sec
    for i, (caption, (imgs, labels)) in enumerate(ctx.image_grids.items()):
        png = grid_png(imgs, labels, caption, ctx.random_state)
        sec.figures.append(Figure(f"sample_grid_{i}.png", caption, png))
    return sec


SECTION_BUILDERS: tuple[SectionBuilder, ...] = (
    SectionBuilder("Summary", summary_section),
    SectionBuilder("Class counts", class_counts_section),
    SectionBuilder("Training curves", training_curves_section),
    SectionBuilder("Differential privacy", privacy_budget_section),
    SectionBuilder("Marginal distributions", marginals_section),
    SectionBuilder("2-D projection", projection_section),
    SectionBuilder("Fidelity", fidelity_section),
    SectionBuilder("Utility", utility_section),
    SectionBuilder("Privacy", privacy_section),
    SectionBuilder("Sample grids", sample_grids_section),
)
# section headings, in page order (the browser test looks for each of them)
SECTIONS: tuple[str, ...] = tuple(b.title for b in SECTION_BUILDERS)


def run_sections(
    ctx: ReportContext,
    builders: tuple[SectionBuilder, ...] = SECTION_BUILDERS,
    progress: Callable[[str], None] | None = None,
) -> list[Section]:
    """Run the builders in order; each returned section gets its registered heading."""
    sections: list[Section] = []
    for i, builder in enumerate(builders, start=1):
        if progress is not None:
            progress(f"section {i}/{len(builders)}: {builder.title}")
        sec = builder.build(ctx)
        if sec is not None:
            sections.append(replace(sec, title=builder.title))
    return sections


def intro_paragraphs(ctx: ReportContext, notes: tuple[str, ...] | list[str]) -> list[str]:
    """The lines under the title: table sizes, then the caller's notes.

    The count of added rows is the sum of the Class counts table's "added" column
    (``ctx.added``), so the two can never disagree; when the metrics judge a different number
    of synthetic rows (a sample drawn from a model), that is said separately.
    """
    n_added = sum(ctx.added.values())
    shape = f"{len(ctx.real_X.columns)} columns, {len(ctx.before)} classes"
    parts = [f"Real rows: {len(ctx.real_X)} ({shape})."]
    if ctx.has_synth or n_added:
        parts.append(f"Rows added by rebalancing: {n_added} (the 'added' column of Class counts).")
    if not ctx.has_synth:
        parts.append("No synthetic rows.")
    elif ctx.n_synth != n_added:
        parts.append(f"The metrics below judge {ctx.n_synth} synthetic rows.")
    if ctx.holdout_X is not None:
        parts.append(f"Holdout rows: {len(ctx.holdout_X)}.")
    return [" ".join(parts), *notes]
