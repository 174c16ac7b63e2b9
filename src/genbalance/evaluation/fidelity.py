"""Fidelity: does the synthetic data look like the real data, column by column and jointly?

The single-column and column-pair scores follow the definitions of SDMetrics (KSComplement,
TVComplement, CorrelationSimilarity, ContingencySimilarity) so numbers can be compared with
published results; the code is written here from those definitions. All scores are in [0, 1],
higher is better, except the detection AUC where 0.5 is ideal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline

from genbalance.evaluation.features import (
    CategoricalSpec,
    as_category_strings,
    as_numbers,
    check_same_columns,
    make_encoder,
    normalise_frame,
    split_columns,
    without_ids,
)

__all__ = [
    "column_pair_trends",
    "column_shapes",
    "contingency_similarity",
    "correlation_similarity",
    "detection_score",
    "fidelity_report",
    "ks_complement",
    "tv_complement",
]


# ---------------------------------------------------------------------------- single columns
def ks_complement(real_col: pd.Series | np.ndarray, synth_col: pd.Series | np.ndarray) -> float:
    """``1 - D`` where D is the two-sample Kolmogorov-Smirnov statistic (NaN dropped).

    1 means the empirical CDFs coincide; 0 means they do not overlap. NaN if a side is empty.
    """
    real = as_numbers(pd.Series(real_col)).dropna().to_numpy()
    synth = as_numbers(pd.Series(synth_col)).dropna().to_numpy()
    if real.size == 0 or synth.size == 0:
        return float("nan")
    return float(1.0 - stats.ks_2samp(real, synth).statistic)


def tv_complement(
    real_col: pd.Series | np.ndarray, synth_col: pd.Series | np.ndarray, dropna: bool = True
) -> float:
    """``1 - 0.5 * sum_k |p_k - q_k|`` over category frequencies.

    Categories seen on one side only count with frequency 0 on the other. With the default
    ``dropna=True`` missing values are ignored, as in SDMetrics' TVComplement (missingness is
    then not judged); ``dropna=False`` makes "missing" a category of its own.
    """
    real = pd.Series(real_col)
    synth = pd.Series(synth_col)
    if dropna:
        real, synth = real.dropna(), synth.dropna()
    real, synth = as_category_strings(real), as_category_strings(synth)
    if len(real) == 0 or len(synth) == 0:
        return float("nan")
    p = real.value_counts(normalize=True)
    q = synth.value_counts(normalize=True)
    p, q = p.align(q, fill_value=0.0)
    return float(1.0 - 0.5 * np.abs(p.to_numpy() - q.to_numpy()).sum())


def column_shapes(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    categorical_features: CategoricalSpec = None,
) -> pd.DataFrame:
    """Per-column score: KSComplement for numeric columns, TVComplement for categorical ones.

    Returns a tidy frame with columns ``column, metric, score`` (one row per column, in frame
    order). The overall "column shapes" score is ``frame["score"].mean()``; it is also stored
    in ``frame.attrs["score"]`` for convenience.
    """
    check_same_columns(real, synthetic)
    numeric, categorical = split_columns(real, categorical_features)
    cat_set = set(categorical)
    rows = []
    for col in real.columns:
        if col in cat_set:
            rows.append((col, "TVComplement", tv_complement(real[col], synthetic[col])))
        else:
            rows.append((col, "KSComplement", ks_complement(real[col], synthetic[col])))
    out = pd.DataFrame(rows, columns=["column", "metric", "score"])
    out["score"] = out["score"].astype("float64")
    out.attrs["score"] = float(out["score"].mean()) if len(out) else float("nan")
    return out


# ---------------------------------------------------------------------------- column pairs
def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r on the rows where both values are present; NaN if a side is constant."""
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if a.size < 2:
        return float("nan")
    da, db = a - a.mean(), b - b.mean()
    denom = np.sqrt((da * da).sum() * (db * db).sum())
    if denom == 0.0 or not np.isfinite(denom):
        return float("nan")
    return float(np.clip((da * db).sum() / denom, -1.0, 1.0))


