"""The cost-sensitive baseline ``weighted``: no resampling, every classifier trained with
balanced class or sample weights, cached like any other sampler."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import KNeighborsClassifier

from genbalance.bench import get_sampler, run_benchmark
from genbalance.bench.evaluate import (
    CLASSIFIERS,
    WEIGHTED_CLASSIFIERS,
    BalancedSampleWeights,
    BalancedVoteKNN,
    judge,
)


def _imbalanced(n: int = 300, minority: int = 30, seed: int = 0):
    """Two overlapping Gaussian classes, 10% positives: unweighted models under-call them."""
    rng = np.random.default_rng(seed)
    y = np.array(["positive"] * minority + ["negative"] * (n - minority))
    X = rng.normal(size=(n, 3))
    X[:minority] += 1.0
    return pd.DataFrame(X, columns=["a", "b", "c"]), pd.Series(y, name="Class")


def test_weighted_is_registered_as_a_cost_sensitive_sampler():
    definition = get_sampler("weighted")
    assert definition.weighted and definition.input == "raw"
    assert not get_sampler("none").weighted
    X, y = _imbalanced()
    X_res, y_res = definition.make(0, None).fit_resample(X, y)
    assert X_res is X and y_res is y  # nothing resampled
    assert set(WEIGHTED_CLASSIFIERS) == set(CLASSIFIERS)


def test_balanced_vote_knn_weights_each_vote_by_its_class():
    X, y = _imbalanced()
    y01 = (y == "positive").astype(int).to_numpy()
    plain = KNeighborsClassifier(n_neighbors=5).fit(X, y01)
    weighted = BalancedVoteKNN(n_neighbors=5).fit(X, y01)
    share = plain.predict_proba(X)[:, 1]
    # balanced weights: n / (2 n_c) = 300/60 = 5 for positives, 300/540 for negatives
    w1, w0 = 300 / 60, 300 / 540
    expected = w1 * share / (w1 * share + w0 * (1 - share))
    assert weighted.predict_proba(X)[:, 1] == pytest.approx(expected)
    assert weighted.predict(X).sum() > plain.predict(X).sum()  # more positives called
    # a monotone map of the plain vote share: the ranking (ROC-AUC) is unchanged
    order = np.argsort(share, kind="stable")
    assert np.all(np.diff(weighted.predict_proba(X)[order, 1]) >= -1e-12)


def test_balanced_sample_weights_are_passed_to_fit():
    seen = {}

    class Recorder:
        classes_ = np.array([0, 1])

        def fit(self, X, y, sample_weight=None):
            seen["w"] = sample_weight
            return self

    y = np.array([1] * 10 + [0] * 90)
    BalancedSampleWeights(Recorder()).fit(np.zeros((100, 1)), y)
    assert seen["w"][:10] == pytest.approx(5.0) and seen["w"][10:] == pytest.approx(100 / 180)
    # each class carries the same total weight
    assert seen["w"][:10].sum() == pytest.approx(seen["w"][10:].sum())


def test_weighted_classifiers_find_more_of_the_minority():
    X, y = _imbalanced()
    X_te, y_te = _imbalanced(seed=1)
    names = list(CLASSIFIERS)
    plain = judge(X, y.to_numpy(), X_te, y_te.to_numpy(), "positive", names, 0)
    cost = judge(X, y.to_numpy(), X_te, y_te.to_numpy(), "positive", names, 0, weighted=True)
    for name in ("knn", "logreg", "hgb"):
        assert cost[name]["gmean"] > plain[name]["gmean"], name
    # k-NN's class weights move its threshold, not its ranking
    assert cost["knn"]["roc_auc"] == pytest.approx(plain["knn"]["roc_auc"])


def test_weighted_runs_and_caches_like_the_others(tmp_path):
    X, y = _imbalanced()
    report = run_benchmark(
        ["toy"],
        ["none", "weighted"],
        run_name="w",
        cache_dir=tmp_path,
        n_folds=3,
        folds=[0],
        classifiers=["knn", "logreg"],
        progress=False,
        loader=lambda name: (X, y),
    )
    assert len(report.computed) == 2 and not report.fallbacks
    cell = json.loads((tmp_path / "w" / "toy" / "weighted__k3_s0_f0.json").read_text())
    none = json.loads((tmp_path / "w" / "toy" / "none__k3_s0_f0.json").read_text())
    assert cell["classifier_weights"] == "balanced" and "classifier_weights" not in none
    assert cell["n_resampled"] == cell["n_train"]  # same fold, nothing added
    assert cell["classifiers"]["logreg"]["gmean"] > none["classifiers"]["logreg"]["gmean"]
    again = run_benchmark(
        ["toy"],
        ["weighted"],
        run_name="w",
        cache_dir=tmp_path,
        n_folds=3,
        folds=[0],
        classifiers=["knn", "logreg"],
        progress=False,
        loader=lambda name: (X, y),
    )
    assert not again.computed and len(again.cached) == 1
