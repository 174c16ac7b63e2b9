"""One benchmark cell: resample one training fold with one sampler, then judge four classifiers.

The test fold is never touched by a sampler. A sampler that fails on a fold (e.g. ADASYN finds
no sample to generate) is recorded with its error and the fold falls back to no resampling,
flagged ``fallback`` in the cell. A cost-sensitive sampler (``SamplerDef.weighted``) resamples
nothing; its classifiers are the balanced-weight versions in ``WEIGHTED_CLASSIFIERS``.
"""

from __future__ import annotations

import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from imblearn.metrics import geometric_mean_score
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight

from genbalance.bench.encoding import OneHotMinMax
from genbalance.bench.samplers import fold_info, get_sampler

METRICS = ("roc_auc", "f1", "gmean", "bal_acc")

CLASSIFIERS: dict[str, Callable[[int], ClassifierMixin]] = {
    "knn": lambda seed: KNeighborsClassifier(n_neighbors=5),
    "tree": lambda seed: DecisionTreeClassifier(random_state=seed),
    "logreg": lambda seed: LogisticRegression(max_iter=1000, random_state=seed),
    "hgb": lambda seed: HistGradientBoostingClassifier(random_state=seed),
}


class BalancedVoteKNN(ClassifierMixin, BaseEstimator):
    """k-NN (k=5) whose neighbour votes carry balanced class weights.

    ``KNeighborsClassifier.fit`` takes no ``sample_weight``; the training rows enter k-NN only
    through the vote, so weighting each vote by ``n / (n_classes * n_class)`` is what balanced
    sample weights mean for it (the neighbour search is unchanged). Distance-weighted voting
    would not be class weighting. In a binary task the weighted share is a monotone map of the
    plain one, so ROC-AUC equals unweighted k-NN's; only the 0.5 threshold moves.
    """

    def __init__(self, n_neighbors: int = 5) -> None:
        self.n_neighbors = n_neighbors

    def fit(self, X: np.ndarray, y: np.ndarray) -> BalancedVoteKNN:
        self.knn_ = KNeighborsClassifier(n_neighbors=self.n_neighbors).fit(X, y)
        self.classes_ = self.knn_.classes_
        self.class_weight_ = compute_class_weight("balanced", classes=self.classes_, y=y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        votes = self.knn_.predict_proba(X) * self.class_weight_
        return votes / votes.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class BalancedSampleWeights(ClassifierMixin, BaseEstimator):
    """Fit ``estimator`` with balanced ``sample_weight`` (for estimators whose cost-sensitive
    form is a fit argument rather than a ``class_weight`` setting)."""

    def __init__(self, estimator: ClassifierMixin) -> None:
        self.estimator = estimator

    def fit(self, X: np.ndarray, y: np.ndarray) -> BalancedSampleWeights:
        self.estimator.fit(X, y, sample_weight=compute_sample_weight("balanced", y))
        self.classes_ = self.estimator.classes_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.estimator.predict_proba(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.estimator.predict(X)


# the cost-sensitive baseline ("weighted"): the same four classifiers, trained with balanced
# class or sample weights on the fold as it is
WEIGHTED_CLASSIFIERS: dict[str, Callable[[int], ClassifierMixin]] = {
    "knn": lambda seed: BalancedVoteKNN(n_neighbors=5),
    "tree": lambda seed: DecisionTreeClassifier(class_weight="balanced", random_state=seed),
    "logreg": lambda seed: LogisticRegression(
        max_iter=1000, class_weight="balanced", random_state=seed
    ),
    "hgb": lambda seed: BalancedSampleWeights(HistGradientBoostingClassifier(random_state=seed)),
}


def check_classifiers(names: list[str]) -> list[str]:
    bad = [n for n in names if n not in CLASSIFIERS]
    if bad or not names:
        raise ValueError(f"unknown classifiers {bad}; accepted: {', '.join(CLASSIFIERS)}")
    return list(names)


def positive_label(y: pd.Series) -> Any:
    """KEEL's ``positive``, else the rarest class (the one whose F1 we report)."""
    return "positive" if "positive" in set(y) else y.value_counts().idxmin()


def fold_indices(y: pd.Series, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds, shuffled with the seed: the same for every sampler."""
    skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(skf.split(np.zeros(len(y)), y))


def score(y_true: np.ndarray, proba: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """ROC-AUC, minority F1, G-mean and balanced accuracy (``y_true`` is 1 = positive)."""
    return {
        "roc_auc": float(roc_auc_score(y_true, proba)),
        "f1": float(f1_score(y_true, pred, pos_label=1, zero_division=0)),
        "gmean": float(geometric_mean_score(y_true, pred)),  # imbalanced-learn's G-mean
        "bal_acc": float(balanced_accuracy_score(y_true, pred)),
    }


def judge(
    X_train: pd.DataFrame | np.ndarray,
    y_train: np.ndarray,
    X_test: pd.DataFrame | np.ndarray,
    y_test: np.ndarray,
    positive: Any,
    classifiers: list[str],
    seed: int,
    weighted: bool = False,
) -> dict[str, dict[str, float]]:
    """Metrics per classifier; the encoder is fitted on the (resampled) training fold.

    ``weighted``: train the balanced-weight classifiers (the cost-sensitive baseline)."""
    enc = OneHotMinMax().fit(_frame(X_train))
    A, B = enc.transform(_frame(X_train)), enc.transform(_frame(X_test))
    y_tr = (np.asarray(y_train) == positive).astype(int)
    y_te = (np.asarray(y_test) == positive).astype(int)
    factories = WEIGHTED_CLASSIFIERS if weighted else CLASSIFIERS
    out = {}
    for name in classifiers:
        clf = factories[name](seed).fit(A, y_tr)
        proba = clf.predict_proba(B)[:, list(clf.classes_).index(1)]
        out[name] = score(y_te, proba, (proba >= 0.5).astype(int))
    return out


def _frame(X) -> pd.DataFrame:
    return X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=float))


def run_cell(
    X: pd.DataFrame,
    y: pd.Series,
    sampler: str,
    fold: int,
    n_folds: int,
    seed: int,
    classifiers: list[str],
) -> dict[str, Any]:
    """Resample fold ``fold`` of ``n_folds`` with ``sampler`` and judge the classifiers."""
    positive = positive_label(y)
    train, test = fold_indices(y, n_folds, seed)[fold]
    X_tr, X_te = X.iloc[train].reset_index(drop=True), X.iloc[test].reset_index(drop=True)
    y_tr, y_te = y.iloc[train].to_numpy(), y.iloc[test].to_numpy()
    definition = get_sampler(sampler)
    if definition.input == "encoded":
        pre = OneHotMinMax().fit(X_tr)
        X_tr, X_te = pre.transform(X_tr), pre.transform(X_te)
        info = fold_info(pd.DataFrame(X_tr), y_tr, positive)
    else:
        info = fold_info(X_tr, y_tr, positive)
    cell: dict[str, Any] = {"fallback": False, "error": None, "n_train": len(y_tr)}
    if definition.weighted:
        cell["classifier_weights"] = "balanced"
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sampler_ = definition.make(seed, info)  # imports happen here, outside the timing
            if hasattr(sampler_, "get_params"):  # which defaults a cached cell was made with
                cell["sampler_params"] = {
                    k: repr(v) for k, v in sampler_.get_params(deep=False).items()
                }
            start = time.perf_counter()
            X_res, y_res = sampler_.fit_resample(X_tr, y_tr)
        y_res = np.asarray(y_res)
    except Exception as exc:  # noqa: BLE001 - any sampler failure is data for the benchmark
        cell.update(
            fallback=True,
            error=f"{type(exc).__name__}: {exc}"[:500],
            traceback=traceback.format_exc(limit=3)[-2000:],
        )
        X_res, y_res = X_tr, y_tr
    cell["fit_seconds"] = time.perf_counter() - start
    cell["n_resampled"] = int(len(y_res))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cell["classifiers"] = judge(
            X_res, y_res, X_te, y_te, positive, classifiers, seed, definition.weighted
        )
    return cell
