"""One-hot + min-max encoding of a mixed table, fitted on a training fold only.

Used twice in the benchmark: for the classifiers (fitted on the *resampled* training fold)
and for the baselines that cannot take nominal columns (fitted on the raw training fold).
The encoding itself is :class:`genbalance.encoders.onehot.OneHotScaler` (``missing="impute"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from genbalance.data.kinds import categorical_by_default
from genbalance.encoders.onehot import OneHotScaler

__all__ = ["OneHotMinMax", "is_nominal_dtype", "nominal_columns"]


def is_nominal_dtype(dtype: Any) -> bool:
    """Whether the benchmark one-hot encodes a column of this dtype.

    The library's rule (:func:`genbalance.data.kinds.categorical_by_default`), with the
    benchmark's historical answers kept where it differs, so published bench numbers do not
    move (KEEL tables hold only float and text columns, which both rules treat alike):

    - booleans that pandas counts as numbers other than numpy ``bool`` (nullable ``boolean``,
      ``Sparse[bool]``) are min-max scaled here, where the library calls them categorical;
    - dtypes the library refuses are nominal unless pandas counts them as numbers: datetimes,
      timedeltas, periods and intervals are one-hot here, complex and decimal are scaled.
    """
    auto = categorical_by_default(dtype)
    if auto is None:
        return not pdt.is_numeric_dtype(dtype)
    numpy_bool = isinstance(dtype, np.dtype) and dtype.kind == "b"
    if auto and pdt.is_numeric_dtype(dtype) and not numpy_bool:
        return False
    return auto


def nominal_columns(X: pd.DataFrame) -> list[str]:
    """Columns that are not numeric (strings, categories, booleans): the nominal ones."""
    return [c for c in X.columns if is_nominal_dtype(X[c].dtype)]


class OneHotMinMax:
    """Nominal columns one-hot (unknown categories ignored), numbers min-max scaled to [0, 1].

    Missing values are imputed (median / most frequent) so every classifier can take the
    output; KEEL has none, user tables may.
    """

    def fit(self, X: pd.DataFrame) -> OneHotMinMax:
        """Learn the encoding from a training fold only (no test statistics leak in)."""
        nominal = nominal_columns(X)
        numeric = [c for c in X.columns if c not in nominal]
        self.columns_ = list(X.columns)
        self.nominal_ = nominal
        self.encoder_ = OneHotScaler(numeric, nominal, "minmax", missing="impute").fit(X)
        self.transformer_ = self.encoder_.transformer_
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Encode ``X`` (its columns are put in the fit order first)."""
        return self.encoder_.transform(X[self.columns_])

    def fit_transform(self, X: pd.DataFrame) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)