def _correlation(frame: pd.DataFrame, method: str) -> float:
    a = as_numbers(frame.iloc[:, 0]).to_numpy()
    b = as_numbers(frame.iloc[:, 1]).to_numpy()
    if method == "spearman":
        keep = ~(np.isnan(a) | np.isnan(b))
        a, b = stats.rankdata(a[keep]), stats.rankdata(b[keep])
    elif method != "pearson":
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}.")
    return _pearson(a, b)


def correlation_similarity(
    real_pair: pd.DataFrame,
    synth_pair: pd.DataFrame,
    method: Literal["pearson", "spearman"] = "pearson",
) -> float:
    """``1 - |r_real - r_synth| / 2`` for a two-column numeric frame (rows with NaN dropped).

    1 when the correlation is reproduced; 0 when a perfect correlation is turned into a
    perfect anti-correlation. NaN when a correlation is undefined (constant column).
    """
    _check_pair(real_pair, synth_pair)
    synth_pair = synth_pair[list(real_pair.columns)]
    r_real, r_synth = _correlation(real_pair, method), _correlation(synth_pair, method)
    return float(1.0 - abs(r_real - r_synth) / 2.0)


def _check_pair(real_pair: pd.DataFrame, synth_pair: pd.DataFrame) -> None:
    check_same_columns(real_pair, synth_pair, ("real_pair", "synth_pair"))
    if real_pair.shape[1] != 2:
        raise ValueError(f"expected a frame with exactly two columns, got {real_pair.shape[1]}.")


def _quantile_codes(
    real: pd.Series, synth: pd.Series, n_bins: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Bin both sides with quantile edges of the real column; NaN gets the last code."""
    r = as_numbers(real).to_numpy()
    s = as_numbers(synth).to_numpy()
    finite = r[~np.isnan(r)]
    if finite.size:
        edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, n_bins + 1)))[1:-1]
    else:
        edges = np.empty(0)
    n_codes = edges.size + 2  # edges.size + 1 bins, plus one code for NaN

    def code(x: np.ndarray) -> np.ndarray:
        c = np.searchsorted(edges, x, side="right")
        c[np.isnan(x)] = n_codes - 1
        return c

    return code(r), code(s), n_codes


def _category_codes(real: pd.Series, synth: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer codes over the union of categories seen on either side (missing included)."""
    both = pd.concat([as_category_strings(real), as_category_strings(synth)], ignore_index=True)
    codes, uniques = pd.factorize(both)
    return codes[: len(real)], codes[len(real) :], len(uniques)


def _joint_tvd_complement(
    ra: np.ndarray, rb: np.ndarray, sa: np.ndarray, sb: np.ndarray, kb: int, size: int
) -> float:
    if ra.size == 0 or sa.size == 0:
        return float("nan")
    p = np.bincount(ra * kb + rb, minlength=size) / ra.size
    q = np.bincount(sa * kb + sb, minlength=size) / sa.size
    return float(1.0 - 0.5 * np.abs(p - q).sum())


def contingency_similarity(
    real_pair: pd.DataFrame,
    synth_pair: pd.DataFrame,
    continuous_columns: Sequence[str] = (),
    n_bins: int = 10,
) -> float:
    """``1 - TVD`` between the real and synthetic joint frequency tables of two columns.

    Missing values are one extra category. Columns named in ``continuous_columns`` are first
    cut into ``n_bins`` *quantile* bins whose edges come from the real column only (so every
    real bin holds about the same share; synthetic values outside the real range fall in the
    end bins). SDMetrics uses equal-width bins here, so numbers differ on skewed columns.
    """
    _check_pair(real_pair, synth_pair)
    if n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins}.")
    cols = list(real_pair.columns)
    synth_pair = synth_pair[cols]
    cont = set(continuous_columns)
    coded = []
    for col in cols:
        if col in cont:
            coded.append(_quantile_codes(real_pair[col], synth_pair[col], n_bins))
        else:
            coded.append(_category_codes(real_pair[col], synth_pair[col]))
    (ra, sa, ka), (rb, sb, kb) = coded
    return _joint_tvd_complement(ra, rb, sa, sb, kb, ka * kb)


