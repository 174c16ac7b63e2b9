"""The benchmark's one-hot + min-max encoding and its nominal-column rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genbalance.bench.encoding import OneHotMinMax, is_nominal_dtype, nominal_columns
from genbalance.data.kinds import categorical_by_default


def test_nominal_columns_follow_the_library_rule_on_plain_tables():
    X = pd.DataFrame(
        {
            "f": [1.0, 2.0],
            "i": [1, 2],
            "s": ["a", "b"],
            "b": [True, False],
            "c": pd.Categorical([1, 2]),
        }
    )
    assert nominal_columns(X) == ["s", "b", "c"]
    assert all(is_nominal_dtype(X[c].dtype) == categorical_by_default(X[c].dtype) for c in X)


@pytest.mark.parametrize(
    ("values", "nominal"),
    [
        (pd.array([True, None], dtype="boolean"), False),  # library: categorical
        (pd.Series(pd.date_range("2020", periods=2)), True),  # library: refused
        (pd.Series([1 + 1j, 2j]), False),  # library: refused
    ],
)
def test_nominal_columns_keep_their_historical_answers_where_the_library_differs(values, nominal):
    assert nominal_columns(pd.DataFrame({"x": values})) == (["x"] if nominal else [])


def test_one_hot_min_max_encodes_imputes_and_ignores_unknown_categories():
    train = pd.DataFrame({"n": [0.0, np.nan, 10.0], "s": ["a", None, "a"], "t": ["u", "v", "v"]})
    enc = OneHotMinMax().fit(train)
    out = enc.transform(train)
    # n min-max with the median (5) imputed; s: NaN -> most frequent "a"; t one-hot
    assert np.array_equal(out, [[0, 1, 1, 0], [0.5, 1, 0, 1], [1, 1, 0, 1]])
    test = pd.DataFrame({"t": ["w"], "s": ["a"], "n": [20.0]})  # reordered, unseen "w"
    assert np.array_equal(enc.transform(test), [[2.0, 1, 0, 0]])
    assert enc.nominal_ == ["s", "t"] and enc.columns_ == ["n", "s", "t"]
