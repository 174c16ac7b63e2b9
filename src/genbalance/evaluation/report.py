"""A report people can read: one self-contained HTML file, and the same as Markdown + PNGs.

``build_report(out_dir, real_X, real_y, synth_X, synth_y, synthesizer=...)`` writes
``report.html`` (every figure inlined as a base64 PNG, so the file can be mailed or attached
alone), ``report.md`` with the PNG files beside it, and ``metrics.json``. Sections: a
plain-language verdict per class, class counts before/after, training curves, differential
privacy (epsilon spent), marginal histograms real vs synthetic per class (and missing-value
shares), a 2-D PCA projection, the fidelity / utility / privacy tables
(:func:`evaluate_tables`), and sample grids for images.

Layout: ``report_metrics`` (the numbers), ``report_figures`` (PNG bytes), ``report_sections``
(one builder per section, in ``SECTION_BUILDERS`` order), ``report_verdict`` (plain-language
verdicts), ``report_render`` (HTML and Markdown), ``report_output`` (writing without harming
other files). This module only prepares the context, runs the builders and writes the files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genbalance.evaluation.features import split_columns, without_ids
from genbalance.evaluation.report_metrics import clean, evaluate_tables, metrics_to_json
from genbalance.evaluation.report_output import (
    check_free,
    linked_figures,
    remove_stale_figures,
    report_targets,
    write_files,
)
from genbalance.evaluation.report_render import Section, render_html, render_markdown
from genbalance.evaluation.report_sections import (
    SECTION_BUILDERS,
    SECTIONS,
    ReportContext,
    intro_paragraphs,
    run_sections,
)

__all__ = ["SECTIONS", "SECTION_BUILDERS", "build_report", "evaluate_tables", "metrics_to_json"]


def _counts(labels: Any) -> dict[Any, int]:
    values, counts = np.unique(np.asarray(labels, dtype=object).astype(str), return_counts=True)
    return {v: int(c) for v, c in zip(values.tolist(), counts.tolist(), strict=True)}


def _after_counts(
    before: dict[str, int], synth_y: np.ndarray | None, after_counts: Mapping[Any, int] | None
) -> dict[str, int]:
    """Class counts after rebalancing: as given, else real + synthetic rows."""
    if after_counts is not None:
        return {str(k): int(v) for k, v in after_counts.items()}
    after = dict(before)
    for k, v in (_counts(synth_y) if synth_y is not None else {}).items():
        after[k] = after.get(k, 0) + v
    return after


def _checked_labels(
    real_X: Any, real_y: Any, synth_X: pd.DataFrame | None, synth_y: Any
) -> tuple[np.ndarray, np.ndarray | None]:
    if not isinstance(real_X, pd.DataFrame):
        raise TypeError(f"real_X must be a pandas DataFrame, got {type(real_X).__name__}")
    real_y = np.asarray(real_y)
    if real_y.shape != (len(real_X),):
        raise ValueError(f"real_y must hold one label per row of real_X ({len(real_X)})")
    if synth_X is None:
        return real_y, None
    synth_y = np.asarray(synth_y)
    if synth_y.shape != (len(synth_X),):
        raise ValueError(f"synth_y must hold one label per synthetic row ({len(synth_X)})")
    return real_y, synth_y


def _history_and_privacy(
    synthesizer: Any, history: Any, privacy: Mapping[str, Any] | None
) -> tuple[Any, Mapping[str, Any] | None]:
    """What to show about training: the explicit arguments win over the synthesizer's record."""
    if synthesizer is not None:
        history = synthesizer.history_ if history is None else history
        privacy = synthesizer.history_.privacy if privacy is None else privacy
    if privacy is None and history is not None:
        privacy = getattr(history, "privacy", None) or (
            history.get("privacy") if isinstance(history, Mapping) else None
        )
    return history, privacy


