"""OneHotScaler: the one one-hot + scaling encoder behind encode_pair and OneHotMinMax."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder

from genbalance.encoders.onehot import MISSING_TOKEN, OneHotScaler, normalise_frame, one_hot_scaler


def table(n: int = 80, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(0, 1, n),
            "b": np.where(rng.random(n) < 0.2, np.nan, rng.exponential(2, n)),
            "c": pd.Series(np.where(rng.random(n) < 0.2, None, rng.choice(["x", "y"], n))),
            "k": rng.integers(0, 3, n),
        }
    )


def test_indicator_policy_layout_numbers_then_indicators_then_one_hot():
    X = table()
    out = OneHotScaler(["a", "b"], ["c"]).fit_transform(X)
    # a, b scaled; one indicator (only b has NaN); c one-hot over x, y and the missing token
    assert out.shape == (len(X), 2 + 1 + 3)
    assert np.allclose(out[:, :2].min(0), 0.0) and np.allclose(out[:, :2].max(0), 1.0)
    assert np.array_equal(out[:, 2], X["b"].isna().to_numpy(dtype=float))
    assert np.array_equal(out[:, 3:].sum(1), np.ones(len(X)))
    assert (normalise_frame(X, [], ["c"])["c"] == MISSING_TOKEN).sum() == X["c"].isna().sum()


def test_impute_policy_matches_the_classical_pipeline():
    X, Y = table(seed=1), table(seed=2)
    X_obj = X.assign(c=X["c"].astype(object).where(X["c"].notna(), np.nan))
    Y_obj = Y.assign(c=Y["c"].astype(object).where(Y["c"].notna(), np.nan))
    reference = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), MinMaxScaler()), ["a", "b"]),
            (
                "nom",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                ["c"],
            ),
        ],
        sparse_threshold=0.0,
    ).fit(X_obj)
    enc = OneHotScaler(["a", "b"], ["c"], "minmax", missing="impute").fit(X)
    assert np.array_equal(enc.transform(Y), reference.transform(Y_obj))


def test_unknown_categories_encode_as_zeros():
    X = table()
    enc = OneHotScaler(["a"], ["c"]).fit(X)
    out = enc.transform(X.assign(c="never seen"))
    assert np.array_equal(out[:, 1:], np.zeros((len(X), out.shape[1] - 1)))


def test_refuses_bad_settings_and_unfitted_use():
    with pytest.raises(ValueError, match="scaler must be"):
        OneHotScaler(["a"], [], "nope")
    with pytest.raises(ValueError, match="missing must be one of indicator, impute"):
        OneHotScaler(["a"], [], missing="drop")
    with pytest.raises(RuntimeError, match="not fitted"):
        OneHotScaler(["a"], []).transform(table())


def test_transformer_is_a_cloneable_sklearn_estimator():
    est = one_hot_scaler(["a"], ["c"], "robust")
    X = normalise_frame(table(), ["a"], ["c"])
    assert np.array_equal(clone(est).fit_transform(X), est.fit_transform(X))