def _sample_pairs(
    n_columns: int, max_pairs: int | None, random_state: int | None
) -> tuple[np.ndarray, np.ndarray]:
    first, second = np.triu_indices(n_columns, k=1)
    if max_pairs is not None and first.size > max_pairs:
        rng = np.random.default_rng(random_state)
        keep = np.sort(rng.choice(first.size, size=max_pairs, replace=False))
        first, second = first[keep], second[keep]
    return first, second


def column_pair_trends(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    categorical_features: CategoricalSpec = None,
    n_bins: int = 10,
    max_pairs: int | None = 200,
    random_state: int | None = 0,
) -> pd.DataFrame:
    """Score every column pair: CorrelationSimilarity if both are numeric, else Contingency.

    A numeric column paired with a categorical one is cut into ``n_bins`` quantile bins of
    the real column (see :func:`contingency_similarity`). Wide tables have many pairs, so at
    most ``max_pairs`` pairs are scored, drawn at random with ``random_state`` (``None`` =
    all). Returns a tidy frame ``column_1, column_2, metric, score``; the overall score is
    ``frame["score"].mean()`` (NaN scores skipped), also in ``frame.attrs["score"]``.
    """
    check_same_columns(real, synthetic)
    numeric, _ = split_columns(real, categorical_features)
    num_set = set(numeric)
    columns = list(real.columns)
    first, second = _sample_pairs(len(columns), max_pairs, random_state)

    used = sorted(set(first.tolist()) | set(second.tolist()))
    values: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # numeric columns as floats
    codes: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}  # any column as codes
    for i in used:
        col = columns[i]
        if col in num_set:
            values[col] = (as_numbers(real[col]).to_numpy(), as_numbers(synthetic[col]).to_numpy())
            codes[col] = _quantile_codes(real[col], synthetic[col], n_bins)
        else:
            codes[col] = _category_codes(real[col], synthetic[col])

    rows = []
    for i, j in zip(first.tolist(), second.tolist(), strict=True):
        a, b = columns[i], columns[j]
        if a in num_set and b in num_set:
            r_real = _pearson(values[a][0], values[b][0])
            r_synth = _pearson(values[a][1], values[b][1])
            rows.append((a, b, "CorrelationSimilarity", 1.0 - abs(r_real - r_synth) / 2.0))
        else:
            (ra, sa, ka), (rb, sb, kb) = codes[a], codes[b]
            score = _joint_tvd_complement(ra, rb, sa, sb, kb, ka * kb)
            rows.append((a, b, "ContingencySimilarity", score))
    out = pd.DataFrame(rows, columns=["column_1", "column_2", "metric", "score"])
    out["score"] = out["score"].astype("float64")
    out.attrs["score"] = float(out["score"].mean()) if len(out) else float("nan")
    return out


# ---------------------------------------------------------------------------- detection
def _detection_classifiers(random_state: int | None) -> dict[str, Any]:
    return {
        "logistic_regression": LogisticRegression(max_iter=1000),
        "gradient_boosting": HistGradientBoostingClassifier(random_state=random_state),
    }


def detection_score(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    categorical_features: CategoricalSpec = None,
    random_state: int | None = 0,
    n_splits: int = 3,
    max_rows: int | None = 10_000,
) -> dict[str, float]:
    """How well can a classifier tell real rows from synthetic ones?

    Logistic regression and histogram gradient boosting are each scored by ROC-AUC in
    stratified ``n_splits``-fold cross-validation on one-hot + min-max-scaled features (the
    encoder is fitted inside each training fold). Each side is subsampled to ``max_rows``.

    Returns ``{"logistic_regression_auc", "gradient_boosting_auc", "auc", "score"}`` where
    ``auc`` is the larger (the stronger detector) and ``score = 1 - 2 * |auc - 0.5|``:
    1 = indistinguishable (AUC 0.5), 0 = perfectly separable.
    """
    check_same_columns(real, synthetic)
    if min(len(real), len(synthetic)) < n_splits:
        raise ValueError(
            f"detection needs at least n_splits={n_splits} real and synthetic rows; "
            f"got {len(real)} real and {len(synthetic)} synthetic."
        )
    numeric, categorical = split_columns(real, categorical_features)
    rng = np.random.default_rng(random_state)

    def cap(frame: pd.DataFrame) -> pd.DataFrame:
        if max_rows is not None and len(frame) > max_rows:
            return frame.iloc[np.sort(rng.choice(len(frame), size=max_rows, replace=False))]
        return frame

    r, s = cap(real), cap(synthetic[list(real.columns)])
    X = normalise_frame(pd.concat([r, s], ignore_index=True), numeric, categorical)
    y = np.r_[np.zeros(len(r), dtype=int), np.ones(len(s), dtype=int)]
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)

    result: dict[str, float] = {}
    for name, clf in _detection_classifiers(random_state).items():
        model = Pipeline([("encode", make_encoder(numeric, categorical)), ("clf", clone(clf))])
        aucs = cross_val_score(model, X, y, cv=folds, scoring="roc_auc")
        result[f"{name}_auc"] = float(np.mean(aucs))
    auc = max(result.values())
    result["auc"] = auc
    result["score"] = float(1.0 - 2.0 * abs(auc - 0.5))
    return result


