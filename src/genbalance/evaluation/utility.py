"""Utility: is the synthetic data useful for training classifiers?

Two questions, two functions. :func:`tstr` asks whether synthetic data alone carries the
signal (train on synthetic, test on real). :func:`rebalancing_gain` asks the question this
library exists for: does adding synthetic rare-class rows to the real training data help a
classifier on real test data, compared with the real training data alone?
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from imblearn.metrics import geometric_mean_score
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score, recall_score, roc_auc_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

from genbalance.evaluation.features import (
    CategoricalSpec,
    check_same_columns,
    make_encoder,
    normalise_frame,
    split_columns,
)

__all__ = ["default_classifiers", "rebalancing_gain", "tstr"]


def default_classifiers(random_state: int | None = 0) -> dict[str, Any]:
    """Four classifiers of different families, so one model's quirks do not decide the score."""
    return {
        "logistic_regression": LogisticRegression(max_iter=1000, random_state=random_state),
        "decision_tree": DecisionTreeClassifier(random_state=random_state),
        "knn": KNeighborsClassifier(n_neighbors=5),
        "hist_gradient_boosting": HistGradientBoostingClassifier(random_state=random_state),
    }


def _as_labels(y: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"`{name}` must be 1-D with one label per row ({n}), got {arr.shape}.")
    return arr


