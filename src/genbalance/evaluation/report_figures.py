"""The report's figures, each returned as PNG bytes so the HTML can inline them.

Drawn on bare Agg figures (``plots.figure``), never through pyplot's global state, so a report
built inside a notebook or a GUI program leaves the user's backend alone.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from genbalance.evaluation.features import encode_pair
from genbalance.evaluation.plots import figure

__all__ = [
    "MAX_COLUMNS",
    "MAX_PLOT_ROWS",
    "counts_figure",
    "grid_png",
    "loss_figure",
    "marginals_figure",
    "png",
    "projection_figure",
]

MAX_PLOT_ROWS = 2000  # per side, for scatter plots
MAX_COLUMNS = 8  # marginal histograms per class


def png(fig) -> bytes:
    """PNG bytes at a fixed dpi (the same figure gives the same bytes on every run)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def counts_figure(before: Mapping[Any, int], after: Mapping[Any, int]) -> bytes:
    """Bars of rows per class, before and after rebalancing."""
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
    return png(fig)


def loss_figure(steps: Sequence[Mapping[str, float]]) -> bytes | None:
    """Smoothed loss curves (every ``loss*`` key of the steps); ``None`` without any loss."""
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
    return png(fig)


def _numeric_hist(ax, real: pd.Series, synth: pd.Series) -> None:
    r = pd.to_numeric(real, errors="coerce").dropna().to_numpy(float)
    s = pd.to_numeric(synth, errors="coerce").dropna().to_numpy(float)
    both = np.concatenate([r, s])
    if both.size:
        lo, hi = np.percentile(both, [0.5, 99.5])
        bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 21)
        ax.hist(r, bins=bins, density=True, alpha=0.5, label="real")
        ax.hist(s, bins=bins, density=True, histtype="step", linewidth=1.5, label="synthetic")


def _category_bars(ax, real: pd.Series, synth: pd.Series) -> None:
    rf = real.astype(str).value_counts(normalize=True)
    sf = synth.astype(str).value_counts(normalize=True)
    cats = list(rf.index[:10])
    x = np.arange(len(cats))
    ax.bar(x - 0.2, [rf.get(c, 0.0) for c in cats], 0.4, label="real")
    ax.bar(x + 0.2, [sf.get(c, 0.0) for c in cats], 0.4, label="synthetic")
    ax.set_xticks(x)
    ax.set_xticklabels([c[:8] for c in cats], fontsize=6, rotation=45)


def marginals_figure(real: pd.DataFrame, synth: pd.DataFrame, numeric: set, title: str) -> bytes:
    """One small histogram (numeric) or bar chart (categorical) per column, real vs synthetic."""
    cols = list(real.columns[:MAX_COLUMNS])
    ncols = min(4, len(cols))
    nrows = math.ceil(len(cols) / ncols)
    fig = figure(3.0 * ncols, 2.4 * nrows + 0.4)
    for i, col in enumerate(cols):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        if col in numeric:
            _numeric_hist(ax, real[col], synth[col])
        else:
            _category_bars(ax, real[col], synth[col])
        ax.set_title(str(col), fontsize=8)
        ax.tick_params(labelsize=6)
        if i == 0:
            ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return png(fig)


def projection_figure(real_X, real_y, synth_X, synth_y, cat, random_state) -> bytes:
    """Real (o) and synthetic (x) rows on the first two principal axes of the real rows."""
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(random_state)
    ri = np.sort(rng.permutation(len(real_X))[:MAX_PLOT_ROWS])
    si = np.sort(rng.permutation(len(synth_X))[:MAX_PLOT_ROWS])
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
    return png(fig)


def grid_png(
    imgs: Any,
    labels: Any,
    caption: str,
    random_state: int | None,
    real_images: Any = None,
    real_labels: Any = None,
) -> bytes:
    """A per-class sample grid (``plots.sample_grid_figure``) as PNG bytes; with
    ``real_images`` and ``real_labels``, a real reference row above each class's generated
    row. Small images are upscaled (nearest neighbour) to at least 32 px a side."""
    from genbalance.evaluation.plots import sample_grid_figure

    fig = sample_grid_figure(
        imgs,
        labels,
        title=caption,
        random_state=random_state,
        real_images=real_images,
        real_labels=real_labels,
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)  # one canvas pixel per image pixel
    return buf.getvalue()
