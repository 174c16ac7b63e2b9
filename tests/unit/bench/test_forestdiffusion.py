"""The ForestDiffusion baseline (``forestdiffusion`` sampler): minority-only fit, exact row count,
dtypes and nominal values kept, seeded, failures raised for the runner's fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("ForestDiffusion")

from genbalance.bench.samplers import (  # noqa: E402 - after the skip
    ForestDiffusionOverSampler,
    _forest_diffusion_model,
    fold_info,
    get_sampler,
)

TINY = dict(n_t=2, duplicate_K=2, n_estimators=5)  # speed only; the benchmark uses the defaults


def _frame(n_neg: int = 32, n_pos: int = 8) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    n = n_neg + n_pos
    X = pd.DataFrame(
        {
            "num": rng.normal(size=n),
            "nom": rng.choice(["a", "b", "c", "d"], size=n),
            "cnt": rng.integers(0, 6, size=n).astype(float),  # whole numbers, stored as floats
        }
    )
    X.loc[n_neg:, "nom"] = ["a", "b", "c"] * (n_pos // 3) + ["a"] * (n_pos % 3)  # no "d"
    return X, np.array(["negative"] * n_neg + ["positive"] * n_pos, dtype=object)


def test_balances_with_minority_rows_only_and_keeps_dtypes():
    X, y = _frame()
    before = np.random.get_state()[1].copy()  # noqa: NPY002 - what the package draws from
    X_res, y_res = ForestDiffusionOverSampler(0, **TINY).fit_resample(X, y)
    assert (np.random.get_state()[1] == before).all()  # noqa: NPY002 - left alone
    assert pd.Series(y_res).value_counts().to_dict() == {"negative": 32, "positive": 32}
    assert len(X_res) == 64 and (y_res[40:] == "positive").all()
    assert X_res.iloc[:40].equals(X)  # real rows kept as they were
    assert X_res.dtypes.to_dict() == X.dtypes.to_dict()
    new = X_res.iloc[40:]
    assert set(new["nom"]) <= {"a", "b", "c"}  # the minority's levels, never the majority's "d"
    assert (new["cnt"] == new["cnt"].round()).all()  # whole-number column stays whole
    lo, hi = X.loc[32:, "num"].min(), X.loc[32:, "num"].max()
    assert new["num"].between(lo, hi).all()  # the package clips to the class's range
    again, _ = ForestDiffusionOverSampler(0, **TINY).fit_resample(X, y)
    assert again.equals(X_res)  # same seed, same rows
    other, _ = ForestDiffusionOverSampler(1, **TINY).fit_resample(X, y)
    assert not other.iloc[40:].equals(new)


def test_constant_nominal_and_two_level_columns_within_the_class():
    X, y = _frame()
    X["one"] = np.where(y == "positive", "p", X["nom"])  # a single level within the minority
    X["two"] = np.where(np.arange(40) % 2 == 0, "u", "v")
    X_res, y_res = ForestDiffusionOverSampler(0, **TINY).fit_resample(X, y)
    new = X_res.iloc[40:]
    assert len(new) == 24 and (new["one"] == "p").all() and set(new["two"]) <= {"u", "v"}


def test_failing_fit_raises_a_clear_error():
    X, y = _frame()
    X.loc[35, "num"] = np.inf  # the package's MinMaxScaler rejects infinite values
    with pytest.raises(RuntimeError, match="ForestDiffusion failed on the 8 rows of class"):
        ForestDiffusionOverSampler(0, **TINY).fit_resample(X, y)


def test_one_hot_decoding_matches_column_prefixes_exactly():
    """Columns 1 and 11 categorical: the package's own decoding also takes 11's dummies for 1."""
    model = object.__new__(_forest_diffusion_model())
    model.cat_indexes = [1, 11]
    before = [str(i) for i in range(12)]
    after = [c for c in before if c not in ("1", "11")] + ["1_1.0", "1_2.0"]
    after += ["11_1.0", "11_2.0", "11_3.0"]
    model.X_names_before, model.X_names_after = pd.Index(before), pd.Index(after)
    X = np.zeros((1, len(after)))
    X[0, after.index("1_2.0")] = 0.9  # column 1: code 2
    X[0, after.index("11_3.0")] = 1.0  # column 11: code 3, the larger dummy
    out = model.clean_onehot_data(X)
    assert out.shape == (1, 12) and out[0, 1] == 2 and out[0, 11] == 3


def test_registered_with_the_package_defaults():
    definition = get_sampler("forestdiffusion")
    assert definition.requires == ("ForestDiffusion",) and definition.input == "raw"
    X, y = _frame()
    sampler = definition.make(3, fold_info(X, y, "positive"))
    assert sampler.get_params() == {
        "seed": 3,
        "diffusion_type": "flow",
        "n_t": 50,
        "duplicate_K": 100,
    }
