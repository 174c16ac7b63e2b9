"""Fit once, resample many: the same rows and model settings train one model per process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from imblearn.pipeline import make_pipeline
from sklearn.model_selection import GridSearchCV
from sklearn.tree import DecisionTreeClassifier

from genbalance import GenerativeOverSampler
from genbalance.synthesis import cache as fit_cache


@pytest.fixture(autouse=True)
def empty_cache():
    fit_cache.clear()
    yield
    fit_cache.clear()


def _table(n: int = 80, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.array([0] * (n - 16) + [1] * 16)
    X = pd.DataFrame({"a": rng.normal(size=n) + 2 * y, "b": rng.normal(size=n)})
    return X, y


def _sampler(**kw) -> GenerativeOverSampler:
    return GenerativeOverSampler(random_state=0, epochs=2, **kw)


def test_other_sampling_settings_reuse_the_fitted_model_and_match_a_fresh_fit():
    X, y = _table()
    first = _sampler(sampling_strategy=0.5)
    first.fit_resample(X, y)
    assert first.from_cache_ is False and fit_cache.n_entries() == 1
    second = _sampler(sampling_strategy=1.0, generation="sample")
    Xc, yc = second.fit_resample(X, y)
    assert second.from_cache_ is True and second.synthesizer_ is first.synthesizer_
    fresh = _sampler(sampling_strategy=1.0, generation="sample", cache=False)
    Xf, yf = fresh.fit_resample(X, y)
    assert fresh.from_cache_ is False and fresh.synthesizer_ is not first.synthesizer_
    pd.testing.assert_frame_equal(Xc, Xf)
    np.testing.assert_array_equal(yc, yf)


@pytest.mark.parametrize(
    "change",
    [{"epochs": 3}, {"model_options": {"latent_dim": 8}}, {"random_state": 1}],
)
def test_settings_that_shape_the_model_train_a_new_one(change):
    X, y = _table()
    _sampler().fit_resample(X, y)
    other = GenerativeOverSampler(**{"random_state": 0, "epochs": 2, **change})
    other.fit_resample(X, y)
    assert other.from_cache_ is False and fit_cache.n_entries() == 2


def test_other_rows_train_a_new_model():
    X, y = _table()
    _sampler().fit_resample(X, y)
    other = _sampler()
    other.fit_resample(X.iloc[1:], y[1:])
    assert other.from_cache_ is False


def test_unseeded_or_time_budgeted_fits_are_never_cached():
    X, y = _table()
    for sampler in (
        GenerativeOverSampler(epochs=2),
        GenerativeOverSampler(epochs=2, random_state=0, time_budget=30.0),
    ):
        sampler.fit_resample(X, y)
        assert sampler.from_cache_ is False
    assert fit_cache.n_entries() == 0


def test_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(fit_cache, "MAX_ENTRIES", 2)
    X, y = _table()
    for seed in range(4):
        GenerativeOverSampler(random_state=seed, epochs=1).fit_resample(X, y)
    assert fit_cache.n_entries() == 2


def test_grid_search_over_sampling_strategy_trains_once_per_fold(monkeypatch):
    X, y = _table(120)
    fits = []
    original = GenerativeOverSampler._fitted_synthesizer

    def counting(self, X_, y_, seed):
        synth = original(self, X_, y_, seed)
        fits.append(self.from_cache_)
        return synth

    monkeypatch.setattr(GenerativeOverSampler, "_fitted_synthesizer", counting)
    pipe = make_pipeline(_sampler(), DecisionTreeClassifier(random_state=0))
    grid = {"generativeoversampler__sampling_strategy": [0.5, 0.75, 1.0]}
    GridSearchCV(pipe, grid, cv=2, scoring="balanced_accuracy", refit=False).fit(X, y)
    # 3 candidates x 2 folds: one training per fold, the other candidates from the cache
    assert len(fits) == 6 and fits.count(False) == 2
