"""Utility metrics: TSTR separates good from useless synthetic data; rebalancing gain works."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from genbalance.evaluation import default_classifiers, rebalancing_gain, tstr

METRICS = ["balanced_accuracy", "minority_f1", "minority_recall", "g_mean", "roc_auc"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """OpenMP in gradient boosting crawls on a shared, busy 2-core box; one thread is steady."""
    with threadpool_limits(limits=1):
        yield


def _draw(n: int, seed: int, weights: tuple[float, ...] = (0.5, 0.5), sep: float = 2.0):
    """Classes differ in the mean of x1 and in the mix of a categorical column."""
    rng = np.random.default_rng(seed)
    k = len(weights)
    y = rng.choice(k, size=n, p=list(weights))
    X = pd.DataFrame(
        {
            "x1": rng.normal(sep * y, 1.0),
            "x2": rng.normal(0.0, 1.0, n),
            "shade": np.where(rng.random(n) < 0.2 + 0.6 * (y % 2), "dark", "light"),
        }
    )
    return X, y


def test_tstr_true_distribution_beats_shuffled_labels() -> None:
    synth_X, synth_y = _draw(400, 1)
    real_X, real_y = _draw(400, 2)
    good = tstr(synth_X, synth_y, real_X, real_y, random_state=0)
    shuffled_y = np.random.default_rng(3).permutation(synth_y)
    bad = tstr(synth_X, shuffled_y, real_X, real_y, random_state=0)

    assert list(good.columns) == ["classifier", "balanced_accuracy", "macro_f1", "roc_auc"]
    assert good["classifier"].tolist() == [*default_classifiers(), "mean"]
    mean_good = good.set_index("classifier").loc["mean"]
    mean_bad = bad.set_index("classifier").loc["mean"]
    assert mean_good["balanced_accuracy"] > 0.75
    # a linear model can still get the direction right by luck, so judge the mean of four
    assert mean_bad["balanced_accuracy"] < 0.7
    assert mean_good["balanced_accuracy"] > mean_bad["balanced_accuracy"] + 0.15
    assert mean_good["roc_auc"] > mean_bad["roc_auc"] + 0.15
    assert mean_good["macro_f1"] > mean_bad["macro_f1"] + 0.15


def test_tstr_multiclass_with_a_class_missing_from_synthetic() -> None:
    real_X, real_y = _draw(300, 4, weights=(0.4, 0.3, 0.3))
    synth_X, synth_y = _draw(300, 5, weights=(0.5, 0.5))  # never generates class 2
    clf = {"logreg": LogisticRegression(max_iter=500)}
    out = tstr(synth_X, synth_y, real_X, real_y, classifiers=clf)
    row = out.set_index("classifier").loc["logreg"]
    assert 0.0 <= row["roc_auc"] <= 1.0
    assert row["balanced_accuracy"] < 0.7  # class 2 is never predicted: recall 0 on a third


def test_tstr_refuses_single_class_training_labels() -> None:
    X, y = _draw(50, 6)
    with pytest.raises(ValueError, match="single class"):
        tstr(X, np.zeros(50, dtype=int), X, y)


def _imbalanced(seed: int, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    return _draw(n, seed, weights=(0.97, 0.03), sep=1.5)


def _random_oversample(X: pd.DataFrame, y: np.ndarray, seed: int):
    """Stand-in for a generator: duplicate minority rows until the classes are balanced."""
    rng = np.random.default_rng(seed)
    minority = np.flatnonzero(y == 1)
    extra = rng.choice(minority, size=int((y == 0).sum() - minority.size), replace=True)
    return X.iloc[extra].reset_index(drop=True), y[extra]


def test_rebalancing_gain_structure() -> None:
    X_train, y_train = _imbalanced(7, 600)
    X_test, y_test = _imbalanced(8, 600)
    X_aug, y_aug = _random_oversample(X_train, y_train, 0)
    out = rebalancing_gain(X_train, y_train, X_aug, y_aug, X_test, y_test, random_state=0)
    assert list(out.columns) == ["classifier", "metric", "baseline", "augmented", "gain"]
    names = [*default_classifiers(), "mean"]
    assert len(out) == len(names) * len(METRICS)
    assert set(out["classifier"]) == set(names)
    assert out[out["classifier"] == "mean"]["metric"].tolist() == METRICS
    np.testing.assert_allclose(out["gain"], out["augmented"] - out["baseline"])
    per_clf = out[out["classifier"] != "mean"]
    expected_mean = per_clf.groupby("metric")["gain"].mean()
    got_mean = out[out["classifier"] == "mean"].set_index("metric")["gain"]
    np.testing.assert_allclose(got_mean[expected_mean.index], expected_mean)

    # passing the already-resampled set says the same thing
    X_full = pd.concat([X_train, X_aug], ignore_index=True)
    y_full = np.concatenate([y_train, y_aug])
    same = rebalancing_gain(
        X_train, y_train, X_full, y_full, X_test, y_test, aug_includes_train=True
    )
    pd.testing.assert_frame_equal(out, same)


def test_random_oversampling_helps_the_minority_class() -> None:
    X_train, y_train = _imbalanced(9, 1000)
    X_test, y_test = _imbalanced(10, 1000)
    X_aug, y_aug = _random_oversample(X_train, y_train, 1)
    clfs = {"logistic_regression": LogisticRegression(max_iter=1000)}
    out = rebalancing_gain(X_train, y_train, X_aug, y_aug, X_test, y_test, classifiers=clfs)
    mean = out[out["classifier"] == "mean"].set_index("metric")
    assert mean.loc["minority_recall", "baseline"] < 0.3  # the plain model ignores class 1
    assert mean.loc["minority_recall", "gain"] > 0.3
    assert mean.loc["g_mean", "gain"] > 0.2
    assert mean.loc["balanced_accuracy", "gain"] > 0.1


def test_rebalancing_gain_checks_minority_class() -> None:
    X, y = _imbalanced(11, 200)
    with pytest.raises(ValueError, match="minority_class"):
        rebalancing_gain(X, y, X, y, X, y, minority_class=7)