def _evaluate(
    ctx: ReportContext,
    holdout_y: Any,
    classifiers: Mapping[str, Any] | None,
    detection: bool,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The metric tables for the context's rows (when the caller did not pass them)."""
    return evaluate_tables(
        ctx.real_X,
        ctx.real_y,
        ctx.synth_X,
        ctx.synth_y,
        ctx.holdout_X,
        holdout_y,
        categorical_features=ctx.categorical_features,
        classifiers=classifiers,
        detection=detection,
        random_state=ctx.random_state,
        progress=progress,
        id_columns=None,  # build_report left them out of the context already
    )


def _json_doc(title: str, ctx: ReportContext) -> dict[str, Any]:
    """metrics.json: the class counts, the privacy spend and the metric tables, strict JSON."""
    privacy = ctx.privacy or {}
    return {
        "title": title,
        "class_counts": {"before": ctx.before, "after": ctx.after},
        "privacy": {k: clean(v) if not isinstance(v, list) else v for k, v in privacy.items()},
        "metrics": metrics_to_json(ctx.metrics) if ctx.metrics is not None else None,
    }


def _files(
    targets: dict[str, Path],
    title: str,
    intro: list[str],
    sections: list[Section],
    json_doc: dict[str, Any],
) -> dict[str, tuple[Path, bytes]]:
    """Everything to write, in writing order: figures first, the pages that link them last."""
    out = targets["html"].parent
    files = {f.name: (out / f.name, f.png) for sec in sections for f in sec.figures}
    files["metrics"] = (targets["metrics"], json.dumps(json_doc, indent=2).encode())
    files["markdown"] = (targets["markdown"], render_markdown(title, intro, sections).encode())
    files["html"] = (targets["html"], render_html(title, intro, sections).encode())
    return files


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
    progress: Callable[[str], None] | None = None,
    id_columns: Any = "auto",
) -> dict[str, Path]:
    """Write ``report.html`` (self-contained), ``report.md`` + PNGs and ``metrics.json``.

    ``synth_X, synth_y``: the generated rows only (not the real ones). ``synthesizer``: a
    fitted :class:`~genbalance.Synthesizer` whose training history and privacy spend are shown
    (or give ``history`` - a ``History``, its JSON, or a list of step dicts - and ``privacy``).
    ``after_counts``: class counts after rebalancing (default: real + synthetic rows).
    ``metrics``: a precomputed :func:`evaluate_tables` result (else it is computed here).
    ``image_grids``: ``{"caption": (images, labels)}`` drawn as per-class sample grids.
    Without ``force`` no existing file is replaced (report files and figures alike); with
    it, figures an earlier report wrote here and this one does not are removed.
    ``progress``: called with a short message at each step (off by default). Returns the
    written paths: figures by file name, then ``metrics``, ``markdown`` and ``html``.
    ID columns (``id_columns``: "auto" = the table encoder's rule on ``real_X``, a list, or
    None) are left out of every figure, table and metric, and named in the intro: generated
    IDs are new values by design, so their histograms and projections would show nothing.
    """
    out = Path(output_dir)
    say = progress or (lambda message: None)
    targets = report_targets(out)
    check_free(targets.values(), force)  # before any work: the cheap, common case
    real_y, synth_y = _checked_labels(real_X, real_y, synth_X, synth_y)
    history, privacy = _history_and_privacy(synthesizer, history, privacy)
    before = _counts(real_y)
    real_X, (synth_X, holdout_X), categorical, ids = without_ids(
        real_X, [synth_X, holdout_X], categorical_features, id_columns
    )
    if ids:
        notes = [
            f"ID column(s) {', '.join(map(str, ids))} left out of every figure and metric: "
            "generated IDs are new values by design, never real ones.",
            *notes,
        ]
    ctx = ReportContext(
        real_X=real_X,
        real_y=real_y,
        synth_X=synth_X,
        synth_y=synth_y,
        holdout_X=holdout_X,
        history=history,
        privacy=privacy,
        before=before,
        after=_after_counts(before, synth_y, after_counts),
        numeric=list(split_columns(real_X, categorical)[0]),
        categorical_features=categorical,
        metrics=metrics,
        image_grids=image_grids,
        random_state=random_state,
    )
    if ctx.metrics is None and ctx.n_synth:
        say("computing fidelity, utility and privacy metrics")
        ctx.metrics = _evaluate(ctx, holdout_y, classifiers, detection, progress)
    sections = run_sections(ctx, SECTION_BUILDERS, progress)
    intro = intro_paragraphs(ctx, list(notes))
    files = _files(targets, title, intro, sections, _json_doc(title, ctx))
    check_free((path for path, _ in files.values()), force)  # figure names are known now
    earlier = linked_figures(targets["markdown"]) if force else set()
    say(f"writing {len(files)} files to {out}")
    written = write_files(out, files, force)
    remove_stale_figures(out, earlier, (p.name for p in written.values()))
    return written
