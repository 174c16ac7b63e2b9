"""One-hot + min-max encoding of a mixed table, fitted on a training fold only.

Used twice in the benchmark: for the classifiers (fitted on the *resampled* training fold)
and for the baselines that cannot take nominal columns (fitted on the raw training fold).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder


def nominal_columns(X: pd.DataFrame) -> list[str]:
    """Columns that are not numeric (strings, categories, booleans): the nominal ones."""
    return [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]) or X[c].dtype == bool]


class OneHotMinMax:
    """Nominal columns one-hot (unknown categories ignored), numbers min-max scaled to [0, 1].

    Missing values are imputed (median / most frequent) so every classifier can take the
    output; KEEL has none, user tables may.
    """

    def fit(self, X: pd.DataFrame) -> OneHotMinMax:
        nominal = nominal_columns(X)
        numeric = [c for c in X.columns if c not in nominal]
        parts = []
        if numeric:
            parts.append(
                ("num", make_pipeline(SimpleImputer(strategy="median"), MinMaxScaler()), numeric)
            )
        if nominal:
            parts.append(
                (
                    "nom",
                    make_pipeline(
                        SimpleImputer(strategy="most_frequent"),
                        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                    ),
                    nominal,
                )
            )
        self.columns_ = list(X.columns)
        self.transformer_ = ColumnTransformer(parts, sparse_threshold=0.0).fit(
            _as_object(X, nominal)
        )
        self.nominal_ = nominal
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        X = X[self.columns_]
        return np.asarray(self.transformer_.transform(_as_object(X, self.nominal_)), dtype=float)

    def fit_transform(self, X: pd.DataFrame) -> np.ndarray:
        return self.fit(X).transform(X)


def _as_object(X: pd.DataFrame, nominal: list[str]) -> pd.DataFrame:
    """Nominal columns as plain object dtype (sklearn's imputer rejects pandas' str dtype)."""
    if not nominal:
        return X
    X = X.copy()
    for c in nominal:
        X[c] = X[c].astype(object).where(X[c].notna(), np.nan)
    return X