def _fit_predict(
    classifier: Any,
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_test: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    labels: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit one-hot + min-max (on the training rows) and the classifier; predict the test rows.

    Probabilities come back with one column per entry of ``labels`` so that a class missing
    from the training data (possible with synthetic data) gets probability 0 instead of
    shifting the columns.
    """
    if np.unique(y_train).size < 2:
        raise ValueError("the training labels hold a single class; a classifier cannot be fit.")
    model = Pipeline(
        [("encode", make_encoder(numeric, categorical, "minmax")), ("clf", clone(classifier))]
    )
    model.fit(normalise_frame(X_train, numeric, categorical), y_train)
    X_test_n = normalise_frame(X_test, numeric, categorical)
    pred = model.predict(X_test_n)
    proba = np.zeros((len(X_test), labels.size))
    if hasattr(model, "predict_proba"):
        seen = model.predict_proba(X_test_n)
        cols = np.searchsorted(labels, model.classes_)
        proba[:, cols] = seen
    else:  # a classifier without probabilities: hard votes still give a (coarse) ROC curve
        proba[np.arange(len(pred)), np.searchsorted(labels, pred)] = 1.0
    return pred, proba


def _roc_auc(y_true: np.ndarray, proba: np.ndarray, labels: np.ndarray) -> float:
    """Binary ROC-AUC on the second label, or macro one-vs-rest; NaN if undefined."""
    present = np.isin(labels, y_true)
    if present.sum() < 2:
        return float("nan")
    if labels.size == 2:
        return float(roc_auc_score(y_true == labels[1], proba[:, 1]))
    # one-vs-rest per class present in the test labels, then the unweighted mean
    aucs = [roc_auc_score(y_true == lab, proba[:, k]) for k, lab in enumerate(labels) if present[k]]
    return float(np.mean(aucs))


def _prepare(
    frames: list[pd.DataFrame], names: list[str], categorical_features: CategoricalSpec
) -> tuple[list[pd.DataFrame], list[str], list[str]]:
    """The frames with the first one's column order, and the column split of the first one.

    ``names`` (the caller's argument names) say which frame lacks which columns on a mismatch.
    """
    first = frames[0]
    for other, name in zip(frames[1:], names[1:], strict=True):
        check_same_columns(first, other, (names[0], name))
    numeric, categorical = split_columns(first, categorical_features)
    cols = list(first.columns)
    return [f[cols] for f in frames], numeric, categorical


def tstr(
    synth_X: pd.DataFrame,
    synth_y: Any,
    real_X: pd.DataFrame,
    real_y: Any,
    classifiers: Mapping[str, Any] | None = None,
    categorical_features: CategoricalSpec = None,
    random_state: int | None = 0,
) -> pd.DataFrame:
    """Train on synthetic, test on real.

    Each classifier is fitted on ``synth_X, synth_y`` behind one-hot + min-max scaling fitted
    on the synthetic rows, and scored on the real rows. Returns one row per classifier plus a
    ``"mean"`` row, columns ``classifier, balanced_accuracy, macro_f1, roc_auc`` (ROC-AUC is
    binary, or macro one-vs-rest for more than two classes).
    """
    (synth_X, real_X), numeric, categorical = _prepare(
        [synth_X, real_X], ["synth_X", "real_X"], categorical_features
    )
    sy = _as_labels(synth_y, len(synth_X), "synth_y")
    ry = _as_labels(real_y, len(real_X), "real_y")
    labels = np.unique(np.concatenate([sy, ry]))
    if classifiers is None:
        classifiers = default_classifiers(random_state)
    rows = []
    for name, clf in classifiers.items():
        pred, proba = _fit_predict(clf, synth_X, sy, real_X, numeric, categorical, labels)
        rows.append(
            {
                "classifier": name,
                "balanced_accuracy": float(balanced_accuracy_score(ry, pred)),
                "macro_f1": float(
                    f1_score(ry, pred, labels=labels, average="macro", zero_division=0)
                ),
                "roc_auc": _roc_auc(ry, proba, labels),
            }
        )
    out = pd.DataFrame(rows)
    mean = out.drop(columns="classifier").mean().to_dict()
    return pd.concat([out, pd.DataFrame([{"classifier": "mean", **mean}])], ignore_index=True)


def _imbalance_scores(
    y_true: np.ndarray, pred: np.ndarray, proba: np.ndarray, labels: np.ndarray, minority: Any
) -> dict[str, float]:
    recalls = recall_score(y_true, pred, labels=labels, average=None, zero_division=0)
    present = np.isin(labels, y_true)
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y_true, pred)),
        "minority_f1": float(
            f1_score(y_true, pred, labels=[minority], average="macro", zero_division=0)
        ),
        "minority_recall": float(recalls[np.searchsorted(labels, minority)]),
        # G-mean: geometric mean of the per-class recalls (classes present in the test set),
        # imbalanced-learn's definition, so numbers compare with its users'
        "g_mean": float(geometric_mean_score(y_true, pred, labels=labels[present]))
        if present.any()
        else 0.0,
        "roc_auc": _roc_auc(y_true, proba, labels),
    }


def rebalancing_gain(
    X_train: pd.DataFrame,
    y_train: Any,
    X_aug: pd.DataFrame,
    y_aug: Any,
    X_test: pd.DataFrame,
    y_test: Any,
    classifiers: Mapping[str, Any] | None = None,
    categorical_features: CategoricalSpec = None,
    minority_class: Any = None,
    aug_includes_train: bool = False,
    random_state: int | None = 0,
) -> pd.DataFrame:
    """Score classifiers trained without vs with the synthetic rows, on the same real test set.

    ``X_aug, y_aug`` are the synthetic rows to add: the augmented training set is
    ``X_train + X_aug``. Pass ``aug_includes_train=True`` when they already hold the real
    rows (the output of an imbalanced-learn ``fit_resample``); they are then used as is.
    ``minority_class`` defaults to the least frequent class of ``y_train``.

    Returns a tidy frame with columns ``classifier, metric, baseline, augmented, gain``
    (gain = augmented - baseline), one row per classifier and metric plus ``"mean"`` rows
    (the mean over classifiers). Metrics: balanced_accuracy, minority_f1, minority_recall,
    g_mean (geometric mean of per-class recalls) and roc_auc.
    """
    frames, numeric, categorical = _prepare(
        [X_train, X_aug, X_test], ["X_train", "X_aug", "X_test"], categorical_features
    )
    X_train, X_aug, X_test = frames
    ytr = _as_labels(y_train, len(X_train), "y_train")
    yau = _as_labels(y_aug, len(X_aug), "y_aug")
    yte = _as_labels(y_test, len(X_test), "y_test")
    if aug_includes_train:
        X_big, y_big = X_aug, yau
    else:
        X_big = pd.concat([X_train, X_aug], ignore_index=True)
        y_big = np.concatenate([ytr, yau])
    labels = np.unique(np.concatenate([ytr, yau, yte]))
    if minority_class is None:
        values, counts = np.unique(ytr, return_counts=True)
        minority_class = values[np.argmin(counts)]
    elif minority_class not in set(labels.tolist()):
        raise ValueError(f"minority_class {minority_class!r} is not among the labels {labels}.")
    if classifiers is None:
        classifiers = default_classifiers(random_state)

    rows = []
    for name, clf in classifiers.items():
        scores = {}
        for setting, (X_fit, y_fit) in (
            ("baseline", (X_train, ytr)),
            ("augmented", (X_big, y_big)),
        ):
            pred, proba = _fit_predict(clf, X_fit, y_fit, X_test, numeric, categorical, labels)
            scores[setting] = _imbalance_scores(yte, pred, proba, labels, minority_class)
        for metric in scores["baseline"]:
            base, aug = scores["baseline"][metric], scores["augmented"][metric]
            rows.append((name, metric, base, aug, aug - base))
    out = pd.DataFrame(rows, columns=["classifier", "metric", "baseline", "augmented", "gain"])
    mean = out.groupby("metric", sort=False)[["baseline", "augmented", "gain"]].mean()
    mean = mean.reset_index().assign(classifier="mean")[out.columns]
    return pd.concat([out, mean], ignore_index=True)