# ---------------------------------------------------------------------------- report
def _labels(y: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"`{name}` must be 1-D with one label per row ({n}), got {arr.shape}.")
    return arr


def fidelity_report(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    real_y: Any = None,
    synth_y: Any = None,
    categorical_features: CategoricalSpec = None,
    n_bins: int = 10,
    max_pairs: int | None = 200,
    detection: bool = True,
    random_state: int | None = 0,
    max_rows: int | None = 10_000,
    id_columns: Any = "auto",
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """One row overall plus one row per class present in both label sets.

    Columns: ``scope`` ("overall" or "class"), ``label`` (NA for overall), ``n_real``,
    ``n_synthetic``, ``column_shapes``, ``column_pair_trends``, ``detection_auc`` and
    ``detection_score`` (NaN when ``detection=False`` or a class has fewer than 3 rows on a
    side). Column kinds are decided once on the whole real frame so every row agrees.
    ID columns (``id_columns``: "auto" = the encoder's rule, a list, or None) are left out:
    generated IDs differ from real ones by design (:func:`~genbalance.evaluation.features.
    without_ids`); the dropped names are in ``attrs["id_columns"]``. ``progress``: called
    with one line per scope (overall, then each class), as detection makes each take seconds.
    """
    check_same_columns(real, synthetic)
    real, (synthetic,), categorical, ids = without_ids(
        real, [synthetic[list(real.columns)]], categorical_features, id_columns
    )
    assert synthetic is not None

    def row(scope: str, label: Any, r: pd.DataFrame, s: pd.DataFrame) -> dict[str, Any]:
        shapes = column_shapes(r, s, categorical)
        pairs = column_pair_trends(r, s, categorical, n_bins, max_pairs, random_state)
        det = {"auc": float("nan"), "score": float("nan")}
        if detection and min(len(r), len(s)) >= 3:
            det = detection_score(r, s, categorical, random_state, max_rows=max_rows)
        return {
            "scope": scope,
            "label": label,
            "n_real": len(r),
            "n_synthetic": len(s),
            "column_shapes": shapes.attrs["score"],
            "column_pair_trends": pairs.attrs["score"],
            "detection_auc": det["auc"],
            "detection_score": det["score"],
        }

    if (real_y is None) != (synth_y is None):
        raise ValueError("give both `real_y` and `synth_y` for per-class rows, or neither.")
    if progress is not None:
        progress("fidelity: all rows")
    rows = [row("overall", pd.NA, real, synthetic)]
    if real_y is not None:
        ry = _labels(real_y, len(real), "real_y")
        sy = _labels(synth_y, len(synthetic), "synth_y")
        shared = pd.Index(pd.unique(ry)).intersection(pd.Index(pd.unique(sy)))
        try:
            shared = shared.sort_values()
        except TypeError:  # mixed label types: keep first-seen order
            pass
        for i, label in enumerate(shared, 1):
            if progress is not None:
                progress(f"fidelity: class {label!s} ({i} of {len(shared)})")
            rows.append(row("class", label, real[ry == label], synthetic[sy == label]))
    out = pd.DataFrame(rows)
    out["label"] = out["label"].astype(object)
    out.attrs["id_columns"] = list(ids)
    return out
